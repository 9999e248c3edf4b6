"""What computing every fold with one torch thread costs, against the two threads a fold had before.

Until 2026-12-07 a fold took ``cores // n_jobs`` torch threads: on 2 cores, 2 threads with
``--n-jobs 1`` and 1 with ``--n-jobs 2``, so the two gave different numbers (see
:mod:`emokd.core.threads`). Every fold now computes with ``emokd.core.threads.FOLD_THREADS`` = 1. The
schedules that already ran one thread per fold (``--n-jobs`` = cores, the book's ``n_jobs=2``,
Dask workers with one thread each) cost nothing; what can cost is one fold at a time on a
multi-core machine (``--n-jobs 1``, a notebook retraining one fold). This times exactly that:
one fold of the preset (teacher, knowledge, student, KD student, on the frozen backbone's
cached embeddings), trained from scratch in a child process, alternately with 1 and with 2
threads, and prints the median wall time of each and their ratio (pair by pair: these machines
are noisy). It also checks that the 1-thread repeats are identical and says whether 2 threads
give other predictions.

Run:  python benchmarks/bench_threads.py [--preset book] [--repeats 3] [--fold 0]
Writes benchmarks/results/threads_<preset>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import write_result

_CHILD = """
import hashlib, json, sys, time
import emokd.core.threads as threads
threads.FOLD_THREADS = int(sys.argv[1])
from emokd.core.config import experiment_config
from emokd.training.datasets import make_folds
from emokd.training.fold import run_fold
from emokd.training.folddata import load_trials
prepared, out, preset, fold_no = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
cfg = experiment_config(preset, "loso", 0)
subjects = {k: t["subject"] for k, t in load_trials(prepared, frames=False).items()}
fold = make_folds(subjects, "loso", seed=0, n_folds=cfg.n_folds, val_fraction=cfg.val_fraction)[fold_no]
t0 = time.perf_counter()
run_fold(prepared, fold, cfg, out, resume=False)
seconds = time.perf_counter() - t0
digest = hashlib.sha256(open(f"{out}/folds/fold_{fold_no:02d}/predictions.npz", "rb").read()).hexdigest()
print(json.dumps({"seconds": seconds, "predictions_sha256": digest}))
"""


def _fold(py: str, threads: int, prepared: Path, out: Path, preset: str, fold: int) -> dict:
    done = subprocess.run([py, "-c", _CHILD, str(threads), str(prepared), str(out), preset, str(fold)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fold", type=int, default=0)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([py, "-m", "emokd", "synth", "--preset", args.preset, "--seed", "0", "--out", str(data)],
                       check=True, capture_output=True)
        subprocess.run([py, "-m", "emokd", "prepare", str(data), "--quiet"], check=True, capture_output=True)
        prepared = data / "prepared"
        _fold(py, 1, prepared, Path(tmp) / "warmup", args.preset, args.fold)  # also caches the embeddings
        runs = {1: [], 2: []}
        for i in range(args.repeats):
            for n in (1, 2):
                runs[n].append(_fold(py, n, prepared, Path(tmp) / f"t{n}_{i}", args.preset, args.fold))
                print(f"repeat {i}, {n} thread(s): {runs[n][-1]['seconds']:.1f} s", flush=True)
    ratios = [a["seconds"] / b["seconds"] for a, b in zip(runs[1], runs[2])]
    digests = {n: {r["predictions_sha256"] for r in rs} for n, rs in runs.items()}
    result = {"preset": args.preset, "fold": args.fold, "repeats": args.repeats,
              "median_s_1_thread": round(statistics.median(r["seconds"] for r in runs[1]), 2),
              "median_s_2_threads": round(statistics.median(r["seconds"] for r in runs[2]), 2),
              "ratio_1_over_2_pairwise": [round(r, 3) for r in ratios],
              "median_ratio_1_over_2": round(statistics.median(ratios), 3),
              "one_thread_repeats_identical": len(digests[1]) == 1,
              "two_threads_give_other_predictions": digests[1] != digests[2]}
    print(json.dumps(result, indent=1))
    print(f"-> {write_result(f'threads_{args.preset}', result)}")


if __name__ == "__main__":
    main()
