"""The experiment: teacher -> knowledge -> student -> KD student, fold by fold.

For every fold of the protocol (:func:`emokd.training.datasets.make_folds`; with scarce labels, a
new person's calibration or sessions without labels in the data (``prepare --unlabelled``; each fold's
count under ``unlabelled_data`` in results.json), :func:`emokd.training.regimes.plan_folds`):

1. **teacher** -- frame CNN + TCN on the face frames of the training trials
   (early stopping on the validation trials). With a frozen pretrained backbone
   (the default presets, :mod:`emokd.nn.backbone`) the CNN's embeddings of every
   frame are computed once per data set before any fold
   (:mod:`emokd.nn.embeddings`) and the fold trains only the TCN and head on them;
   with ``backbone="train"`` the CNN trains end to end in every fold;
2. **knowledge** -- the frozen teacher's TCN features for every window of the
   training and validation trials (never the test trials), cached as a named
   step: ``knowledge.npz`` + ``knowledge.json`` (the config and the teacher file
   that produced it);
3. **student** -- TCN on the 192 band-power features, 1 - CCC loss;
4. **student_kd** -- the same student from the same initial weights, trained on
   1 - CCC + kd_weight * L1(teacher features, student features); plus one
   ``student_kd_w<w>`` per weight of ``cfg.kd_sweep``;
5. **student_kd_selected** (with ``cfg.kd_select``) -- the student of the grid's
   KD weight (0 = the plain student) with the best validation CCC.

Inputs are normalised as ``cfg.normalisation`` / ``cfg.face_normalisation`` say
(:func:`emokd.training.folddata.fold_inputs`). Every model is scored on the fold's test trials
(concatenated and per trial), next to three untrained reference points
(:func:`emokd.training.folddata.reference_predictions`) and two ridge regressions on the same inputs and
normalisation (:mod:`emokd.evaluation.linear`; their alphas under ``ridge`` per fold); over
folds, mean and SD per model and metric, and KD student vs student by paired
t-test and Wilcoxon signed-rank test. On synthetic data, whose prepared trials
hold the latent valence that the labels annotate, every model and reference is
also scored against the latent trace on the same test steps (``metrics_latent``
per fold; ``summary_latent``, ``summary_latent_per_trial`` and ``tests_latent``
over folds): it shows whether a model learned the state or the annotators'
noise. Folds run in parallel with joblib; inside
``joblib.parallel_config(backend="dask")`` (or ``backend="dask"``) they run on a
Dask cluster (the workers must see ``prepared_dir`` and ``out``).

One fold is :func:`emokd.training.fold.run_fold`; what it reads and its untrained references
are :mod:`emokd.training.folddata`; the finished run folder is read back by :mod:`emokd.training.runs`.

Output folder::

    results.json              config, data_path (the folder read), data_fingerprint (its content,
                              :func:`~emokd.training.runfolder.data_fingerprint`), folds (partitions,
                              metrics, best epochs), summary, tests
    .emokd.json, .emokd.lock  what the folder's run is computed from; the lock held while it runs
    folds/fold_XX/            teacher.pt, student.pt, student_kd.pt (state dict + config),
                              *.log.jsonl (per epoch), *.ckpt (resumable), knowledge.*,
                              predictions.npz, fold.json (this fold's result; its data_id is the
                              fingerprint's short id)
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from pathlib import Path

from ..core.config import ExperimentConfig
from ..training.regimes import plan_folds
from ..errors import EmokdError
from ..core.fileio import versions, write_json
from ..core.memory import call_and_release
from ..training.fold import as_json, check_compute, finished_fold, model_names, run_fold
from ..training.folddata import REFERENCES, run_trials
from .linear import reference_metrics
from ..training.runfolder import check_claim, check_same, claim, data_fingerprint, fingerprint_id, record, run_lock
from ..core.threads import compute_record, fold_threads
from .stats import paired_tests, summarise
from ..core.device import resolve_device
from ..io.prepare import prepared_lock
from ..nn.embeddings import cached_embeddings
from ..training.runs import FORMAT, check_fold_metrics, missing_outputs, read_fold_record, read_json, upgrade_results

log = logging.getLogger(__name__)


def _same_budget_student(model: str, models) -> str:
    """The plain student ``model`` is compared with: at a shorter budget (``<student>_e<E>``,
    ``cfg.student_budgets``) the plain student at that budget, else (and for ``student_e<E>`` itself)
    ``student``."""
    match = re.fullmatch(r".+(_e\d+)", model)
    if match and model != "student" + match.group(1) and "student" + match.group(1) in models:
        return "student" + match.group(1)
    return "student"


def summarise_folds(folds: list[dict], models: list[str], references=(), *, field: str = "metrics",
                    prefix: str = "") -> dict:
    """``summary`` (concatenated), ``summary_per_trial`` (models and references) and the paired ``tests``.

    ``field="metrics_latent"``, ``prefix="_latent"``: the same of the scores against the latent valence
    (``summary_latent``, ``summary_latent_per_trial``, ``tests_latent``).
    """
    out = {}
    for scheme, key in (("concatenated", "summary"), ("per_trial", "summary_per_trial")):
        key = key.replace("summary", "summary" + prefix)
        out[key] = {m: {metric: summarise([f[field][m][scheme][metric] for f in folds])
                        for metric in ("rmse", "pcc", "ccc")} for m in [*models, *references]}
    ccc = {m: [f[field][m]["concatenated"]["ccc"] for f in folds] for m in models}
    tests = {"student_kd_vs_student": paired_tests(ccc["student_kd"], ccc["student"],
                                                   names=("student_kd", "student")),
             "teacher_vs_student": paired_tests(ccc["teacher"], ccc["student"], names=("teacher", "student"))}
    for m in models[3:]:
        base = _same_budget_student(m, ccc)
        tests[f"{m}_vs_{base}"] = paired_tests(ccc[m], ccc[base], names=(m, base))
    for t in tests.values():
        t["metric"] = "ccc (concatenated)" + (" against the latent valence" if prefix else "")
    out["tests" + prefix] = tests
    return out


def run_experiment(prepared_dir, cfg: ExperimentConfig, out, *, n_jobs: int = 1, backend: str | None = None,
                   progress: bool = True, resume: bool = True, folds=None, fold_records=None) -> dict:
    """Run every fold and write ``out/results.json``; returns the results dict.

    Parameters
    ----------
    prepared_dir : path, a folder written by :func:`emokd.io.prepare.prepare_dataset`
    cfg : ExperimentConfig
    out : path, the run folder
    n_jobs : int, folds run side by side (joblib); each computes with
        :data:`emokd.core.threads.FOLD_THREADS` torch threads, so ``n_jobs`` (like the backend, the
        core count and the BLAS settings) changes the run time, never a number: ``results.json``
        (but for ``runtime_s`` and ``n_jobs``), the predictions and the model files are the same
    backend : str, optional, a joblib backend ("loky", "dask", ...); default: joblib's
    resume : bool
        Reuse finished folds and checkpoints of an interrupted run of the same
        configuration on the same data (compared by content: the data's
        :func:`~emokd.training.runfolder.data_fingerprint`). A run folder holding another
        configuration's run, a run on other data, or files emokd did not write is
        refused (EmokdError naming what changed); ``resume=False`` starts over.
        ``out/.emokd.lock`` keeps a second run out of the folder while this one runs.
    folds : iterable of int, optional
        Run only these folds (their numbers, 0-based), e.g. one share of a run
        split over machines or sessions. When every fold of the protocol is then
        finished (here or in ``fold_records``), ``results.json`` is written as
        usual; otherwise nothing is, and the returned dict is a progress report:
        ``{"partial": True, "done": [...], "missing": [...], ...}``.
    fold_records : path, optional
        A folder of finished folds' results computed elsewhere (``fold_XX.json``:
        copies of a run folder's ``folds/fold_XX/fold.json``). A fold with a
        record is not run here; its record enters ``results.json`` as it is,
        after its configuration and data fingerprint are checked against this
        run's (EmokdError naming the file otherwise). Its model and prediction
        files stay where it ran: ``results.json`` lists such folds under
        ``imported_folds``.
    """
    out = Path(out)
    check_claim(out, fresh=not resume)  # a folder refused gets no lock file either
    out.mkdir(parents=True, exist_ok=True)
    # the prepared folder is held shared for the whole run: every fold reloads its trial files, which
    # must stay those of the fingerprint taken at the start (a `prepare` into it is refused meanwhile)
    reading = prepared_lock(prepared_dir, shared=True) if cfg.data_format == "prepared" else contextlib.nullcontext()
    with run_lock(out), reading:
        return _run_experiment(prepared_dir, cfg, out, n_jobs=n_jobs, backend=backend, progress=progress,
                               resume=resume, only=None if folds is None else sorted({int(f) for f in folds}),
                               fold_records=fold_records)


def fold_record_files(folder) -> list[Path]:
    """The ``fold_XX.json`` files of a fold-records folder, sorted; EmokdError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EmokdError(f"fold records {folder}: no such folder")
    paths = sorted(folder.glob("fold_*.json"))
    if not paths:
        raise EmokdError(f"fold records {folder}: no fold_XX.json in it (copies of a run folder's "
                         "folds/fold_XX/fold.json)")
    return paths


