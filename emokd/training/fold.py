"""One fold of the experiment: teacher -> knowledge -> student -> KD students.

:func:`run_fold` trains, in this order and from seeds of (experiment seed, fold, role):
the teacher; its knowledge for the training and validation windows (cached as
``knowledge.npz`` + ``knowledge.json``); the student; the KD student and one per extra
KD weight; one student per hand-over of ``cfg.handover`` (:mod:`emokd.training.handover`)
(:func:`model_names`), every student from the same initial weights, and with ``cfg.student_budgets``
each student also as it stood at every shorter budget (``<student>_e<E>``). It scores
them on the fold's test trials and writes ``folds/fold_XX/`` (see :mod:`emokd.evaluation.experiment`).
:func:`train_teacher` is the first step alone: the same teacher, without the students.

A fold may hold trials whose labels are withheld (:mod:`emokd.training.regimes`): the teacher
and the plain student train on the labelled training trials only; every taught student trains on
the whole pool (labelled, unlabelled and a new person's calibration trials), its label term on the
labelled ones, the teacher's term on all of them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np

from ..core.config import ExperimentConfig
from .datasets import Fold, Normaliser, WindowSet
from ..errors import EmokdError
from ..core.fileio import save_npz, sha256, write_json
from .folddata import fold_inputs, latent_metrics, run_trials
from ..core.metrics import fold_metrics
from . import runfolder
from .runfolder import check_same, fingerprint_id
from ..core.threads import compute_record, fold_threads
from .handover import SHUFFLE_STREAM, shuffle_knowledge
from ..core.device import resolve_device
from ..nn.embeddings import cached_embeddings, load_embeddings
from .runs import FOLD_FORMAT, PREDICTIONS, fold_dir, missing_outputs, predictions_sha256, read_cached, read_fold_record

log = logging.getLogger(__name__)

_ROLE = {"teacher": 0, "student": 1}
#: a model's training checkpoint is written after an epoch when this many seconds have passed since the last
#: one (and after its last epoch): an interrupted fold loses at most this much training
CHECKPOINT_EVERY_S = 10.0


def _kd_model(cfg: ExperimentConfig, w: float) -> str:
    """The student trained with KD weight ``w``."""
    if w == 0:
        return "student"
    if w == cfg.kd.kd_weight:
        return "student_kd"
    return f"student_kd_w{w:g}"


def model_names(cfg: ExperimentConfig) -> list[str]:
    """``teacher``, ``student``, ``student_kd``, one ``student_kd_w<w>`` per swept weight (and per weight of
    the selection grid not trained otherwise), the hand-overs' students and ``student_calib_norm``
    (:attr:`~emokd.core.config.ExperimentConfig.students`), every student at each shorter budget
    (``<student>_e<E>``, :attr:`~emokd.core.config.ExperimentConfig.budget_students`), then
    ``student_kd_selected`` with ``kd_select``."""
    return (["teacher", "student", "student_kd"] + [f"student_kd_w{w:g}" for w in cfg.extra_kd_weights]
            + list(cfg.students) + list(cfg.budget_students) + (["student_kd_selected"] if cfg.kd_select else []))


def as_json(cfg: ExperimentConfig) -> dict:
    """The config as it reads back from a JSON file (tuples become lists), to compare with stored ones."""
    return json.loads(json.dumps(cfg.to_json()))


def _seed(seed: int, fold: int, role: str) -> int:
    """An independent seed per (experiment seed, fold, role)."""
    return int(np.random.SeedSequence([seed, fold, _ROLE[role]]).generate_state(1)[0])


def teacher_knowledge(teacher, field: str, here: Path, trials: list[dict], cfg: ExperimentConfig, device) -> dict:
    """Step 2: the teacher's features (it reads trial ``field``) for the training and validation windows,
    cached in ``here``."""
    from .train import extract_knowledge

    windows = cfg.student_train  # knowledge is cut into the student's windows
    meta = {"step": "knowledge", "teacher_file": "teacher.pt", "teacher_sha256": sha256(here / "teacher.pt"),
            "teacher_input": field,
            "teacher_config": dataclasses.asdict(cfg.teacher), "window_steps": windows.window_steps,
            "hop_steps": windows.hop_steps, "trials": sorted(t["key"] for t in trials)}
    npz, js = here / "knowledge.npz", here / "knowledge.json"
    if (cached := read_cached(npz, js, meta)) is not None:  # an unreadable cache is computed again
        return cached
    wset = WindowSet(trials, field, window_steps=windows.window_steps, hop_steps=windows.hop_steps,
                     crop=cfg.teacher.frame_size, augment=cfg.teacher.frame_augment)
    knowledge = extract_knowledge(teacher, wset, device=device)
    save_npz(npz, knowledge)
    write_json(js, meta)
    return knowledge


@dataclasses.dataclass(frozen=True)
class _FoldSetup:
    """What every model of one fold is trained with (see :func:`run_fold`)."""

    cfg: ExperimentConfig
    fold: int
    here: Path  # the fold's folder
    parts: dict  # "train" | "validation" | "test" (| "unlabelled" | "calibration") -> [trial, ...], normalised
    device: object
    resume: bool
    progress: bool
    input_recipe: dict  # how the inputs were made (normalisation, ...): a checkpoint of another is not resumed
    mean_valence: float  # of the training trials: every head starts there
    all_trials: dict  # every trial of the data set by key, as read (raw inputs)


def _new_model(model_cfg, mean_valence: float):
    """A model whose head starts at the training trials' mean valence: the CCC loss then starts
    without a mean offset, which otherwise dominates its first epochs."""
    import torch

    from ..nn.models import build_model

    model = build_model(model_cfg)
    with torch.no_grad():
        model.final_layer.bias.fill_(mean_valence)
    return model


def _pool(setup: _FoldSetup) -> list[dict]:
    """The taught students' training trials: labelled, then unlabelled, then calibration trials."""
    return setup.parts["train"] + setup.parts.get("unlabelled", []) + setup.parts.get("calibration", [])


