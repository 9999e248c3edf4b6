"""Choose the frozen-backbone teacher's epoch budget on validation CCC (book LOSO, seed 0).

The rule, fixed before looking at the numbers: among the budgets below, take the
cheapest (fewest teacher epochs summed over the 8 folds) whose mean best
validation CCC is within ``TOLERANCE`` (0.005) of the best budget's. Test scores
play no part.

A budget is (``max_epochs``, ``early_stop``), with the learning-rate schedule
unchanged (ReduceLROnPlateau, patience 5). Training is deterministic and neither
field changes an epoch before the run stops, so every budget's run is a prefix of
the longest one's: the script trains each fold's teacher once with the longest
budget (300 epochs, early stop 20), logging its validation CCC per epoch, and
replays the rule of :func:`emokd.train.fit` on each log (the best epoch so far is
kept; the run stops at the first epoch more than ``early_stop`` epochs after it,
or at ``max_epochs``). ``--logs DIR`` replays the ``teacher.log.jsonl`` files of a
run folder made with the longest budget instead of training.

Run:  python benchmarks/select_teacher_budget.py [--preset book] [--logs RUN_DIR]
Writes benchmarks/results/teacher_budget_<preset>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
from _results import write_result

LONGEST = (300, 20)
BUDGETS = [(300, 20), (300, 10), (100, 10), (60, 10), (40, 10), (30, 10), (30, 8), (20, 8), (30, 5)]
TOLERANCE = 0.005


def replay(val_ccc: list[float], max_epochs: int, early_stop: int) -> dict:
    """What :func:`emokd.train.fit` keeps and runs under a budget, from the longest run's validation CCCs.

    Exact for budgets no longer than ``LONGEST`` (both fields at most its): such a
    run stops no later than the longest one did, so its log holds every epoch.
    """
    if max_epochs > LONGEST[0] or early_stop > LONGEST[1]:
        raise ValueError(f"budget {(max_epochs, early_stop)} is longer than the logged one {LONGEST}")
    best, best_epoch, run = -np.inf, 0, 0
    for epoch, v in enumerate(val_ccc[:max_epochs], start=1):
        if run and epoch - best_epoch > early_stop:
            break
        run = epoch
        if v > best:
            best, best_epoch = v, epoch
    return {"best_val_ccc": float(best), "best_epoch": best_epoch, "epochs_run": run}


def _train_logs(preset: str, out: Path) -> list[Path]:
    import os

    os.environ.setdefault("EMOKD_CACHE", str(out / "cache"))
    from emokd import book
    from emokd.config import experiment_config
    from emokd.experiment import run_experiment

    _, prepared = book.synthetic_data(preset)
    cfg = experiment_config(preset, "loso", book.SEED)
    cfg = dataclasses.replace(cfg, teacher_train=dataclasses.replace(cfg.teacher_train, max_epochs=LONGEST[0],
                                                                     early_stop=LONGEST[1]))
    run_experiment(prepared, cfg, out / "run", n_jobs=2)
    return sorted((out / "run" / "folds").glob("fold_*/teacher.log.jsonl"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--logs", type=Path, help="a run folder trained with the longest budget (300, 20)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = (sorted((args.logs / "folds").glob("fold_*/teacher.log.jsonl")) if args.logs
                 else _train_logs(args.preset, Path(tmp)))
        if not paths:
            raise SystemExit(f"{args.logs}: no folds/fold_*/teacher.log.jsonl")
        logs = [[json.loads(line)["val_ccc"] for line in p.read_text().splitlines() if line] for p in paths]
    rows = {}
    for m, e in BUDGETS:
        per_fold = [replay(v, m, e) for v in logs]
        rows[f"{m}/{e}"] = {"max_epochs": m, "early_stop": e,
                            "mean_best_val_ccc": round(float(np.mean([r["best_val_ccc"] for r in per_fold])), 4),
                            "epochs_run": int(sum(r["epochs_run"] for r in per_fold)),
                            "best_epochs": [r["best_epoch"] for r in per_fold]}
    top = max(r["mean_best_val_ccc"] for r in rows.values())
    ok = [k for k, r in rows.items() if r["mean_best_val_ccc"] >= top - TOLERANCE]
    chosen = min(ok, key=lambda k: (rows[k]["epochs_run"], -rows[k]["mean_best_val_ccc"]))
    for k, r in rows.items():
        print(f"max {r['max_epochs']:3d}, early stop {r['early_stop']:2d}: validation CCC {r['mean_best_val_ccc']:.4f}, "
              f"{r['epochs_run']:3d} epochs over {len(logs)} folds{'  <- chosen' if k == chosen else ''}")
    print("wrote", write_result(f"teacher_budget_{args.preset}", {
        "preset": args.preset, "n_folds": len(logs), "budgets": rows, "chosen": chosen,
        "rule": f"the fewest teacher epochs among budgets within {TOLERANCE} of the best mean validation CCC",
        "source": str(args.logs) if args.logs else "trained here with the longest budget"}))


if __name__ == "__main__":
    main()
