"""Shared by the benchmarks: run a command measuring time and peak memory; write a result JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).parent / "results"


def write_result(name: str, result: dict) -> Path:
    """Write ``result`` to ``benchmarks/results/<name>.json`` (temporary name, then rename)."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    return out


def _tree_memory(proc: psutil.Process) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) over ``proc`` and its descendants, in bytes.

    RSS counts a page shared by several processes (torch's libraries, loaded by a kernel and each of
    its joblib workers) once per process; PSS splits it between them, so its sum is the memory the
    tree really holds, what a container's limit (Binder's 2 GB) sees. PSS is Linux only: elsewhere
    the RSS is reported for both.
    """
    rss = pss = 0
    for p in [proc] + proc.children(recursive=True):
        try:
            r = p.memory_info().rss
            try:
                q = p.memory_full_info().pss
            except (AttributeError, psutil.AccessDenied):
                q = r
        except psutil.Error:
            continue
        rss, pss = rss + r, pss + q
    return rss, pss


def run_measured(cmd: list[str], env: dict | None = None, cwd=None) -> dict:
    """Run ``cmd``; wall seconds and the peak resident memory of its whole process tree (sampled every 0.2 s)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    proc, peak, done = psutil.Process(child.pid), [0, 0], threading.Event()

    def sample():
        while not done.is_set():
            try:
                rss, pss = _tree_memory(proc)
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = child.communicate()
    done.set()
    th.join()
    if child.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{out}")
    return {"seconds": round(time.perf_counter() - t0, 1), "peak_rss_mb": round(peak[0] / 2**20),
            "peak_pss_mb": round(peak[1] / 2**20), "output": out}
