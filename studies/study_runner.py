"""Running a declared study's ``emokd run``s so that they resume across sessions (studies/teacher_pays.py,
studies/under_training.py).

While a run works, each finished fold's ``fold.json`` is copied to ``<out>/runs/<name>/folds/`` (commit
those); a later invocation passes that folder as ``--fold-records``, so only the missing folds train. A
finished run leaves its ``results.json`` (with the command and this invocation's wall time) there too, and
is skipped afterwards.
"""

from __future__ import annotations

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
#: the synthetic cohorts: the book generator with this many trials per subject
SYNTH_TRIALS_PER_SUBJECT = 10

log = logging.getLogger("studies")


@dataclasses.dataclass(frozen=True)
class StudyRun:
    """One ``emokd run`` of the study: its name (folder), data (``real`` or a synthetic cohort's seed),
    and the options after ``emokd run``; ``folds``: only these folds (``--folds``, 0-based; empty: every
    fold). A run of some folds writes no results.json: it is finished when each of its folds has its
    record under ``runs/<name>/folds/`` (:meth:`finished`)."""

    name: str
    data: str  # "real" | "synth<seed>"
    seed: int
    options: tuple[str, ...]
    folds: tuple[int, ...] = ()

    def command(self, data_dir: Path, out: Path, n_jobs: int, records: Path | None) -> list[str]:
        cmd = [sys.executable, "-m", "emokd", "run", *self.options, "--protocol", "loso", "--seed", str(self.seed),
               "--data", str(data_dir), "--out", str(out), "--n-jobs", str(n_jobs), "--quiet"]
        if self.folds:
            cmd += ["--folds", ",".join(map(str, self.folds))]
        return cmd + (["--fold-records", str(records)] if records is not None else [])

    def finished(self, folder: Path) -> bool:
        """Whether the run is finished in its study folder ``folder`` (``runs/<name>``): its results.json, or,
        for a run of some folds, a record of each of them."""
        if self.folds:
            return set(self.folds) <= kept_folds(folder / "folds")
        return (folder / "results.json").is_file()


def kept_folds(records: Path) -> set[int]:
    """The fold numbers of the records ``fold_XX.json`` kept in ``records``."""
    return {int(p.stem.removeprefix("fold_")) for p in records.glob("fold_*.json")}


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


def run_one(run: "StudyRun", work: Path, out: Path, n_jobs: int) -> dict | None:
    """Run (or resume) ``run``; its results.json once every fold is finished, else None (always None for a
    run of some folds: its fold records are its result, and its command is kept in ``runs/<name>/study.json``)."""
    final = out / "runs" / run.name / "results.json"
    if run.finished(final.parent):
        return None if run.folds else json.loads(final.read_text())
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
    if run.folds:  # no results.json: the fold records are the run's result
        if run.finished(final.parent):
            write_json(final.parent / "study.json", {"name": run.name, "folds": list(run.folds),
                                                     "command": _shown(cmd), "wall_s_this_invocation":
                                                     round(time.perf_counter() - t0, 1)})
            log.info("%s: its %d folds are finished", run.name, len(run.folds))
        return None
    results = work_run / "results.json"
    if not results.is_file():
        return None
    res = json.loads(results.read_text())
    res["study"] = {"name": run.name, "command": _shown(cmd),
                    "wall_s_this_invocation": round(time.perf_counter() - t0, 1)}
    write_json(final, res)
    for extra in ("results.md",):
        if (work_run / extra).is_file():
            shutil.copyfile(work_run / extra, final.parent / extra)
    log.info("%s: finished (runtime %.0f s)", run.name, res.get("runtime_s", float("nan")))
    return res


def _shown(cmd: list[str]) -> str:
    """The command as a person types it, from the repository root."""
    return " ".join(["python", "-m", "emokd", "run", *cmd[4:]]).replace(str(REPO) + "/", "")


def study_arguments(ap, name: str) -> None:
    """The options every declared study's driver has: ``--n-jobs``, ``--work``, ``--out``, ``--list``,
    ``--analyse`` (folders named after the study)."""
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=REPO / "emokd-runs" / name)
    ap.add_argument("--out", type=Path, default=REPO / "results" / name)
    ap.add_argument("--list", action="store_true", help="list the runs and their state; run nothing")
    ap.add_argument("--analyse", action="store_true", help="only analyse the finished runs")


def drive(args, runs, analyse) -> int:
    """What every declared study's driver does with its parsed :func:`study_arguments`: ``--list`` lists the
    runs; otherwise each run in turn (resuming from its fold records), then ``analyse(args.out)`` over the
    finished ones (``--analyse``: only that)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.list:
        list_runs(runs, args.out)
        return 0
    if not args.analyse:
        for r in runs:
            run_one(r, args.work, args.out, args.n_jobs)
    analyse(args.out)
    return 0


def list_runs(runs, out: Path) -> None:
    """One line per run: its name, its state (done, or how many fold records are kept) and its options."""
    width = max(len(r.name) for r in runs) + 2
    for r in runs:
        folder = out / "runs" / r.name
        kept = kept_folds(folder / "folds")
        state = ("done" if r.finished(folder) else
                 f"{len(kept & set(r.folds))}/{len(r.folds)} folds kept" if r.folds else f"{len(kept)} folds kept")
        folds = f" --folds {','.join(map(str, r.folds))}" if r.folds else ""
        print(f"{r.name:{width}s} {state:14s} emokd run {' '.join(r.options)} --seed {r.seed}{folds}")
