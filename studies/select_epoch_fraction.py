"""Choose, on validation CCC, whether the book preset's epochs should draw a third of the windows.

Why: a training window is 96 label steps with a hop of 32, so each step lies in
three windows, and one pass over the windows shows every step three times. The
book LOSO models peak early (the students at pass 2-8, the teachers at 4-30) and
early stopping then waits 4 (students) or 8 (teachers) whole passes after the
best: about 44 % of the experiment's epochs. An epoch of a random third of the
windows (``TrainConfig.epoch_fraction = 1/3``) shows each step about once;
validation, the learning-rate schedule and early stopping then act three times
per pass, so the wait after the best costs a third.

The hypothesis, stated before the run: with every patience counted in the shorter
epochs scaled by 3 (the same time scale as today's), the shorter epochs reach the
same mean best validation CCC (within the tolerance) in fewer passes.

What it does (book data, LOSO, seed 0, ``n_jobs`` 2, in one session):

1. ``today``: the preset as it is;
2. ``third``: epochs of a third of the windows, with the longest budgets the replay
   needs: teacher at most 90 epochs (30 passes), plateau patience 15, early stop
   24; students at most 120 epochs (40 passes), plateau patience 9, early stop 12;
3. every early stop of ``THIRD_BUDGETS`` replayed on run 2's logs (as
   ``select_teacher_budget.py`` does, with :func:`emokd.evaluation.selection.replay`: a shorter early stop changes no epoch before
   the run stops), for the teacher and for the students (both students' logs
   pooled, as their budget was chosen).

The rule, fixed before the run, per role (teacher, students): among today's budget
and the replayed ones, the fewest passes (epochs x fraction, summed over the logs)
whose mean best validation CCC is within 0.005 of the best row's. Test scores play
no part. The KD students of run 2 distil a teacher trained with the longest
budget: ``--check`` runs the chosen configuration itself afterwards and reports
every model's validation CCC and the time, beside run 1.

``--check``: after the choice, each run fresh, one after the other: the preset as
it was before it (``before``: full-pass epochs; students at most 40, patience 3,
early stop 4; teacher at most 30, patience 5, early stop 8), the rule's choice for
both roles (``rule``) and the preset now (``now``): wall time, epochs, passes, the
seconds of the epochs, every model's mean best validation CCC and mean test CCC.

Amended after the first check (2026-12-03), before the preset changed: passes
undercount what an epoch of a third costs (a validation pass and a checkpoint per
epoch, three times as many). In the check the rule's teacher (epochs of a third,
90/15) spent more seconds in its epochs than the full-pass teacher (30/8), at the
same validation CCC (0.9720 against 0.9719, both within the tolerance), so the
preset's teacher keeps its full passes; the students' choice saved 30 % of their
seconds and is taken. The check's ``now`` is that preset.

Run:  python studies/select_epoch_fraction.py [--keep DIR] [--data PREPARED]
      python studies/select_epoch_fraction.py --check [--keep DIR] [--data PREPARED]
Writes studies/results/epoch_fraction_book.json (--check: epoch_fraction_check_book.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

from emokd.core.fileio import write_json
from emokd.evaluation.selection import TOLERANCE, cheapest_within, replay

RESULTS = Path(__file__).resolve().parent / "results"

FRACTION = 1 / 3
#: (max_epochs, early_stop, lr_patience) of run 2, in epochs of a third of the windows
THIRD_LONGEST = {"teacher": (90, 24, 15), "students": (120, 12, 9)}
#: early stops replayed on run 2's logs (at its max_epochs)
THIRD_BUDGETS = {"teacher": (24, 18, 15, 12, 9, 6), "students": (12, 9, 6, 4, 3)}
LOGS = {"teacher": ("teacher",), "students": ("student", "student_kd")}


def _config(kind: str):
    from emokd.teaching import book
    from emokd.core.config import experiment_config

    if kind == "today":  # the preset when this ran (before its choice)
        return _before()
    cfg = experiment_config("book", "loso", book.SEED)
    t, s = THIRD_LONGEST["teacher"], THIRD_LONGEST["students"]
    return dataclasses.replace(
        cfg, teacher_train=dataclasses.replace(cfg.teacher_train, epoch_fraction=FRACTION, max_epochs=t[0],
                                               early_stop=t[1], lr_patience=t[2]),
        student_train=dataclasses.replace(cfg.student_train, epoch_fraction=FRACTION, max_epochs=s[0],
                                          early_stop=s[1], lr_patience=s[2]))


def _before():
    """The book preset just before this choice (commit ee2a6fb), literally."""
    from emokd.teaching import book
    from emokd.core.config import TrainConfig, experiment_config

    students = TrainConfig(lr=1e-3, lr_min=1e-5, batch_size=8, max_epochs=40, lr_patience=3, early_stop=4,
                           grad_clip=1.0)
    teacher = dataclasses.replace(students, max_epochs=30, early_stop=8, lr_patience=5)
    return dataclasses.replace(experiment_config("book", "loso", book.SEED), student_train=students,
                               teacher_train=teacher)


def _rule():
    """What the rule chose for both roles: the teacher at most 90 epochs of a third, patience 15, early
    stop 15; the students at most 120, patience 9, early stop 6."""
    t = _config("third")
    return dataclasses.replace(t, teacher_train=dataclasses.replace(t.teacher_train, early_stop=15),
                               student_train=dataclasses.replace(t.student_train, early_stop=6))


def _check(prepared, work: Path) -> None:
    from emokd.teaching import book
    from emokd.core.config import experiment_config

    out = {"preset": "book", "protocol": "loso", "seed": 0, "n_jobs": 2, "runs": {}}
    for kind, cfg in (("before", _before()), ("rule", _rule()), ("now", experiment_config("book", "loso", book.SEED))):
        r = _run(prepared, cfg, work / f"check_{kind}")
        row = {"wall_s": r["wall_s"], "test_ccc": r["test_ccc"]}
        for role, logs in r["logs"].items():
            train = cfg.teacher_train if role == "teacher" else cfg.student_train
            row[role] = _row(logs, train.epoch_fraction, train.max_epochs, train.early_stop)
        out["runs"][kind] = row
        print(kind, "wall", row["wall_s"], "s;", {role: (row[role]["mean_best_val_ccc"], row[role]["passes"])
                                                 for role in LOGS}, "test CCC", row["test_ccc"])
    b, n = out["runs"]["before"]["wall_s"], out["runs"]["now"]["wall_s"]
    out["speedup"] = round(b / n, 2)
    print(f"now {n} s against {b} s: {out['speedup']}x")
    print("wrote", write_json(RESULTS / "epoch_fraction_check_book.json", out, indent=2))


def _run(prepared, cfg, out: Path) -> dict:
    from emokd.evaluation.experiment import run_experiment

    t = time.perf_counter()
    res = run_experiment(prepared, cfg, out, n_jobs=2, resume=False, progress=False)
    wall = time.perf_counter() - t
    logs = {}
    for role, names in LOGS.items():
        logs[role] = [[json.loads(line) for line in p.read_text().splitlines() if line]
                      for name in names for p in sorted((out / "folds").glob(f"fold_*/{name}.log.jsonl"))]
    return {"wall_s": round(wall, 1), "logs": logs,
            "test_ccc": {m: res["summary"][m]["ccc"]["mean"] for m in ("teacher", "student", "student_kd")}}


def _row(logs: list[list[dict]], fraction: float, max_epochs: int, early_stop: int) -> dict:
    per = [replay([r["val_ccc"] for r in log], max_epochs, early_stop, (max_epochs, early_stop)) for log in logs]
    seconds = sum(sum(r["seconds"] for r in log[:p["epochs_run"]]) for log, p in zip(logs, per))
    mean = sum(p["best_val_ccc"] for p in per) / len(per)
    return {"epoch_fraction": round(fraction, 4), "max_epochs": max_epochs, "early_stop": early_stop,
            "mean_best_val_ccc": round(mean, 4), "epochs_run": sum(p["epochs_run"] for p in per),
            "passes": round(fraction * sum(p["epochs_run"] for p in per), 1), "epoch_seconds": round(seconds, 1),
            "best_epochs": [p["best_epoch"] for p in per]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, help="keep the data and runs in this folder (default: a temporary one)")
    ap.add_argument("--data", type=Path, help="the book preset's prepared data (default: generated, emokd.teaching.book)")
    ap.add_argument("--check", action="store_true", help="run the preset before the choice and now, one by one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        os.environ.setdefault("EMOKD_CACHE", str(work / "cache"))
        from emokd.teaching import book

        prepared = args.data or book.synthetic_data("book")[1]
        if args.check:
            return _check(prepared, work)
        runs = {kind: _run(prepared, _config(kind), work / kind) for kind in ("today", "third")}
    today = _config("today")
    result = {"preset": "book", "protocol": "loso", "seed": 0, "n_jobs": 2, "tolerance": TOLERANCE,
              "runs": {k: {"wall_s": r["wall_s"], "test_ccc": r["test_ccc"]} for k, r in runs.items()},
              "third_longest": THIRD_LONGEST, "roles": {}}
    for role in LOGS:
        train = today.teacher_train if role == "teacher" else today.student_train
        rows = {f"today {train.max_epochs}/{train.early_stop}": _row(runs["today"]["logs"][role], 1.0,
                                                                     train.max_epochs, train.early_stop)}
        m = THIRD_LONGEST[role][0]
        for e in THIRD_BUDGETS[role]:
            rows[f"third {m}/{e}"] = _row(runs["third"]["logs"][role], FRACTION, m, e)
        chosen = cheapest_within(rows, "passes")
        result["roles"][role] = {"rows": rows, "chosen": chosen}
        for k, r in rows.items():
            print(f"{role:8s} {k:14s} validation CCC {r['mean_best_val_ccc']:.4f}  passes {r['passes']:6.1f}  "
                  f"epoch seconds {r['epoch_seconds']:6.1f}{'  <- chosen' if k == chosen else ''}")
    for k, r in result["runs"].items():
        print(k, "wall", r["wall_s"], "s; test CCC (not used to choose)", r["test_ccc"])
    result["rule"] = (f"per role, the fewest passes among today's budget and the replayed ones within {TOLERANCE} "
                      "of the best mean validation CCC")
    print("wrote", write_json(RESULTS / "epoch_fraction_book.json", result, indent=2))


if __name__ == "__main__":
    main()