@dataclasses.dataclass(frozen=True)
class _Trained:
    """One trained model of a fold: what :func:`emokd.training.train.fit` did (``fit``) and its predictions
    on the fold's test trials (trial key -> (n_steps,))."""

    fit: object
    predictions: dict
    #: ``<name>_e<E>`` -> the same training read at each shorter budget E (``cfg.student_budgets``)
    budgets: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class _Teacher:
    """Step 1's teacher: the model, the trial field it reads (``emb``, ``frames`` or ``face``), how it trained."""

    model: object
    field: str
    trained: _Trained


def _train_model(setup: _FoldSetup, name: str, model, field: str, train_cfg, seed: int, *, kd=None,
                 knowledge=None, targets=None, pool: bool = False, budgets=()) -> _Trained:
    """Train one model of the fold, save ``<name>.pt``; returns what it did and its test predictions.
    ``pool``: train on :func:`_pool` (the taught students) instead of the labelled training trials.
    ``budgets``: the same model read at these shorter budgets too (a student's), each saved as
    ``<name>_e<E>.pt`` and scored (:attr:`_Trained.budgets`)."""
    from ..nn.models import build_model
    from .train import fit, predict, save_model

    cfg = setup.cfg
    trials = {"train": _pool(setup) if pool else setup.parts["train"], "validation": setup.parts["validation"],
              "test": setup.parts["test"]}
    sets = {p: WindowSet(trials[p], field, window_steps=train_cfg.window_steps, hop_steps=train_cfg.hop_steps,
                         crop=cfg.teacher.frame_size, knowledge=knowledge if p == "train" else None,
                         targets=targets if p == "train" else None, augment=cfg.teacher.frame_augment)
            for p in ("train", "validation", "test")}
    res = fit(model, sets["train"], sets["validation"], train_cfg, seed=seed, device=setup.device, kd=kd,
              log_path=setup.here / f"{name}.log.jsonl", checkpoint_path=setup.here / f"{name}.ckpt",
              resume=setup.resume, progress=setup.progress, desc=f"fold {setup.fold} {name}",
              input_recipe=setup.input_recipe, checkpoint_every_s=CHECKPOINT_EVERY_S, budgets=budgets)
    model_cfg = cfg.teacher if name == "teacher" else cfg.student
    save_model(model, model_cfg, setup.here / f"{name}.pt",
               extra={"best_epoch": res.best_epoch, "fold": setup.fold, "model": name})
    shorter = {}
    for b, at in res.budgets.items():
        short = build_model(model_cfg).to(setup.device)
        short.load_state_dict(at.state)
        save_model(short, model_cfg, setup.here / f"{name}_e{b}.pt",
                   extra={"best_epoch": at.best_epoch, "fold": setup.fold, "model": f"{name}_e{b}"})
        shorter[f"{name}_e{b}"] = _Trained(at, predict(short, sets["test"], device=setup.device))
    return _Trained(res, predict(model, sets["test"], device=setup.device), shorter)


