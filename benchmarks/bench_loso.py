"""Time, peak memory and CCC of the LOSO experiment with the frozen pretrained backbone and end to end.

Generates and prepares the preset's dataset once (seed 0), then runs, for each
teacher backbone, the command a user runs, in a child process:

    python -m emokd run --preset book --protocol loso --seed 0 --n-jobs 2 --data PREPARED --out DIR \
        --teacher-backbone frozen|train --fresh

``frozen`` (the default): the face CNN emokd ships, pretrained on identities of no
data set, frozen; its embeddings of every frame are computed once (included in the
time: the cache is deleted first) and each fold trains only the teacher's TCN.
``train``: the frame CNN trains end to end in every fold (emokd's earlier teacher).
Both runs are measured in one session, so their ratio is meaningful on a noisy
machine. Targets (issue: a pretrained, frozen face backbone): frozen at least 6x
faster than train and under 90 s with n_jobs 2 on 2 cores; its teacher's mean
concatenated CCC at least the end-to-end teacher's.

Peak memory is the largest sum of resident memory over the child and all its
descendants (joblib's workers), sampled every 0.2 s with psutil.

Run:  python benchmarks/bench_loso.py [--preset book] [--n-jobs 2] [--backbones frozen train]
Writes benchmarks/results/loso_<preset>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from _results import run_measured, write_result

TARGETS = {"speedup_frozen_vs_train": 6.0, "frozen_seconds": 90.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--backbones", nargs="+", default=["frozen", "train"], choices=["frozen", "train"])
    ap.add_argument("--keep", type=Path, help="keep the data and runs in this folder (default: a temporary one)")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = args.keep or Path(tmp)
        data = Path(tmp) / "data"
        subprocess.run([py, "-m", "emokd", "synth", "--preset", args.preset, "--seed", "0", "--out", str(data)],
                       check=True, capture_output=True)
        subprocess.run([py, "-m", "emokd", "prepare", str(data), "--quiet"], check=True, capture_output=True)
        runs = {}
        for backbone in args.backbones:
            shutil.rmtree(data / "prepared" / "embeddings", ignore_errors=True)  # time the cache too
            out = Path(tmp) / f"run_{backbone}"
            cmd = [py, "-m", "emokd", "run", "--preset", args.preset, "--protocol", "loso", "--seed", "0",
                   "--n-jobs", str(args.n_jobs), "--data", str(data / "prepared"), "--out", str(out),
                   "--teacher-backbone", backbone, "--fresh", "--quiet"]
            m = run_measured(cmd)
            res = json.loads((out / "results.json").read_text())
            folds = res["folds"]
            runs[backbone] = {
                "command": " ".join(["python"] + cmd[1:]).replace(str(tmp), "TMP"),
                "seconds": m["seconds"], "peak_rss_mb": m["peak_rss_mb"], "peak_pss_mb": m["peak_pss_mb"],
                "n_folds": res["n_folds"],
                "n_jobs": args.n_jobs,
                "ccc": {k: round(v["ccc"]["mean"], 3) for k, v in res["summary"].items()},
                "ccc_per_trial": {k: round(v["ccc"]["mean"], 3) for k, v in res["summary_per_trial"].items()},
                "teacher_ccc_per_fold": [round(f["metrics"]["teacher"]["concatenated"]["ccc"], 3) for f in folds],
                "teacher_best_epoch": [f["best_epoch"]["teacher"] for f in folds],
                "teacher_epochs_run": [f["epochs_run"]["teacher"] for f in folds],
                "teacher_max_epochs": res["config"]["teacher_train"]["max_epochs"],
                "teacher_best_val_ccc_mean": round(sum(f["best_val_ccc"]["teacher"] for f in folds) / len(folds), 3),
                "fold_seconds_sum": round(sum(f["seconds"] for f in folds), 1),
                "kd_vs_student": {k: res["tests"]["student_kd_vs_student"][k]
                                  for k in ("t_test_p", "wilcoxon_p", "effect_size", "n_folds")}}
            print(f"{backbone}: {m['seconds']:.0f} s, peak {m['peak_rss_mb']} MB (process tree), "
                  f"CCC {runs[backbone]['ccc']}, teacher best epochs {runs[backbone]['teacher_best_epoch']}",
                  flush=True)
    result = {"preset": args.preset, "protocol": "loso", "seed": 0, "cpu_count": psutil.cpu_count(),
              "targets": TARGETS, "runs": runs}
    if {"frozen", "train"} <= set(runs):
        fz, tr = runs["frozen"], runs["train"]
        result["speedup_frozen_vs_train"] = round(tr["seconds"] / fz["seconds"], 2)
        result["teacher_ccc_frozen_minus_train"] = round(fz["ccc"]["teacher"] - tr["ccc"]["teacher"], 3)
        result["targets_met"] = {
            "speedup": result["speedup_frozen_vs_train"] >= TARGETS["speedup_frozen_vs_train"],
            "frozen_seconds": fz["seconds"] <= TARGETS["frozen_seconds"],
            "teacher_ccc": fz["ccc"]["teacher"] >= tr["ccc"]["teacher"]}
        print(f"frozen vs train: {result['speedup_frozen_vs_train']}x faster; teacher CCC "
              f"{fz['ccc']['teacher']} vs {tr['ccc']['teacher']}; targets met: {result['targets_met']}")
    print("wrote", write_result(f"loso_{args.preset}", result))


if __name__ == "__main__":
    main()
