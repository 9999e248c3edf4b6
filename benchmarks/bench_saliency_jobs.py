"""Saliency of a finished run with its folds one at a time and two at a time, in one session.

``emokd.saliency.run.compute_run_saliency(run, n_jobs=N)``: the same maps either way (a test
checks it, ``tests/saliency/test_run.py::test_folds_in_parallel_give_the_same_saliency``); this
measures the wall-time ratio on this machine (chapter 07 uses n_jobs=2).

Run:  python benchmarks/bench_saliency_jobs.py RUN_DIR [--methods gradient grad_x_input ...]
      (RUN_DIR: a finished run, e.g. the book's emokd-runs/book-book/loso_seed0)
Writes benchmarks/results/parallel_saliency.json (not saliency_*.json: chapter 07 reads those as bench_saliency results).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _results import write_result

from emokd.saliency.attribution import METHODS
from emokd.saliency.run import compute_run_saliency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = ap.parse_args()
    seconds = {}
    for n in (1, 2):
        t0 = time.perf_counter()
        compute_run_saliency(args.run, methods=args.methods, write=False, n_jobs=n)
        seconds[n] = round(time.perf_counter() - t0, 1)
        print(f"n_jobs {n}: {seconds[n]} s", flush=True)
    ratio = round(seconds[1] / seconds[2], 2)
    print(f"speed-up with 2 jobs: {ratio}x")
    print("wrote", write_result("parallel_saliency", {"methods": args.methods, "cpu_count": os.cpu_count(),
                                                  "seconds": {"n_jobs_1": seconds[1], "n_jobs_2": seconds[2]},
                                                  "speedup": ratio}))


if __name__ == "__main__":
    main()