def _students(cfg: ExperimentConfig) -> list[tuple[str, object]]:
    """(name, KD config or None) of every student a fold trains, in training order."""
    return ([("student", None), ("student_kd", cfg.kd)]
            + [(f"student_kd_w{w:g}", dataclasses.replace(cfg.kd, kd_weight=w)) for w in cfg.extra_kd_weights])


def _fold_trials(prepared_dir, cfg: ExperimentConfig, device, embeddings) -> dict[str, dict]:
    """The trials a fold reads; with a frozen backbone its cached embeddings (``emb``) instead of frames.
    (Every trial of the data set: a fold's partitions pick from them.)"""
    frozen = cfg.teacher_reads_embeddings
    trials = run_trials(prepared_dir, cfg, frames=not frozen)  # with the run's controls (folddata.run_trials)
    if frozen:  # the teacher reads the frozen backbone's cached embeddings, never the frames

        emb = load_embeddings(embeddings or cached_embeddings(prepared_dir, cfg.teacher, device=device))
        for k, t in trials.items():
            t["emb"] = emb[k]
    return trials


@dataclasses.dataclass(frozen=True)
class FinishedFold:
    """A fold found in a run folder: its ``fold.json`` (None when there is none; in the current layout,
    :func:`emokd.training.runs.read_fold_record`) and the model and prediction files it lacks (``missing``;
    empty: the fold is complete)."""

    result: dict | None
    missing: list

    @property
    def complete(self) -> bool:
        return self.result is not None and not self.missing


def finished_fold(out, fold: int, cfg: ExperimentConfig, data_id: str) -> FinishedFold:
    """A fold's ``fold.json`` in the run folder ``out``, checked to be ``cfg``'s on the data ``data_id``,
    computed as this emokd computes it on ``cfg.device`` (:func:`check_compute`; EmokdError otherwise),
    and its missing model and prediction files."""
    done = fold_dir(out, fold) / "fold.json"
    if not done.is_file():
        return FinishedFold(None, [])
    result = read_fold_record(done)
    check_same(done, result.get("config"), result.get("data_id"), as_json(cfg), data_id)
    check_compute(done, result.get("compute"), cfg)
    return FinishedFold(result, missing_outputs(out, [fold], model_names(cfg)))


def check_compute(path, stored, cfg: ExperimentConfig) -> None:
    """EmokdError unless ``stored`` (a fold's or run's ``compute`` record) is what a fold of ``cfg``
    computes with here (:func:`emokd.core.threads.compute_record`): a fold computed on another device, or
    by an emokd whose numbers depended on the number of parallel jobs, is not reused."""
    here = compute_record(cfg.device)
    if stored == here:
        return
    if not isinstance(stored, dict):
        why = ("it has no 'compute' record: an older emokd computed it with cores // n_jobs threads, "
               "so its numbers depended on the schedule")
    else:
        why = f"field 'compute' is {stored}, this run computes with {here}"
    raise EmokdError(f"{path}: {why}; results would not be comparable: rerun with --fresh "
                     f"(or use another run folder)")


