"""Run and analyse the under-training study (results/under-training/README.md declares it; issue 34).

One ``emokd run --preset paper --student-max-epochs 240 --student-budgets 15,60 --handover shuffled`` per
seed on the real feature release, LOSO: every student trains once to its 240-epoch budget, and its 15- and
60-epoch versions are read off that training (``student_e15``, ``student_kd_e15``, ... : the weights,
predictions and scores of runs with ``--student-max-epochs 15`` and ``60``, tested bit for bit in
tests/training/test_fold.py), so a seed costs one teacher and three trainings instead of three teachers and
nine. Runs resume across sessions from the fold records committed under
``results/under-training/runs/<name>/folds/`` (:mod:`study_runner`).

    python studies/under_training.py            # every run not finished, then the analysis
    python studies/under_training.py --list     # the runs, their commands and state
    python studies/under_training.py --analyse  # only the declared tests of what has finished
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from study_runner import StudyRun, drive, study_arguments  # beside this script
from teacher_pays_analysis import Contrast, folds_of, write_analysis

BUDGETS = (15, 60, 240)
SEEDS = tuple(range(8))
KINDS = tuple(f"e{b}" for b in BUDGETS)
#: the students of every run; at a shorter budget E each is read as ``<name>_e<E>``
STUDENTS = ("student", "student_kd", "student_kd_shuffled")

CONTRASTS = (
    Contrast("U1", "e15", "student_kd", "student", "greater",
             "the KD gain at the released budget exceeds the converged student's", minus="e240"),
    Contrast("U2", "e15", "student_kd", "student_kd_shuffled", "greater",
             "the real teacher beats a shuffled one at the released budget"),
    Contrast("U3", "e240", "student_kd", "student", "equivalent", "a converged student gains nothing"),
    Contrast("U4", "e15", "student_kd_shuffled", "student", "greater",
             "a shuffled teacher helps the under-trained student too"),
)


def study_runs() -> list[StudyRun]:
    top, shorter = BUDGETS[-1], ",".join(map(str, BUDGETS[:-1]))
    return [StudyRun(f"real_seed{s}", "real", s, ("--preset", "paper", "--student-max-epochs", str(top),
                                                  "--student-budgets", shorter, "--handover", "shuffled"))
            for s in SEEDS]


def collect(out: Path) -> dict:
    """The rows of :func:`teacher_pays_analysis.collect`, one kind per budget (``e15``, ``e60``, ``e240``), each
    with the models ``student``, ``student_kd``, ``student_kd_shuffled`` read at that budget (and, at the
    full budget, the teacher and the references too)."""
    kinds: dict = {}
    for run in study_runs():
        folds, complete = folds_of(out / "runs" / run.name)
        for b in BUDGETS:
            entry = kinds.setdefault(f"e{b}", {"complete": True, "rows": []})
            entry["complete"] &= complete
            suffix = "" if b == BUDGETS[-1] else f"_e{b}"
            for f in folds:
                row = {"seed": run.seed, "unit": f["test"]["subjects"][0], "fold": f["fold"]}
                names = {m: m for m in f["metrics"] if not suffix and not re.search(r"_e\d+$", m)}
                names.update({m: m + suffix for m in STUDENTS})
                for m, stored in names.items():
                    met = f["metrics"][stored]
                    row[m] = {"per_trial": met["per_trial"]["ccc"], "concatenated": met["concatenated"]["ccc"]}
                entry["rows"].append(row)
    return {"real": kinds} if any(e["rows"] for e in kinds.values()) else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    study_arguments(ap, "under-training")
    args = ap.parse_args(argv)
    return drive(args, study_runs(),
                 lambda out: write_analysis(out, CONTRASTS, KINDS, collect_runs=collect,
                                            title="Is the paper gain knowledge or under-training",
                                            script="studies/under_training.py --analyse"))


if __name__ == "__main__":
    sys.exit(main())
