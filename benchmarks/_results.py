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


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    return [proc] + proc.children(recursive=True)


def _tree_rss(proc: psutil.Process) -> int:
    """Sum of RSS over ``proc`` and its descendants, in bytes (cheap: read every 0.2 s)."""
    total = 0
    for p in _tree(proc):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _tree_pss(proc: psutil.Process) -> int:
    """Sum of PSS over ``proc`` and its descendants, in bytes; the RSS where PSS is not available.

    RSS counts a page shared by several processes (torch's libraries, loaded by a kernel and each of
    its joblib workers) once per process; PSS splits it between them, so its sum is the memory the
    tree really holds, what a container's limit (Binder's 2 GB) sees. Reading it costs about 10 ms of
    CPU per torch process (``/proc/PID/smaps_rollup``), so it is sampled every 2 s only: read every
    0.2 s it took 14 % of this 2-core machine and slowed what it measured.
    """
    total = 0
    for p in _tree(proc):
        try:
            try:
                total += p.memory_full_info().pss
            except (AttributeError, psutil.AccessDenied):
                total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(cmd: list[str], env: dict | None = None, cwd=None) -> dict:
    """Run ``cmd``; wall seconds and the peak memory of its whole process tree: summed RSS (sampled every
    0.2 s) and summed PSS (every 2 s)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    proc, peak, done = psutil.Process(child.pid), [0, 0], threading.Event()

    def sample():
        tick = 0
        while not done.is_set():
            try:
                peak[0] = max(peak[0], _tree_rss(proc))
                if tick % 10 == 0:
                    peak[1] = max(peak[1], _tree_pss(proc))
            except psutil.Error:
                pass
            tick += 1
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