def _setup(prepared_dir, fold: Fold, cfg: ExperimentConfig, here: Path, resume: bool, progress: bool,
           embeddings) -> _FoldSetup:
    """What every model of the fold trains with (and every trial of the data set, ``all_trials``)."""
    device = resolve_device(cfg.device)
    all_trials = _fold_trials(prepared_dir, cfg, device, embeddings)
    parts = fold_inputs(all_trials, fold, normalisation=cfg.normalisation,
                        face_normalisation=cfg.face_normalisation).parts
    setup = _FoldSetup(cfg, fold.fold, here, parts, device, resume, progress,
                       input_recipe={"normalisation": cfg.normalisation, "face_normalisation": cfg.face_normalisation,
                                     "trs_folds": cfg.trs_folds, "compute": compute_record(device)},
                       mean_valence=float(np.mean(np.concatenate([t["valence"] for t in parts["train"]]))),
                       all_trials=all_trials)
    return setup


def _teacher(setup: _FoldSetup) -> _Teacher:
    """Step 1: the fold's teacher, on the frozen backbone's cached embeddings or on its own input
    (frames, facial features)."""
    import torch

    cfg = setup.cfg
    field = "emb" if cfg.teacher_reads_embeddings else cfg.teacher_input
    seed = _seed(cfg.seed, setup.fold, "teacher")
    torch.manual_seed(seed)
    teacher = _new_model(cfg.teacher, setup.mean_valence)
    return _Teacher(teacher, field, _train_model(setup, "teacher", teacher, field, cfg.teacher_train, seed))


def train_teacher(prepared_dir, fold: Fold, cfg: ExperimentConfig, out, *, progress: bool = False,
                  resume: bool = True, embeddings=None) -> dict:
    """Step 1 of :func:`run_fold` alone: the fold's teacher, trained and scored exactly as a run does.

    The same seed, inputs and training as the teacher of ``run_fold(prepared_dir, fold, cfg, out)``
    (so the same weights), written to ``out/folds/fold_XX/`` (``teacher.pt``, its log and
    checkpoint); nothing else is trained. For a look at one teacher, e.g. a backbone against
    another, without the students. Computed with :data:`emokd.core.threads.FOLD_THREADS` torch
    threads, as every fold is, so a notebook's kernel gets the run's numbers.

    Returns
    -------
    dict
        ``fold``, ``best_val_ccc``, ``best_epoch``, ``epochs_run``, ``metrics`` (on the fold's
        test trials, as :func:`emokd.core.metrics.fold_metrics`), ``seconds`` (wall, this call).
    """
    t_start = time.perf_counter()
    here = fold_dir(out, fold.fold)
    here.mkdir(parents=True, exist_ok=True)
    with fold_threads():
        setup = _setup(prepared_dir, fold, cfg, here, resume, progress, embeddings)
        trained = _teacher(setup).trained
    res, pred = trained.fit, trained.predictions
    test = {t["key"]: (t["valence"], pred[t["key"]]) for t in setup.parts["test"]}
    return {"fold": fold.fold, "best_val_ccc": res.best_val_ccc, "best_epoch": res.best_epoch,
            "epochs_run": res.epochs_run, "metrics": fold_metrics(test),
            "seconds": round(time.perf_counter() - t_start, 2)}


def run_fold(prepared_dir, fold: Fold, cfg: ExperimentConfig, out, *, progress: bool = False,
             resume: bool = True, data_fingerprint: dict | None = None, embeddings=None) -> dict:
    """Teacher -> knowledge -> student -> KD student on one fold; returns its result dict.

    The same numbers wherever it runs (this process, a joblib or Dask worker, any core count or
    BLAS setting): every model computes with :data:`emokd.core.threads.FOLD_THREADS` torch threads,
    set here and restored after. ``fold.json`` records the device (``compute``); a finished fold
    computed on another device is refused, not reused.

    ``data_fingerprint``: the data's :func:`emokd.training.runfolder.data_fingerprint` (computed when
    not given; ``fold.json`` keeps its short id, ``data_id``); a finished fold is reused only when its
    configuration and data match, and refused otherwise. ``embeddings``: the cache file of a frozen backbone
    (:func:`emokd.nn.embeddings.cached_embeddings`); made here when it is needed and not given.
    """
    with fold_threads():
        return _run_fold(prepared_dir, fold, cfg, out, progress=progress, resume=resume,
                         data_fingerprint=data_fingerprint, embeddings=embeddings)


