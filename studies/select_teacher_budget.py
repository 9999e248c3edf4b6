"""Choose the frozen-backbone teacher's epoch budget on validation CCC (book LOSO, seed 0); the students' too.

The rule, fixed before looking at the numbers: among the budgets below, take the
cheapest (fewest teacher epochs summed over the 8 folds) whose mean best
validation CCC is within ``TOLERANCE`` (0.005) of the best budget's. Test scores
play no part.

A budget is (``max_epochs``, ``early_stop``), with the learning-rate schedule
unchanged (ReduceLROnPlateau, patience 5). Training is deterministic and neither
field changes an epoch before the run stops, so every budget's run is a prefix of
the longest one's: the script trains each fold's teacher once with the longest
budget (300 epochs, early stop 20), logging its validation CCC per epoch, and
replays the rule of :func:`emokd.training.train.fit` on each log (the best epoch so far is
kept; the run stops at the first epoch more than ``early_stop`` epochs after it,
or at ``max_epochs``). ``--logs DIR`` replays the ``teacher.log.jsonl`` files of a
run folder made with the longest budget instead of training.

``--model students --logs RUN_DIR`` replays the same rule on the logs of both students (``student``
and ``student_kd``) of a run made with the preset's student budget (book: 40 epochs, early stop 8,
the longest that can be replayed from it): how much cheaper a shorter budget would be, and what it
would cost on validation (an analysis; the book preset's students are unchanged).

``--lr-patience 5 2`` adds the learning-rate schedule to the teacher's choice: the teachers alone
(no students) are trained once per plateau patience with the longest budget, every budget is
replayed on each, and the rule runs over all (patience, budget) pairs at once (a patience changes
every epoch after the first decay, so it cannot be replayed: it is trained).

Run:  python studies/select_teacher_budget.py [--preset book] [--logs RUN_DIR] [--model teacher|students]
                                                  [--lr-patience P ...]
Writes studies/results/teacher_budget_<preset>.json (students: student_budget_<preset>.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

from emokd.core.fileio import write_json
from emokd.evaluation.selection import TOLERANCE, cheapest_within, replay

RESULTS = Path(__file__).resolve().parent / "results"

LONGEST = (300, 20)
BUDGETS = [(300, 20), (300, 10), (100, 10), (60, 10), (40, 10), (30, 10), (30, 8), (20, 8), (30, 5)]
#: the students: the book preset's budget is the longest their logs can replay
STUDENTS_LONGEST = (40, 8)
STUDENT_BUDGETS = [(40, 8), (40, 6), (40, 5), (40, 4), (40, 3), (20, 8), (20, 5), (15, 5), (10, 3)]


def _budget_row(logs: list[list[float]], max_epochs: int, early_stop: int, longest=LONGEST) -> dict:
    """One budget replayed on every log: mean best validation CCC, epochs run in all, best epochs."""
    per_fold = [replay(v, max_epochs, early_stop, longest) for v in logs]
    return {"max_epochs": max_epochs, "early_stop": early_stop,
            "mean_best_val_ccc": round(float(np.mean([r["best_val_ccc"] for r in per_fold])), 4),
            "epochs_run": int(sum(r["epochs_run"] for r in per_fold)),
            "best_epochs": [r["best_epoch"] for r in per_fold]}


def _train_logs(preset: str, out: Path) -> list[Path]:
    import os

    os.environ.setdefault("EMOKD_CACHE", str(out / "cache"))
    from emokd.teaching import book
    from emokd.core.config import experiment_config
    from emokd.evaluation.experiment import run_experiment

    _, prepared = book.synthetic_data(preset)
    cfg = experiment_config(preset, "loso", book.SEED)
    cfg = dataclasses.replace(cfg, teacher_train=dataclasses.replace(cfg.teacher_train, max_epochs=LONGEST[0],
                                                                     early_stop=LONGEST[1]))
    run_experiment(prepared, cfg, out / "run", n_jobs=2)
    return sorted((out / "run" / "folds").glob("fold_*/teacher.log.jsonl"))


def _teacher_log(prepared, fold, cfg, emb_path, out) -> Path:
    """Train one fold's teacher alone, as in a run (:func:`emokd.training.fold.train_teacher`, as
    ``select_teacher.py`` does); returns its epoch log."""
    from emokd.training.fold import train_teacher

    train_teacher(prepared, fold, cfg, out, n_threads=1, resume=False, embeddings=emb_path)
    return out / "folds" / f"fold_{fold.fold:02d}" / "teacher.log.jsonl"


def _train_teacher_logs(preset: str, out: Path, lr_patience: int, n_jobs: int = 2) -> list[Path]:
    """Each LOSO fold's teacher trained alone with the longest budget and plateau patience ``lr_patience``."""
    import os

    os.environ.setdefault("EMOKD_CACHE", str(out / "cache"))
    from joblib import Parallel, delayed

    from emokd.teaching import book
    from emokd.core.config import experiment_config
    from emokd.training.datasets import make_folds
    from emokd.nn.embeddings import cached_embeddings
    from emokd.training.folddata import load_trials

    _, prepared = book.synthetic_data(preset)
    cfg = experiment_config(preset, "loso", book.SEED)
    cfg = dataclasses.replace(cfg, teacher_train=dataclasses.replace(
        cfg.teacher_train, max_epochs=LONGEST[0], early_stop=LONGEST[1], lr_patience=lr_patience))
    subjects = {k: t["subject"] for k, t in load_trials(prepared, frames=False).items()}
    folds = make_folds(subjects, "loso", seed=cfg.seed, n_folds=cfg.n_folds, val_fraction=cfg.val_fraction)
    emb = cached_embeddings(prepared, cfg.teacher)
    logs = out / f"p{lr_patience}"
    logs.mkdir(parents=True, exist_ok=True)
    return Parallel(n_jobs=n_jobs)(delayed(_teacher_log)(prepared, f, cfg, emb, logs) for f in folds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="book")
    ap.add_argument("--logs", type=Path, help="a run folder trained with the longest budget (300, 20)")
    ap.add_argument("--model", choices=("teacher", "students"), default="teacher",
                    help="teacher (default) or students (needs --logs: a run with the preset's student budget)")
    ap.add_argument("--lr-patience", type=int, nargs="+", metavar="P",
                    help="teacher: train the teachers alone once per plateau patience P and choose over "
                         "(P, budget) pairs")
    ap.add_argument("--keep", type=Path, help="with --lr-patience: keep the data and logs in this folder")
    args = ap.parse_args()
    if args.lr_patience:
        return _choose_schedule(args)
    students = args.model == "students"
    if students and not args.logs:
        raise SystemExit("--model students: give --logs RUN_DIR (a finished run of the preset)")
    pattern = "fold_*/student*.log.jsonl" if students else "fold_*/teacher.log.jsonl"
    budgets, longest = (STUDENT_BUDGETS, STUDENTS_LONGEST) if students else (BUDGETS, LONGEST)
    with tempfile.TemporaryDirectory() as tmp:
        paths = (sorted((args.logs / "folds").glob(pattern)) if args.logs
                 else _train_logs(args.preset, Path(tmp)))
        if not paths:
            raise SystemExit(f"{args.logs}: no folds/{pattern}")
        logs = [[json.loads(line)["val_ccc"] for line in p.read_text().splitlines() if line] for p in paths]
    if students:  # the logs must be of the longest budget: none may run past it
        if too_long := [str(p) for p, v in zip(paths, logs) if len(v) > longest[0]]:
            raise SystemExit(f"logs longer than {longest[0]} epochs: {too_long}")
    rows = {f"{m}/{e}": _budget_row(logs, m, e, longest) for m, e in budgets}
    chosen = cheapest_within(rows, "epochs_run")
    for k, r in rows.items():
        print(f"max {r['max_epochs']:3d}, early stop {r['early_stop']:2d}: validation CCC {r['mean_best_val_ccc']:.4f}, "
              f"{r['epochs_run']:3d} epochs over {len(logs)} logs{'  <- chosen' if k == chosen else ''}")
    what = "student" if students else "teacher"
    print("wrote", write_json(RESULTS / f"{what}_budget_{args.preset}.json", {
        "preset": args.preset, "model": args.model, "n_logs": len(logs), "logs": [str(p.relative_to(args.logs))
                                                                            for p in paths] if args.logs else None,
        "budgets": rows, "chosen": chosen,
        "rule": f"the fewest {what} epochs among budgets within {TOLERANCE} of the best mean validation CCC",
        "source": str(args.logs) if args.logs else "trained here with the longest budget"}, indent=2))


