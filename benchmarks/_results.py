"""Shared by the benchmarks: write a result JSON atomically under benchmarks/results/."""

from __future__ import annotations

import json
import os
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_result(name: str, result: dict) -> Path:
    """Write ``result`` to ``benchmarks/results/<name>.json`` (temporary name, then rename)."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    return out