def _run_fold(prepared_dir, fold: Fold, cfg: ExperimentConfig, out, *, progress: bool, resume: bool,
              data_fingerprint: dict | None, embeddings) -> dict:
    import torch

    from ..nn.models import build_model, freeze

    t_start = time.perf_counter()
    here = fold_dir(out, fold.fold)
    here.mkdir(parents=True, exist_ok=True)
    done = here / "fold.json"
    data_id = fingerprint_id(data_fingerprint if data_fingerprint is not None
                             else runfolder.data_fingerprint(prepared_dir, cfg.data_format))
    if resume and done.exists():
        found = finished_fold(out, fold.fold, cfg, data_id)
        if found.complete:
            log.info("fold %d: already done", fold.fold)
            return found.result
        log.warning("fold %d: %s missing: redone (from its checkpoints)", fold.fold,
                    ", ".join(p.name for p in found.missing))
    setup = _setup(prepared_dir, fold, cfg, here, resume, progress, embeddings)
    all_trials = setup.all_trials
    parts, device = setup.parts, setup.device
    trained = {}  # name -> _Trained, in training order
    # 1. teacher
    step1 = _teacher(setup)
    teacher, teacher_field, trained["teacher"] = step1.model, step1.field, step1.trained
    # 2. knowledge (training, unlabelled, calibration and validation trials: never a test trial)
    pool = _pool(setup)
    knowledge = teacher_knowledge(freeze(teacher), teacher_field, here, pool + parts["validation"], cfg, device)
    # 3. student and 4. KD students, all from the same initial weights; a student with a teacher's term
    # trains on the whole pool, the plain student (and a weight-0 one) on the labelled trials only
    s_seed = _seed(cfg.seed, fold.fold, "student")
    torch.manual_seed(s_seed)
    init = _new_model(cfg.student, setup.mean_valence).state_dict()
    models = {}
    for name, kd in _students(cfg):
        models[name] = student = build_model(cfg.student)
        student.load_state_dict(init)
        taught = kd is not None and kd.kd_weight > 0
        trained[name] = _train_model(setup, name, student, "x", cfg.student_train, s_seed, kd=kd,
                                     knowledge=knowledge if kd is not None else None, pool=taught,
                                     budgets=cfg.student_budgets)
    # 5. the other hand-overs (emokd.training.handover), from the same initial weights
    for name, kd, how in _handovers(setup, teacher, teacher_field, models["student"], knowledge):
        student = build_model(cfg.student)
        student.load_state_dict(init)
        trained[name] = _train_model(setup, name, student, "x", cfg.student_train, s_seed, kd=kd, pool=True,
                                     budgets=cfg.student_budgets, **how)
    shorter = {n: t for trained_model in trained.values() for n, t in trained_model.budgets.items()}
    trained.update({n: shorter[n] for n in cfg.budget_students})  # the students at each shorter budget
    if cfg.calibration:  # 6. the plain student on the new person's inputs standardised by its calibration trials
        trained["student_calib_norm"] = _Trained(trained["student"].fit,
                                                 _predict_calibrated(setup, all_trials, fold, models["student"]))
    result = {"format": FOLD_FORMAT, "fold": fold.fold, **fold.describe({k: t["subject"] for k, t in all_trials.items()}),
              "best_epoch": {n: t.fit.best_epoch for n, t in trained.items()},
              "best_val_ccc": {n: t.fit.best_val_ccc for n, t in trained.items()},
              "epochs_run": {n: t.fit.epochs_run for n, t in trained.items()}}
    preds = {n: t.predictions for n, t in trained.items()}
    if cfg.kd_select:  # the KD weight chosen on validation CCC only (ties: the smaller weight)
        val = {w: result["best_val_ccc"][_kd_model(cfg, w)] for w in cfg.kd_select}
        chosen = max(sorted(val), key=lambda w: val[w])
        preds["student_kd_selected"] = preds[_kd_model(cfg, chosen)]
        result["kd_selected"] = {"weight": chosen, "model": _kd_model(cfg, chosen),
                                 "val_ccc": {f"{w:g}": val[w] for w in sorted(val)}}
    result.update(_score_and_save(parts["test"], preds, here, out))
    result["seconds"] = round(time.perf_counter() - t_start, 2)
    result["compute"] = compute_record(device)
    result["config"] = cfg.to_json()
    result["data_id"] = data_id
    write_json(done, result)
    return result


