"""Time and peak memory of generating and preparing a synthetic preset (default: book).

Runs the two commands of the README's main job in child processes, exactly as a
user would, and reads each child's peak resident memory from the OS:

    python -m emokd synth --preset book --seed 0 --out DIR
    python -m emokd prepare DIR

Run:  python benchmarks/bench_synth_prepare.py [--preset book]
Writes benchmarks/results/synth_prepare_<preset>.json. Target (issue 2): the book
preset within a few minutes and well under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import write_result

_WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = ['emokd'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('emokd', run_name='__main__')\n"
    "except SystemExit as e:\n"
    "    code = e.code\n"
    "else:\n"
    "    code = 0\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run(args) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of ``python -m emokd ARGS`` in a child process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], check=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    peak_kb = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("PEAK_KB")))
    return seconds, peak_kb / 1024


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="book", choices=["smoke", "book", "paper"])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="emokd-bench-"))
    try:
        data = tmp / args.preset
        synth_s, synth_mb = run(["synth", "--preset", args.preset, "--seed", "0", "--out", str(data)])
        prep_s, prep_mb = run(["prepare", str(data), "--quiet"])
        size_mb = sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) / 2**20
        manifest = json.loads((data / "prepared" / "manifest.json").read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "preset": args.preset,
        "n_trials": len(manifest["trials"]),
        "label_steps": sum(t["n_steps"] for t in manifest["trials"].values()),
        "synth_seconds": synth_s,
        "prepare_seconds": prep_s,
        "total_seconds": synth_s + prep_s,
        "peak_rss_mb_synth": synth_mb,
        "peak_rss_mb_prepare": prep_mb,
        "disk_mb": size_mb,
        "cpus": os.cpu_count(),
    }
    print(f"{args.preset}: {result['n_trials']} trials, {result['label_steps']} label steps, {size_mb:.0f} MB on disk")
    print(f"  synth   {synth_s:6.1f} s, peak RSS {synth_mb:6.0f} MB")
    print(f"  prepare {prep_s:6.1f} s, peak RSS {prep_mb:6.0f} MB")
    print(f"  total   {synth_s + prep_s:6.1f} s")
    write_result(f"synth_prepare_{args.preset}", result)
    return result


if __name__ == "__main__":
    main()