def read_fold_records(folder, cfg: ExperimentConfig, data_fingerprint: dict) -> dict[int, dict]:
    """fold number -> the finished fold's result (``folder/fold_XX.json``, in the current layout:
    :func:`emokd.training.runs.read_fold_record`), each checked to be this configuration's on this data
    (:func:`emokd.training.runfolder.check_same`; EmokdError naming the file)."""
    cfg_json, data_id = as_json(cfg), fingerprint_id(data_fingerprint)
    records = {}
    for path in fold_record_files(folder):
        rec = read_fold_record(path)
        check_fold_metrics(rec, model_names(cfg), str(path))  # what results.json takes from it
        check_same(path, rec.get("config"), rec.get("data_id"), cfg_json, data_id)
        check_compute(path, rec.get("compute"), cfg)
        if not isinstance(rec.get("fold"), int) or path.name != f"fold_{rec['fold']:02d}.json":
            raise EmokdError(f"{path}: field 'fold' is {rec.get('fold')!r}, not the number in the file's name")
        records[rec["fold"]] = rec
    return records


def _run_experiment(prepared_dir, cfg: ExperimentConfig, out: Path, *, n_jobs, backend, progress, resume, only,
                    fold_records) -> dict:
    # The run folder is emokd's and holds this configuration's run on this data, or it is refused
    marker = claim(out, fresh=not resume)
    cfg_json, data = as_json(cfg), data_fingerprint(prepared_dir, cfg.data_format)
    if "config" in marker:
        check_same(out, marker["config"], marker.get("data_fingerprint"), cfg_json, data)
    # the time of earlier segments of this run (stopped by an error or Ctrl-C), so that runtime_s is the whole
    before = float(marker.get("seconds_before", 0.0)) if resume and "config" in marker else 0.0
    record(out, cfg_json, data, seconds_before=before)
    done = out / "results.json"
    if resume and done.exists():  # a finished run: returned as it is (its runtime stays the real one)
        old = upgrade_results(read_json(done))  # a finished run of an older layout is read as today's
        imported = set(old.get("imported_folds", []))
        if (old.get("config") == cfg_json and old.get("data_fingerprint") == data and old.get("format") == FORMAT
                and old.get("compute") == compute_record(cfg.device)
                and not missing_outputs(out, [f.get("fold", -1) for f in old.get("folds", [])
                                              if f.get("fold", -1) not in imported], model_names(cfg))):
            log.info("%s: already done", done)
            return old
    t0 = time.perf_counter()
    try:
        results = _run_folds(prepared_dir, cfg, out, data, n_jobs=n_jobs, backend=backend, progress=progress,
                             resume=resume, t0=t0, before=before, only=only, fold_records=fold_records)
        record(out, cfg_json, data, seconds_before=results["runtime_s"])
        return results
    except BaseException:
        record(out, cfg_json, data, seconds_before=before + time.perf_counter() - t0)
        raise