def _handovers(setup: _FoldSetup, teacher, teacher_field: str, student, knowledge: dict):
    """(model name, KD config, what its training set carries) of each hand-over of ``cfg.handover``, in
    :data:`~emokd.core.config.HANDOVERS` order; the targets are computed here, in eval mode."""
    from .train import window_predictions

    cfg = setup.cfg
    w = cfg.student_train
    pool = _pool(setup)
    for how in (h for h in ("output", "shuffled", "self") if h in cfg.handover):
        if how == "output":
            wset = WindowSet(pool, teacher_field, window_steps=w.window_steps, hop_steps=w.hop_steps,
                             crop=cfg.teacher.frame_size, augment=cfg.teacher.frame_augment)
            carried = {"targets": window_predictions(teacher, wset, device=setup.device)}
        elif how == "shuffled":
            rng = np.random.default_rng([cfg.seed, SHUFFLE_STREAM, setup.fold])
            carried = {"knowledge": shuffle_knowledge(knowledge, [t["key"] for t in pool], rng)}
        else:
            wset = WindowSet(pool, "x", window_steps=w.window_steps, hop_steps=w.hop_steps)
            carried = {"targets": window_predictions(student, wset, device=setup.device)}
        yield {"output": "student_kd_output", "shuffled": "student_kd_shuffled", "self": "student_self"}[how], \
            cfg.kd, carried


def _predict_calibrated(setup: _FoldSetup, all_trials: dict, fold: Fold, student) -> dict:
    """Feature-only calibration: the trained plain student on the evaluation trials, their inputs
    standardised with the statistics of the new person's calibration trials (EEG only) and put on the
    scale the student was trained on. Under ``subject`` normalisation that is the run's own input."""
    from .train import predict

    cfg = setup.cfg
    test = setup.parts["test"]
    if cfg.normalisation != "subject":
        cal = Normaliser.fit([all_trials[k]["x"] for k in fold.calibration])
        if cfg.normalisation == "train":  # the student read training-pool z-scores: the person's own instead
            def calibrate(x):
                return cal(x)
        else:  # "none": the person's z-scores mapped onto the raw training pool's mean and SD
            ref = Normaliser.fit([all_trials[k]["x"] for k in fold.pool])

            def calibrate(x):
                return (cal(x) * ref.std + ref.mean).astype(np.float32)
        test = [dict(t, x=calibrate(all_trials[t["key"]]["x"])) for t in test]
    w = cfg.student_train
    return predict(student, WindowSet(test, "x", window_steps=w.window_steps, hop_steps=w.hop_steps),
                   device=setup.device)


def _score_and_save(test: list[dict], preds: dict, here: Path, out) -> dict:
    """Every model's metrics on the test trials (and against the latent valence, where there is one);
    the predictions written to ``here/predictions.npz``. Returns the fold result's fields."""
    truth = {t["key"]: t["valence"] for t in test}
    fields = {"metrics": {name: fold_metrics({k: (y, p[k]) for k, y in truth.items()}) for name, p in preds.items()}}
    latent = latent_metrics({t["key"]: t for t in test}, preds)
    if latent is not None:
        fields["metrics_latent"] = latent
    arrays = {}
    for t in test:
        arrays[f"{t['key']}__true"] = np.asarray(t["valence"], np.float32)
        for name, p in preds.items():
            arrays[f"{t['key']}__{name}"] = p[t["key"]]
    save_npz(here / PREDICTIONS, arrays)
    fields["predictions"] = str((here / PREDICTIONS).relative_to(out))
    fields["predictions_sha256"] = predictions_sha256(arrays)  # ties the file to these metrics (emokd.training.runs)
    return fields
