"""Shared by the benchmarks: run a command measuring time and peak memory; write a result JSON."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from emokd.core.fileio import write_json

RESULTS = Path(__file__).parent / "results"


def write_result(name: str, result: dict) -> Path:
    """Write ``result`` to ``benchmarks/results/<name>.json`` (atomically: :func:`emokd.core.fileio.write_json`)."""
    RESULTS.mkdir(exist_ok=True)
    return write_json(RESULTS / f"{name}.json", result, indent=2)


#: a calibration in a child process: the mean time of one training step of the book teacher's TCN
#: (batch 8, 96 steps, 64 inputs), 1 thread, in ms
_STEP = ("import time, torch\n"
         "torch.set_num_threads(1); torch.manual_seed(0)\n"
         "from emokd.core.config import experiment_config\n"
         "from emokd.nn.models import build_model\n"
         "m = build_model(experiment_config('book').teacher).train()\n"
         "opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-3)\n"
         "x, y = torch.randn(8, 96, 64), torch.randn(8, 96, 1)\n"
         "def step():\n"
         "    opt.zero_grad(); out, _ = m(x); ((out - y) ** 2).mean().backward(); opt.step()\n"
         "for _ in range(5): step()\n"
         "t = time.perf_counter()\n"
         "for _ in range(60): step()\n"
         "print((time.perf_counter() - t) / 60 * 1e3)\n")


def step_ms() -> float:
    """This machine's speed now: one training step of the book teacher's TCN, in ms (about 2 s to measure).

    The machines here change speed by up to 2x over a day (CHANGELOG.md): benchmarks record it before
    and after what they time, so that figures from different hours can be compared."""
    out = subprocess.run([sys.executable, "-c", _STEP], capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


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
