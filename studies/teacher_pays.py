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
import dataclasses
import json
import logging
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from emokd.core.fileio import write_json
from emokd.training.runs import copy_fold_records

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "mahnob-hci"
HANDOVER = "output,shuffled,self"
#: the synthetic cohorts: the book generator with 10 trials per subject (see the declaration)
SYNTH_TRIALS_PER_SUBJECT = 10
SYNTH_COHORTS = tuple(range(8))

log = logging.getLogger("teacher_pays")


@dataclasses.dataclass(frozen=True)
class StudyRun:
    """One ``emokd run`` of the study: its name (folder), data (``real`` or a synthetic cohort's seed),
    and the options after ``emokd run``."""

    name: str
    data: str  # "real" | "synth<seed>"
    seed: int
    options: tuple[str, ...]

    def command(self, data_dir: Path, out: Path, n_jobs: int, records: Path | None) -> list[str]:
        cmd = [sys.executable, "-m", "emokd", "run", *self.options, "--protocol", "loso", "--seed", str(self.seed),
               "--data", str(data_dir), "--out", str(out), "--n-jobs", str(n_jobs), "--quiet"]
        return cmd + (["--fold-records", str(records)] if records is not None else [])


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


def synthetic_cohort(work: Path, seed: int) -> Path:
    """The prepared folder of synthetic cohort ``seed`` (generated and prepared once)."""
    from emokd.core.config import synth_config
    from emokd.io.prepare import prepare_dataset
    from emokd.synth.synthetic import ensure_generated

    cfg = synth_config("book")
    cfg = dataclasses.replace(cfg, trials_per_subject={s: SYNTH_TRIALS_PER_SUBJECT for s in cfg.trials_per_subject})
    root = work / f"cohort{seed}"
    ensure_generated(root / "data", cfg, seed=seed, progress=False)
    prepared = root / "prepared"
    if not (prepared / "manifest.json").is_file():
        prepare_dataset(root / "data", prepared, progress=False)
    return prepared


def run_one(run: StudyRun, work: Path, out: Path, n_jobs: int) -> dict | None:
    """Run (or resume) ``run``; its results.json once every fold is finished, else None."""
    final = out / "runs" / run.name / "results.json"
    if final.is_file():
        return json.loads(final.read_text())
    data_dir = REAL if run.data == "real" else synthetic_cohort(work, int(run.data.removeprefix("synth")))
    records = out / "runs" / run.name / "folds"
    work_run = work / run.name
    cmd = run.command(data_dir, work_run, n_jobs, records if any(records.glob("fold_*.json")) else None)
    log.info("%s: %s", run.name, " ".join(cmd))
    stop = threading.Event()

    def watch():
        while not stop.wait(30):
            if n := len(copy_fold_records(work_run, records)):
                log.info("%s: %d more fold(s) kept in %s", run.name, n, records)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, check=False)
    finally:
        stop.set()
        watcher.join()
        len(copy_fold_records(work_run, records))
    if proc.returncode != 0:
        log.error("%s: emokd run exited with %d", run.name, proc.returncode)
        return None
    results = work_run / "results.json"
    if not results.is_file():
        return None
    res = json.loads(results.read_text())
    res["study"] = {"name": run.name, "command": " ".join(["python", "-m", "emokd", "run", *cmd[4:]]).replace(
        str(REPO) + "/", ""), "wall_s_this_invocation": round(time.perf_counter() - t0, 1)}
    write_json(final, res)
    for extra in ("results.md",):
        if (work_run / extra).is_file():
            shutil.copyfile(work_run / extra, final.parent / extra)
    log.info("%s: finished (runtime %.0f s)", run.name, res.get("runtime_s", float("nan")))
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("real", "synthetic"), help="only these runs")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=REPO / "emokd-runs" / "teacher-pays")
    ap.add_argument("--out", type=Path, default=REPO / "results" / "teacher-pays")
    ap.add_argument("--list", action="store_true", help="list the runs and their state; run nothing")
    ap.add_argument("--analyse", action="store_true", help="only analyse the finished runs")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    runs = [r for r in study_runs() if args.only is None or (r.data == "real") == (args.only == "real")]
    if args.list:
        for r in runs:
            state = ("done" if (args.out / "runs" / r.name / "results.json").is_file() else
                     f"{len(list((args.out / 'runs' / r.name / 'folds').glob('fold_*.json')))} folds kept")
            print(f"{r.name:28s} {state:14s} emokd run {' '.join(r.options)} --seed {r.seed}")
        return 0
    if not args.analyse:
        for r in runs:
            run_one(r, args.work, args.out, args.n_jobs)
    from teacher_pays_analysis import write_analysis  # noqa: E402 (beside this script)

    write_analysis(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