def _choose_schedule(args) -> None:
    """The rule over (plateau patience, budget) pairs, each patience trained once (teachers only)."""
    if args.model != "teacher" or args.logs:
        raise SystemExit("--lr-patience trains the teachers: not with --model students or --logs")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        logs = {p: [[json.loads(line)["val_ccc"] for line in path.read_text().splitlines() if line]
                    for path in _train_teacher_logs(args.preset, work, p)] for p in args.lr_patience}
    rows = {f"p{p} {m}/{e}": {"lr_patience": p, **_budget_row(fold_logs, m, e)}
            for p, fold_logs in logs.items() for m, e in BUDGETS}
    chosen = cheapest_within(rows, "epochs_run")
    for k, r in rows.items():
        print(f"patience {r['lr_patience']}, max {r['max_epochs']:3d}, early stop {r['early_stop']:2d}: validation CCC "
              f"{r['mean_best_val_ccc']:.4f}, {r['epochs_run']:3d} epochs{'  <- chosen' if k == chosen else ''}")
    print("wrote", write_json(RESULTS / f"teacher_schedule_{args.preset}.json", {
        "preset": args.preset, "model": "teacher", "lr_patience": args.lr_patience, "budgets": rows,
        "chosen": chosen, "rule": f"the fewest teacher epochs among (patience, budget) pairs within {TOLERANCE} of "
                                  "the best mean validation CCC",
        "source": "teachers trained alone here, once per patience, with the longest budget"}, indent=2))


if __name__ == "__main__":
    main()
