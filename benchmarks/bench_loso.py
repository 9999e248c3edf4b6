"""Time and peak memory of a whole LOSO experiment on a synthetic preset, n_jobs 1 and 2.

Generates and prepares the preset's dataset once (seed 0), then runs, for each
n_jobs, the same command a user runs, in a child process:

    python -m emokd run --preset book --protocol loso --seed 0 --n-jobs N --data PREPARED --out DIR --fresh

Peak memory is the largest sum of resident memory over the child and all its
descendants (joblib's worker processes), sampled every 0.2 s with psutil.
The two runs are measured in one session, so their ratio is meaningful even on a
noisy machine. It also records the CCC summary of each run (they differ only by
thread count per fold).

Run:  python benchmarks/bench_loso.py [--preset book] [--n-jobs 1 2]
Writes benchmarks/results/loso_<preset>.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from _results import run_measured, write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--keep", type=Path, help="keep the data and runs in this folder (default: a temporary one)")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.keep or tmp
        data = Path(tmp) / "data"
        subprocess.run([py, "-m", "emokd", "synth", "--preset", args.preset, "--seed", "0", "--out", str(data)],
                       check=True, capture_output=True)
        subprocess.run([py, "-m", "emokd", "prepare", str(data), "--quiet"], check=True, capture_output=True)
        runs = {}
        for n in args.n_jobs:
            out = Path(tmp) / f"run{n}"
            cmd = [py, "-m", "emokd", "run", "--preset", args.preset, "--protocol", "loso", "--seed", "0",
                   "--n-jobs", str(n), "--data", str(data / "prepared"), "--out", str(out), "--fresh", "--quiet"]
            m = run_measured(cmd)
            res = json.loads((out / "results.json").read_text())
            runs[str(n)] = {"seconds": m["seconds"], "peak_rss_mb": m["peak_rss_mb"], "n_folds": res["n_folds"],
                            "ccc": {k: round(v["ccc"]["mean"], 3) for k, v in res["summary"].items()},
                            "kd_vs_student": {k: res["tests"]["student_kd_vs_student"][k]
                                              for k in ("t_test_p", "wilcoxon_p", "effect_size", "n_folds")}}
            print(f"n_jobs={n}: {m['seconds']:.0f} s, peak {m['peak_rss_mb']} MB (process tree), "
                  f"CCC {runs[str(n)]['ccc']}", flush=True)
    result = {"preset": args.preset, "protocol": "loso", "cpu_count": psutil.cpu_count(), "runs": runs}
    if "1" in runs and "2" in runs:
        result["speedup_2_vs_1"] = round(runs["1"]["seconds"] / runs["2"]["seconds"], 2)
        print(f"speed-up with 2 jobs: {result['speedup_2_vs_1']}x")
    print("wrote", write_result(f"loso_{args.preset}", result))


if __name__ == "__main__":
    main()
