"""The study scripts of ``studies/`` run as a user runs them: ``python studies/<script>.py ...`` in a child
process, with emokd importable from this checkout (no test imports a script)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str, *args, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python studies/<script> ARGS`` from the repository root; its completed process (text output)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(ROOT / "studies" / script), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode:
        raise AssertionError(f"studies/{script} exited with {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def study_script():
    """:func:`run_script`: ``study_script("bench_real.py", "--list", ...)``."""
    return run_script
