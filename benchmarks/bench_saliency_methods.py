"""What each saliency method costs on a finished run, two folds at a time (as chapter 07 computes it).

Each method of ``emokd.saliency.attribution.METHODS`` alone, then the three gradient methods together,
``compute_run_saliency(run, methods=..., n_jobs=2, write=False)``, in one session so that the ratios
compare like with like. Chapter 07 computes live only the gradient methods (what its figures show) and
reads this file for the note before its saliency cell and for what occlusion would add.

Run:  python benchmarks/bench_saliency_methods.py RUN_DIR
      (RUN_DIR: a finished run, e.g. the book's shared run emokd-runs/book-book/loso_seed0)
Writes benchmarks/results/methods_saliency.json (not saliency_*.json: chapter 07 reads those as bench_saliency
results).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _results import step_ms, write_result

from emokd.saliency.attribution import GRADIENT_METHODS, METHODS
from emokd.saliency.run import compute_run_saliency


def timed(run: Path, methods, n_jobs: int) -> float:
    t0 = time.perf_counter()
    compute_run_saliency(run, methods=methods, write=False, n_jobs=n_jobs)
    return round(time.perf_counter() - t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    before = step_ms()
    seconds = {}
    for method in METHODS:
        seconds[method] = timed(args.run, (method,), args.n_jobs)
        print(f"{method}: {seconds[method]} s", flush=True)
    seconds["gradient_methods"] = timed(args.run, GRADIENT_METHODS, args.n_jobs)
    print(f"{' + '.join(GRADIENT_METHODS)} together: {seconds['gradient_methods']} s", flush=True)
    ratio = round(seconds["occlusion"] / seconds["gradient_methods"], 2)
    print(f"occlusion / the three gradient methods together: {ratio}")
    print("wrote", write_result("methods_saliency", {
        "run": str(args.run), "n_jobs": args.n_jobs, "cpu_count": os.cpu_count(), "seconds": seconds,
        "gradient_methods": list(GRADIENT_METHODS), "occlusion_over_gradient_methods": ratio,
        "step_ms_before_after": [before, step_ms()]}))


if __name__ == "__main__":
    main()
