"""Each chapter executed on its own from an empty cache, as Colab runs it: its time and peak memory.

Colab gives every notebook a fresh runtime: nothing precomputed, the data generated
inside the notebook. For every chapter this runs, in a new process and with a new,
empty emokd cache (``EMOKD_CACHE=<tmp>/cache_<chapter>``):

    python -c <execute book/<chapter>.ipynb with nbclient, as Jupyter Book's execution does>

from the edition's ``book/`` folder (as the build and the Colab setup cell do). ``--edition``:
``student`` (default: what a Colab launch button opens, the chapters without their solution
cells, ``book/_tools/editions.py``) or ``instructor`` (the chapters as committed, every
solution executed, as the book build does). Target (issue:
a pretrained, frozen face backbone): every chapter under 150 s on 2 cores, on the
``book`` preset. The Colab setup cell itself (clone + pip install) is skipped, as
emokd is installed here.

Run:  python benchmarks/bench_chapters.py [--preset book] [--edition student] [--chapters 04_teacher ...]
Writes benchmarks/results/chapters_<preset>_<edition>.json (``_partial`` with --chapters) after every
chapter: each chapter measured replaces its entry in the file, so a chapter that reads the file (10, its
table of times) sees the figures of the chapters measured before it in the same run, and a stopped run
keeps what it measured (``measured_in_this_run`` names them; ``complete`` once every chapter is).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import psutil
from _results import run_measured, step_ms, write_result

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 150.0
# nbclient (what Jupyter Book's execution uses; nbconvert is not a dependency): run every cell in a
# fresh kernel started in book/, stop at the first error
EXECUTE = ("import sys, nbformat, nbclient\n"
           "nb = nbformat.read(sys.argv[1], as_version=4)\n"
           "nbclient.NotebookClient(nb, timeout=1200, kernel_name='python3',\n"
           "                        resources={'metadata': {'path': '.'}}).execute()\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--edition", choices=("student", "instructor"), default="student",
                    help="student (default: what Colab opens) or instructor (every solution executed)")
    ap.add_argument("--chapters", nargs="+", help="chapter names without .ipynb (default: every chapter)")
    args = ap.parse_args()
    chapters = args.chapters or sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]*_*.ipynb"))
    name = f"chapters_{args.preset}_{args.edition}" + ("_partial" if args.chapters else "")
    path = ROOT / "benchmarks" / "results" / f"{name}.json"
    before_run = json.loads(path.read_text()).get("chapters", {}) if path.is_file() and not args.chapters else {}
    result = {"preset": args.preset, "edition": args.edition, "cpu_count": psutil.cpu_count(),
              "target_seconds": TARGET_S, "chapters": dict(before_run), "measured_in_this_run": [],
              "complete": False}
    sys.path.insert(0, str(ROOT / "book" / "_tools"))
    from editions import write_edition
    with tempfile.TemporaryDirectory() as tmp:
        book = write_edition(Path(tmp) / "editions", args.edition) / "book"
        for chapter in chapters:
            env = dict(os.environ, EMOKD_PRESET=args.preset, EMOKD_CACHE=str(Path(tmp) / f"cache_{chapter}"))
            cmd = [sys.executable, "-c", EXECUTE, f"{chapter}.ipynb"]
            before = step_ms()
            m = run_measured(cmd, env=env, cwd=book)
            speed = [before, step_ms()]
            result["chapters"][chapter] = {"seconds": m["seconds"], "peak_rss_mb": m["peak_rss_mb"],
                                           "peak_pss_mb": m["peak_pss_mb"], "step_ms_before_after": speed,
                                           "within_target": m["seconds"] <= TARGET_S}
            result["measured_in_this_run"].append(chapter)
            result["complete"] = set(result["measured_in_this_run"]) >= set(chapters)
            secs = [c["seconds"] for c in result["chapters"].values()]
            result["slowest_seconds"] = max(secs)
            result["all_within_target"] = all(c["within_target"] for c in result["chapters"].values())
            write_result(name, result)
            print(f"{chapter}: {m['seconds']:.0f} s, peak {m['peak_rss_mb']} MB RSS, {m['peak_pss_mb']} MB PSS "
                  f"(machine: a teacher step {speed[0]} ms before, {speed[1]} ms after)", flush=True)
    print(f"slowest chapter {result['slowest_seconds']:.0f} s; all under {TARGET_S:.0f} s: "
          f"{result['all_within_target']}")
    print("wrote", path)

if __name__ == "__main__":
    sys.exit(main())
