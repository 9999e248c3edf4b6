"""Run and analyse the under-training study (results/under-training/README.md declares it; issue 34).

Every run is ``emokd run --preset paper --student-max-epochs E --handover shuffled`` on the real
feature release, LOSO, seeds 0-4 x E in {15, 60, 240}, in the declared order (all budgets of one seed,
then the next seed). Runs resume across sessions from the fold records committed under
``results/under-training/runs/<name>/folds/`` (:mod:`study_runner`).

    python studies/under_training.py            # every run not finished, then the analysis
    python studies/under_training.py --list     # the runs, their commands and state
    python studies/under_training.py --analyse  # only the declared tests of what has finished
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from study_runner import StudyRun, drive, study_arguments  # beside this script
from teacher_pays_analysis import Contrast, write_analysis

BUDGETS = (15, 60, 240)
SEEDS = tuple(range(5))
KINDS = tuple(f"e{b}" for b in BUDGETS)

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
    return [StudyRun(f"real_seed{s}_e{b}", "real", s,
                     ("--preset", "paper", "--student-max-epochs", str(b), "--handover", "shuffled"))
            for s in SEEDS for b in BUDGETS]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    study_arguments(ap, "under-training")
    args = ap.parse_args(argv)
    return drive(args, study_runs(),
                 lambda out: write_analysis(out, CONTRASTS, KINDS, title="Is the paper gain knowledge or under-training",
                                            script="studies/under_training.py --analyse"))


if __name__ == "__main__":
    sys.exit(main())