def _finished_here(out: Path, fold: int, cfg: ExperimentConfig, data: dict) -> dict | None:
    """The result of ``fold`` when it is finished in the run folder (fold.json and every output), else None."""
    found = finished_fold(out, fold, cfg, fingerprint_id(data))
    return found.result if found.complete else None


def _run_folds(prepared_dir, cfg, out, data, *, n_jobs, backend, progress, resume, t0, before, only=None,
               fold_records=None) -> dict:
    from joblib import Parallel, delayed, parallel_config

    # with the sessions that have no labels, and the run's controls (the student's columns, permuted labels)
    trials = run_trials(prepared_dir, cfg)
    plan = plan_folds({k: t["subject"] for k, t in trials.items()}, cfg,
                      unlabelled_data=[k for k, t in trials.items() if t.get("labelled", True) is False])
    all_folds = list(plan.folds)
    numbers = [f.fold for f in all_folds]
    if only is not None and (unknown := sorted(set(only) - set(numbers))):
        left = f" (left out: {plan.to_json()})" if plan.left_out else ""
        span = (f"{numbers[0]}-{numbers[-1]}" if numbers == list(range(numbers[0], numbers[-1] + 1))
                else ", ".join(map(str, numbers)))
        raise EmokdError(f"folds {unknown}: no such fold; this {cfg.protocol} run has folds {span}{left}")
    records = read_fold_records(fold_records, cfg, data) if fold_records is not None else {}
    if unknown := sorted(set(records) - set(numbers)):
        raise EmokdError(f"fold records {fold_records}: folds {unknown} are not folds of this {cfg.protocol} run")
    # finished in this folder (an earlier share or segment) beats a record of the same fold made elsewhere
    here = {n: r for n in numbers if resume and (n in records or (only is not None and n not in only))
            and (r := _finished_here(out, n, cfg, data)) is not None}
    records = {n: r for n, r in records.items() if n not in here}
    folds = [f for f in all_folds if f.fold not in records and f.fold not in here and (only is None or f.fold in only)]
    elsewhere = {**here, **records}
    if records:
        log.info("%d fold(s) taken from the records in %s: %s", len(records), fold_records, sorted(records))
    pixels = {}  # each trial's pixel features for the teacher's ridge: computed once, not once per fold
    with fold_threads():  # the ridge references: the same numbers with any BLAS thread count
        references = {f.fold: reference_metrics(trials, f, cfg, pixels=pixels) for f in all_folds}
    del pixels
    del trials
    with parallel_config(backend=backend) if backend else contextlib.nullcontext():
        embeddings = None
        if cfg.teacher_reads_embeddings and folds:  # once, before any fold: the backbone saw none of these subjects
            # trials side by side as the folds will be, each with FOLD_THREADS threads: the same file with any n_jobs
            embeddings = cached_embeddings(prepared_dir, cfg.teacher, device=resolve_device(cfg.device),
                                           progress=progress, n_jobs=n_jobs)
        # every fold computes with emokd.core.threads.FOLD_THREADS threads wherever it runs: n_jobs changes
        # how many run side by side, never a fold's arithmetic
        n_jobs = max(1, min(n_jobs, len(folds))) if n_jobs > 0 else n_jobs
        log.info("%s: %d folds, n_jobs=%s", cfg.protocol, len(folds), n_jobs)
        if n_jobs == 1 and backend is None:
            folds_out = [run_fold(prepared_dir, f, cfg, out, progress=progress, resume=resume,
                                  data_fingerprint=data, embeddings=embeddings) for f in _bar(folds, progress)]
        else:
            # each worker gives the memory a fold freed back to the system before its next fold
            folds_out = Parallel(n_jobs=n_jobs)(
                delayed(call_and_release)(run_fold, prepared_dir, f, cfg, out, resume=resume,
                                          data_fingerprint=data, embeddings=embeddings) for f in folds)
    by_number = {**elsewhere, **{r["fold"]: r for r in folds_out}}
    if missing := [n for n in numbers if n not in by_number]:
        done = sorted(by_number)
        log.info("%d of %d folds finished; missing %s: no results.json until they are", len(done), len(numbers),
                 missing)
        return {"partial": True, "protocol": cfg.protocol, "n_folds": len(numbers), "done": done,
                "missing": missing, "runtime_s": round(before + time.perf_counter() - t0, 1)}
    folds_out = [dict(by_number[n]) for n in numbers]
    models = model_names(cfg)
    refs = [r for r in REFERENCES if all(r in references[f.fold].metrics for f in folds)]
    # scores against the latent valence: synthetic data, every fold (a fold of an older emokd has none)
    has_latent = all(references[f["fold"]].latent is not None and "metrics_latent" in f for f in folds_out)
    for f in folds_out:
        for key in ("format", "config", "data_id"):  # the record's own: results.json holds them once
            f.pop(key, None)
        f["metrics"].update(references[f["fold"]].metrics)
        f["ridge"] = references[f["fold"]].ridge
        if has_latent:
            f["metrics_latent"].update(references[f["fold"]].latent)
    results = {"format": FORMAT, "protocol": cfg.protocol, "preset": cfg.preset, "seed": cfg.seed,
               "models": models, "references": refs, "n_folds": len(folds_out),
               "data_path": str(Path(prepared_dir).resolve()), "data_fingerprint": data, "config": cfg.to_json(),
               "folds": folds_out,
               **summarise_folds(folds_out, models, refs),
               **(summarise_folds(folds_out, models, refs, field="metrics_latent", prefix="_latent")
                  if has_latent else {}),
               **({"kd_selected_weights": [f["kd_selected"]["weight"] for f in folds_out]} if cfg.kd_select else {}),
               **({"left_out_folds": plan.to_json()} if plan.left_out else {}),
               **({"imported_folds": sorted(records)} if records else {}),
               "compute": compute_record(cfg.device),
               "runtime_s": round(before + time.perf_counter() - t0, 1), "n_jobs": n_jobs,
               "versions": _versions()}
    write_json(out / "results.json", results)
    return results


def _versions() -> dict:
    return versions(["emokd", "python", "numpy", "torch"])


def _bar(it, enabled):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc="folds")
