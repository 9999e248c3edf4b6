"""Run the study "where a teacher pays" (results/teacher-pays/README.md declares it; issue 33).

Every run is an ``emokd run`` (the command is in the run's results.json and printed here), in the
order the declaration fixes. Runs are resumable across sessions: while a run works, each finished
fold's ``fold.json`` is copied to ``results/teacher-pays/runs/<name>/folds/fold_XX.json`` (commit
them); a later invocation passes that folder as ``--fold-records``, so only the missing folds are
trained. A finished run leaves its ``results.json`` there too, and is skipped afterwards.

    python studies/teacher_pays.py                  # every run not finished, real data first
    python studies/teacher_pays.py --only real      # or synthetic
    python studies/teacher_pays.py --list           # the runs, their commands and state

The analysis (the declared tests) is :mod:`studies.teacher_pays_analysis` (run by ``--analyse``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from study_runner import StudyRun, drive, study_arguments  # beside this script

HANDOVER = "output,shuffled,self"
#: the synthetic cohorts (data seeds; 10 trials per subject: study_runner.SYNTH_TRIALS_PER_SUBJECT)
SYNTH_COHORTS = tuple(range(8))


def study_runs() -> list[StudyRun]:
    """Every run, in the declared order: real data (regime 1 p = 0.1, regime 2, p = 0.25, p = 1; seed 0,
    then seed 1), then the synthetic cohorts (the same four, cohort by cohort)."""
    def four(data: str, seed: int, subject_norm: bool) -> list[StudyRun]:
        r1 = ("--preset", "book", *(("--normalisation", "subject") if subject_norm else ()), "--handover", HANDOVER)
        tag = f"{data}_seed{seed}"
        return [StudyRun(f"{tag}_p0.1", data, seed, (*r1, "--labelled-fraction", "0.1")),
                StudyRun(f"{tag}_calibration", data, seed,
                         ("--preset", "book", "--handover", HANDOVER, "--calibration", "0.5")),
                StudyRun(f"{tag}_p0.25", data, seed, (*r1, "--labelled-fraction", "0.25")),
                StudyRun(f"{tag}_p1", data, seed, r1)]
    runs = [r for seed in (0, 1) for r in four("real", seed, subject_norm=True)]
    runs += [r for c in SYNTH_COHORTS for r in four(f"synth{c}", c, subject_norm=False)]
    return runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("real", "synthetic"), help="only these runs")
    study_arguments(ap, "teacher-pays")
    args = ap.parse_args(argv)
    runs = [r for r in study_runs() if args.only is None or (r.data == "real") == (args.only == "real")]

    def analyse(out):
        from teacher_pays_analysis import write_analysis  # beside this script; only when analysing

        write_analysis(out)

    return drive(args, runs, analyse)


if __name__ == "__main__":
    sys.exit(main())
