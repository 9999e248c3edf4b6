"""Time and peak memory of a full book build from scratch (every chapter executed).

Runs, in a child process, what the README's main job runs:

    EMOKD_PRESET=<preset> jupyter-book build . --path-output <tmp>

with an empty execution cache and an empty emokd cache (EMOKD_CACHE=<tmp>/cache),
so every chapter executes and the shared experiment is trained. Peak memory is
the largest sum of resident memory over the build and all its descendants (the
Jupyter kernels and joblib workers), sampled every 0.2 s. Budget (issue: the
book): the book preset within 15 min and 2 GB on 2 cores. Target (issue: a
pretrained, frozen face backbone): within 5 min and 1.5 GB. Both limits are checked on the
summed RSS (a shared page counted once per process, the conservative figure); the summed PSS
(``peak_pss_mb``, each shared page split between its processes) is what a container sees.

The build executes the chapters two at a time (``book/_ext/execute_side_by_side.py``, configured in
``_config.yml``), so ``notebook_seconds`` (each chapter's execution, from the jupyter-cache database)
overlap and add up to more than ``seconds``.

Run:  python benchmarks/bench_book.py [--preset book] [--keep DIR]
Writes benchmarks/results/book_build_<preset>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import psutil
from _results import run_measured, step_ms, write_result

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {"seconds": 15 * 60, "peak_rss_mb": 2048}
TARGET = {"seconds": 5 * 60, "peak_rss_mb": 1536}


def _within(m: dict, limits: dict) -> bool:
    return m["seconds"] <= limits["seconds"] and m["peak_rss_mb"] <= limits["peak_rss_mb"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--keep", type=Path, help="build in this (empty) folder and keep it, e.g. to reuse its "
                    "experiment (DIR/cache) afterwards; default: a temporary folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:
            if args.keep.exists() and any(args.keep.iterdir()):
                ap.error(f"--keep {args.keep}: not empty (the build must start from scratch)")
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = str(args.keep)
        env = dict(os.environ, EMOKD_PRESET=args.preset, EMOKD_CACHE=str(Path(tmp) / "cache"))
        jb = shutil.which("jupyter-book") or "jupyter-book"
        before = step_ms()
        m = run_measured([jb, "build", str(ROOT), "--path-output", str(Path(tmp) / "out")], env=env, cwd=ROOT)
        speed = [before, step_ms()]
        reports = sorted(p.name for p in (Path(tmp) / "out" / "_build" / "html" / "reports").rglob("*.log"))
        timings = _cell_timings(Path(tmp) / "out" / "_build" / ".jupyter_cache")
    result = {"preset": args.preset, "cpu_count": psutil.cpu_count(), "seconds": m["seconds"],
              "peak_rss_mb": m["peak_rss_mb"], "peak_pss_mb": m["peak_pss_mb"],
              "budget": BUDGET, "within_budget": _within(m, BUDGET),
              "target": TARGET, "within_target": _within(m, TARGET),
              "failed_notebooks": reports, "notebook_seconds": timings,
              "step_ms_before_after": speed}  # this machine's speed (benchmarks/_results.step_ms)
    print(json.dumps({k: v for k, v in result.items()}, indent=1))
    print("wrote", write_result(f"book_build_{args.preset}", result))


def _cell_timings(cache: Path) -> dict:
    """Execution time of every chapter, from the jupyter-cache database."""
    try:
        from jupyter_cache import get_cache

        return {Path(r.uri).name: round(r.data.get("execution_seconds", float("nan")), 1)
                for r in get_cache(cache).list_cache_records()}
    except Exception as err:  # timing detail only: never fail the benchmark for it
        return {"error": str(err)}


if __name__ == "__main__":
    main()
