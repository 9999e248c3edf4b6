"""The experiment: teacher -> knowledge -> student -> KD student, fold by fold.

For every fold of the protocol (:func:`emokd.datasets.make_folds`):

1. **teacher** -- frame CNN + TCN on the face frames of the training trials
   (early stopping on the validation trials). With a frozen pretrained backbone
   (the default presets, :mod:`emokd.backbone`) the CNN's embeddings of every
   frame are computed once per data set before any fold
   (:mod:`emokd.embeddings`) and the fold trains only the TCN and head on them;
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
(:func:`fold_inputs`). Every model is scored on the fold's test trials
(concatenated and per trial), next to three untrained reference points
(:func:`reference_predictions`) and two ridge regressions on the same inputs and
normalisation (:mod:`emokd.linear`; their alphas under ``ridge`` per fold); over
folds, mean and SD per model and metric, and KD student vs student by paired
t-test and Wilcoxon signed-rank test. On synthetic data, whose prepared trials
hold the latent valence that the labels annotate, every model and reference is
also scored against the latent trace on the same test steps (``metrics_latent``
per fold; ``summary_latent``, ``summary_latent_per_trial`` and ``tests_latent``
over folds): it shows whether a model learned the state or the annotators'
noise. Folds run in parallel with joblib; inside
``joblib.parallel_config(backend="dask")`` (or ``backend="dask"``) they run on a
Dask cluster (the workers must see ``prepared_dir`` and ``out``).

Output folder::

    results.json              config, inputs (the data's fingerprint), folds (partitions, metrics,
                              best epochs), summary, tests
    .emokd.json, .emokd.lock  what the folder's run is computed from; the lock held while it runs
    folds/fold_XX/            teacher.pt, student.pt, student_kd.pt (state dict + config),
                              *.log.jsonl (per epoch), *.ckpt (resumable), knowledge.*,
                              predictions.npz, fold.json (this fold's result)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from .config import ExperimentConfig
from .datasets import Fold, WindowSet, fit_normalisers, make_folds, student_inputs
from .errors import EmokdError
from .metrics import fold_metrics
from .fileio import save_npz, sha256, versions, write_json
from .prepare import load_prepared
from .runfolder import check_same, claim, data_fingerprint, fingerprint_id, record, run_lock
from .runs import FORMAT, PREDICTIONS, fold_dir, missing_outputs, read_json
from .stats import paired_tests, summarise

log = logging.getLogger(__name__)

_ROLE = {"teacher": 0, "student": 1}


def _extra_weights(cfg: ExperimentConfig) -> list[float]:
    """KD weights trained besides 0 (``student``) and ``kd.kd_weight`` (``student_kd``): the sweep, then
    the rest of the selection grid."""
    out = list(cfg.kd_sweep)
    out += [w for w in cfg.kd_select if w != 0 and w != cfg.kd.kd_weight and w not in out]
    return out


def _kd_model(cfg: ExperimentConfig, w: float) -> str:
    """The student trained with KD weight ``w``."""
    if w == 0:
        return "student"
    if w == cfg.kd.kd_weight:
        return "student_kd"
    return f"student_kd_w{w:g}"


def model_names(cfg: ExperimentConfig) -> list[str]:
    """``teacher``, ``student``, ``student_kd``, one ``student_kd_w<w>`` per swept weight (and per weight of
    the selection grid not trained otherwise), then ``student_kd_selected`` with ``kd_select``."""
    return (["teacher", "student", "student_kd"] + [f"student_kd_w{w:g}" for w in _extra_weights(cfg)]
            + (["student_kd_selected"] if cfg.kd_select else []))


UNTRAINED = ("ref_zero", "ref_train_mean", "ref_trial_mean_oracle")
#: every reference model of a results.json: the untrained points and the ridge regressions (:mod:`emokd.linear`)
REFERENCES = UNTRAINED + ("ref_ridge_student", "ref_ridge_teacher")


def reference_predictions(trials: dict[str, dict], fold: Fold) -> dict[str, dict[str, np.ndarray]]:
    """Reference points on the fold's test trials; nothing is trained.

    - ``ref_zero``: the constant 0, the neutral middle of the valence scale
      (every MAHNOB-HCI trace starts there);
    - ``ref_train_mean``: the constant mean valence of the training trials;
    - ``ref_trial_mean_oracle``: each test trial's own mean valence, a constant
      per trial. It reads the test labels, so it is not a model: it shows how much
      of a concatenated CCC comes from getting each trial's level right. Its
      per-trial CCC is 0 (a constant has no covariance).

    Returns ``{name: {trial key: (n_steps,) float32}}``, one entry per :data:`UNTRAINED`
    (the ridge references: :func:`emokd.linear.ridge_references`).
    """
    train_mean = float(np.mean(np.concatenate([trials[k]["valence"] for k in fold.train])))
    out = {name: {} for name in UNTRAINED}
    for k in fold.test:
        y = np.asarray(trials[k]["valence"], np.float64)
        out["ref_zero"][k] = np.zeros(len(y), np.float32)
        out["ref_train_mean"][k] = np.full(len(y), train_mean, np.float32)
        out["ref_trial_mean_oracle"][k] = np.full(len(y), y.mean(), np.float32)
    return out


def _reference_metrics(trials: dict[str, dict], fold: Fold, cfg: ExperimentConfig) -> tuple[dict, dict]:
    """Metrics of every reference on the fold's test trials, and the ridge models' chosen alphas."""
    from .linear import ridge_references

    refs = reference_predictions(trials, fold)
    ridge, info = ridge_references(trials, fold, normalisation=cfg.normalisation,
                                   face_normalisation=cfg.face_normalisation, crop=cfg.teacher.frame_size)
    refs.update(ridge)
    metrics = {name: fold_metrics({k: (trials[k]["valence"], p[k]) for k in fold.test}) for name, p in refs.items()}
    latent = latent_metrics({k: trials[k] for k in fold.test}, refs)
    return metrics, info, latent


def latent_metrics(test_trials: dict[str, dict], preds: dict[str, dict[str, np.ndarray]]) -> dict | None:
    """Every model's :func:`~emokd.metrics.fold_metrics` against the latent valence, or None.

    ``test_trials``: trial key -> trial with ``latent`` (n_steps,) (synthetic data;
    the labels ``valence`` annotate it) or None; ``preds``: model -> trial key ->
    (n_steps,). Scored on the very steps the label metrics use (the whole test
    trace; a latent of another length is an error). None when any test trial has
    no latent (real data).
    """
    if any(t.get("latent") is None for t in test_trials.values()):
        return None
    for k, t in test_trials.items():
        if np.shape(t["latent"]) != np.shape(t["valence"]):
            raise EmokdError(f"trial {k}: latent valence has shape {np.shape(t['latent'])}, its labels "
                             f"{np.shape(t['valence'])}")
    return {name: fold_metrics({k: (t["latent"], p[k]) for k, t in test_trials.items()}) for name, p in preds.items()}


def _as_json(cfg: ExperimentConfig) -> dict:
    """The config as it reads back from a JSON file (tuples become lists), to compare with stored ones."""
    return json.loads(json.dumps(cfg.to_json()))


def _seed(seed: int, fold: int, role: str) -> int:
    """An independent seed per (experiment seed, fold, role)."""
    return int(np.random.SeedSequence([seed, fold, _ROLE[role]]).generate_state(1)[0])


def load_trials(data_dir, data_format: str = "prepared", *, frames: bool = True) -> dict[str, dict]:
    """Trials by key, each with the student's input ``x`` (n_steps, n_features).

    ``frames=False`` leaves out the face frames of prepared data (most of its bytes),
    for uses that only need the EEG.

    ``prepared`` (a folder written by :mod:`emokd.prepare`): ``x`` is the band
    power flattened band-major (192), the teacher's input ``frames``.
    ``features`` (the public release, :mod:`emokd.features`): ``x`` is
    ``eeg_band_feats_full`` (128), the teacher's input ``face`` (327).
    """
    if data_format == "features":
        from .features import load_feature_release

        trials = {t["key"]: dict(t, x=t["eeg"]) for t in load_feature_release(data_dir)}
    else:
        trials = {}
        for t in load_prepared(data_dir, frames=frames):
            t["x"] = student_inputs(t["eeg_bp"])
            trials[t["key"]] = t
    if not trials:
        raise EmokdError(f"{data_dir}: no trials")
    return trials


def _frozen_backbone(cfg: ExperimentConfig) -> bool:
    return cfg.teacher_input == "frames" and cfg.teacher.backbone == "frozen"


def _knowledge(teacher, field: str, here: Path, trials: list[dict], cfg: ExperimentConfig, device) -> dict:
    """Step 2: the teacher's features (it reads trial ``field``) for the training and validation windows,
    cached in ``here``."""
    from .train import extract_knowledge

    windows = cfg.student_train  # knowledge is cut into the student's windows
    meta = {"step": "knowledge", "teacher_file": "teacher.pt", "teacher_sha256": sha256(here / "teacher.pt"),
            "teacher_input": field,
            "teacher_config": dataclasses.asdict(cfg.teacher), "window_steps": windows.window_steps,
            "hop_steps": windows.hop_steps, "trials": sorted(t["key"] for t in trials)}
    npz, js = here / "knowledge.npz", here / "knowledge.json"
    if js.exists() and npz.exists() and json.loads(js.read_text()) == meta:
        with np.load(npz) as f:
            return {k: f[k] for k in f.files}
    wset = WindowSet(trials, field, window_steps=windows.window_steps, hop_steps=windows.hop_steps,
                     crop=cfg.teacher.frame_size, augment=cfg.teacher.frame_augment)
    knowledge = extract_knowledge(teacher, wset, device=device)
    save_npz(npz, knowledge)
    write_json(js, meta)
    return knowledge


def fold_inputs(trials: dict[str, dict], fold: Fold, *, normalisation: str = "train",
                face_normalisation: str = "train") -> tuple[dict[str, list[dict]], object]:
    """The fold's partitions with normalised inputs, and the student's normaliser.

    ``normalisation`` applies to the student's input ``x``, ``face_normalisation``
    to the facial features ``face`` when the data has them
    (:func:`emokd.datasets.fit_normalisers`): ``"train"`` (default) z-scores with
    the statistics of the fold's training trials only, validation and test trials
    transformed with them; ``"subject"`` with each subject's own statistics over
    all its trials (the test subject's too: a calibration on its unlabelled
    recordings); ``"none"`` leaves them as they are. Returns ``{"train" |
    "validation" | "test": [trial, ...]}`` (copies; ``x``, ``face`` normalised) and,
    for ``"train"``, the :class:`Normaliser` of ``x`` (otherwise the dict trial key
    -> normalising function).
    """
    keys = fold.train + fold.validation + fold.test
    fold_trials = {k: trials[k] for k in keys}
    norm = fit_normalisers(fold_trials, "x", fold.train, normalisation)
    has_face = trials[fold.train[0]].get("face") is not None
    face = fit_normalisers(fold_trials, "face", fold.train, face_normalisation) if has_face else None

    def inputs(k):
        t = fold_trials[k]
        return dict(t, x=norm[k](t["x"]), **({"face": face[k](t["face"])} if face is not None else {}))

    parts = {name: [inputs(k) for k in ks]
             for name, ks in (("train", fold.train), ("validation", fold.validation), ("test", fold.test))}
    return parts, (norm[fold.train[0]] if normalisation == "train" else norm)


@dataclasses.dataclass(frozen=True)
class _FoldSetup:
    """What every model of one fold is trained with (see :func:`run_fold`)."""

    cfg: ExperimentConfig
    fold: int
    here: Path  # the fold's folder
    parts: dict  # "train" | "validation" | "test" -> [trial, ...], inputs normalised
    device: object
    resume: bool
    progress: bool
    inputs_made: dict  # how the inputs were made: a checkpoint trained on other inputs is not resumed
    mean_valence: float  # of the training trials: every head starts there


def _new_model(model_cfg, mean_valence: float):
    """A model whose head starts at the training trials' mean valence: the CCC loss then starts
    without a mean offset, which otherwise dominates its first epochs."""
    import torch

    from .models import build_model

    model = build_model(model_cfg)
    with torch.no_grad():
        model.final_layer.bias.fill_(mean_valence)
    return model


def _train_model(setup: _FoldSetup, name: str, model, field: str, train_cfg, seed: int, *, kd=None,
                 knowledge=None):
    """Train one model of the fold, save ``<name>.pt``; returns its FitResult and its test predictions."""
    from .train import fit, predict, save_model

    cfg = setup.cfg
    sets = {p: WindowSet(setup.parts[p], field, window_steps=train_cfg.window_steps, hop_steps=train_cfg.hop_steps,
                         crop=cfg.teacher.frame_size, knowledge=knowledge if p == "train" else None,
                         augment=cfg.teacher.frame_augment)
            for p in ("train", "validation", "test")}
    res = fit(model, sets["train"], sets["validation"], train_cfg, seed=seed, device=setup.device, kd=kd,
              log_path=setup.here / f"{name}.log.jsonl", checkpoint_path=setup.here / f"{name}.ckpt",
              resume=setup.resume, progress=setup.progress, desc=f"fold {setup.fold} {name}",
              inputs=setup.inputs_made)
    save_model(model, cfg.teacher if name == "teacher" else cfg.student, setup.here / f"{name}.pt",
               extra={"best_epoch": res.best_epoch, "fold": setup.fold, "model": name})
    return res, predict(model, sets["test"], device=setup.device)


def _students(cfg: ExperimentConfig) -> list[tuple[str, object]]:
    """(name, KD config or None) of every student a fold trains, in training order."""
    return ([("student", None), ("student_kd", cfg.kd)]
            + [(f"student_kd_w{w:g}", dataclasses.replace(cfg.kd, kd_weight=w)) for w in _extra_weights(cfg)])


def _fold_trials(prepared_dir, cfg: ExperimentConfig, device, embeddings) -> dict[str, dict]:
    """The trials a fold reads; with a frozen backbone its cached embeddings (``emb``) instead of frames."""
    frozen = _frozen_backbone(cfg)
    trials = load_trials(prepared_dir, cfg.data_format, frames=not frozen)
    if frozen:  # the teacher reads the frozen backbone's cached embeddings, never the frames
        from .embeddings import cached_embeddings, load_embeddings

        emb = load_embeddings(embeddings or cached_embeddings(prepared_dir, cfg.teacher, device=device))
        for k, t in trials.items():
            t["emb"] = emb[k]
    return trials


def run_fold(prepared_dir, fold: Fold, cfg: ExperimentConfig, out, *, n_threads: int | None = None,
             progress: bool = False, resume: bool = True, inputs: dict | None = None, embeddings=None) -> dict:
    """Teacher -> knowledge -> student -> KD student on one fold; returns its result dict.

    ``inputs``: the data's :func:`emokd.runfolder.data_fingerprint` (computed when not
    given); a finished fold is reused only when its configuration and data match,
    and refused otherwise. ``embeddings``: the cache file of a frozen backbone
    (:func:`emokd.embeddings.cached_embeddings`); made here when it is needed and not given.
    """
    import torch

    from .models import build_model, freeze
    from .train import resolve_device

    if n_threads:
        torch.set_num_threads(n_threads)
    t_start = time.perf_counter()
    here = fold_dir(out, fold.fold)
    here.mkdir(parents=True, exist_ok=True)
    done = here / "fold.json"
    data_id = fingerprint_id(inputs if inputs is not None else data_fingerprint(prepared_dir, cfg.data_format))
    if resume and done.exists():
        result = read_json(done)
        check_same(done, result.get("config"), result.get("inputs"), _as_json(cfg), data_id)
        missing = missing_outputs(out, [fold.fold], model_names(cfg))
        if not missing:
            log.info("fold %d: already done", fold.fold)
            return result
        log.warning("fold %d: %s missing: redone (from its checkpoints)", fold.fold, ", ".join(p.name for p in missing))
    device = resolve_device(cfg.device)
    all_trials = _fold_trials(prepared_dir, cfg, device, embeddings)
    parts, _ = fold_inputs(all_trials, fold, normalisation=cfg.normalisation,
                           face_normalisation=cfg.face_normalisation)
    setup = _FoldSetup(cfg, fold.fold, here, parts, device, resume, progress,
                       inputs_made={"normalisation": cfg.normalisation, "face_normalisation": cfg.face_normalisation,
                                    "trs_folds": cfg.trs_folds},
                       mean_valence=float(np.mean(np.concatenate([t["valence"] for t in parts["train"]]))))
    trained = {}  # name -> (FitResult, test predictions), in training order
    # 1. teacher, on the frozen backbone's cached embeddings or on its own input (frames, facial features)
    teacher_field = "emb" if _frozen_backbone(cfg) else cfg.teacher_input
    t_seed = _seed(cfg.seed, fold.fold, "teacher")
    torch.manual_seed(t_seed)
    teacher = _new_model(cfg.teacher, setup.mean_valence)
    trained["teacher"] = _train_model(setup, "teacher", teacher, teacher_field, cfg.teacher_train, t_seed)
    # 2. knowledge (training and validation trials only)
    knowledge = _knowledge(freeze(teacher), teacher_field, here, parts["train"] + parts["validation"], cfg, device)
    # 3. student and 4. KD students, all from the same initial weights
    s_seed = _seed(cfg.seed, fold.fold, "student")
    torch.manual_seed(s_seed)
    init = _new_model(cfg.student, setup.mean_valence).state_dict()
    for name, kd in _students(cfg):
        student = build_model(cfg.student)
        student.load_state_dict(init)
        trained[name] = _train_model(setup, name, student, "x", cfg.student_train, s_seed, kd=kd,
                                     knowledge=knowledge if kd is not None else None)
    result = {"fold": fold.fold, **fold.describe({k: t["subject"] for k, t in all_trials.items()}),
              "best_epoch": {n: r.best_epoch for n, (r, _) in trained.items()},
              "best_val_ccc": {n: r.best_val_ccc for n, (r, _) in trained.items()},
              "epochs_run": {n: r.epochs_run for n, (r, _) in trained.items()}}
    preds = {n: p for n, (_, p) in trained.items()}
    if cfg.kd_select:  # the KD weight chosen on validation CCC only (ties: the smaller weight)
        val = {w: result["best_val_ccc"][_kd_model(cfg, w)] for w in cfg.kd_select}
        chosen = max(sorted(val), key=lambda w: val[w])
        preds["student_kd_selected"] = preds[_kd_model(cfg, chosen)]
        result["kd_selected"] = {"weight": chosen, "model": _kd_model(cfg, chosen),
                                 "val_ccc": {f"{w:g}": val[w] for w in sorted(val)}}
    result.update(_score_and_save(parts["test"], preds, here, out))
    result["seconds"] = round(time.perf_counter() - t_start, 2)
    result["config"] = cfg.to_json()
    result["inputs"] = data_id
    write_json(done, result)
    return result


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
    return fields


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
        tests[f"{m}_vs_student"] = paired_tests(ccc[m], ccc["student"], names=(m, "student"))
    for t in tests.values():
        t["metric"] = "ccc (concatenated)" + (" against the latent valence" if prefix else "")
    out["tests" + prefix] = tests
    return out


def run_experiment(prepared_dir, cfg: ExperimentConfig, out, *, n_jobs: int = 1, backend: str | None = None,
                   progress: bool = True, resume: bool = True) -> dict:
    """Run every fold and write ``out/results.json``; returns the results dict.

    Parameters
    ----------
    prepared_dir : path, a folder written by :func:`emokd.prepare.prepare_dataset`
    cfg : ExperimentConfig
    out : path, the run folder
    n_jobs : int, folds in parallel (joblib); each worker uses cores // n_jobs threads
    backend : str, optional, a joblib backend ("loky", "dask", ...); default: joblib's
    resume : bool
        Reuse finished folds and checkpoints of an interrupted run of the same
        configuration on the same data (compared by content: the data's
        :func:`~emokd.runfolder.data_fingerprint`). A run folder holding another
        configuration's run, a run on other data, or files emokd did not write is
        refused (EmokdError naming what changed); ``resume=False`` starts over.
        ``out/.emokd.lock`` keeps a second run out of the folder while this one runs.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out):
        return _run_experiment(prepared_dir, cfg, out, n_jobs=n_jobs, backend=backend, progress=progress,
                               resume=resume)


def _run_experiment(prepared_dir, cfg: ExperimentConfig, out: Path, *, n_jobs, backend, progress, resume) -> dict:
    # The run folder is emokd's and holds this configuration's run on this data, or it is refused
    marker = claim(out, fresh=not resume)
    cfg_json, data = _as_json(cfg), data_fingerprint(prepared_dir, cfg.data_format)
    if "config" in marker:
        check_same(out, marker["config"], marker.get("data"), cfg_json, data)
    # the time of earlier segments of this run (stopped by an error or Ctrl-C), so that runtime_s is the whole
    before = float(marker.get("seconds_before", 0.0)) if resume and "config" in marker else 0.0
    record(out, cfg_json, data, seconds_before=before)
    done = out / "results.json"
    if resume and done.exists():  # a finished run: returned as it is (its runtime stays the real one)
        old = read_json(done)
        if (old.get("config") == cfg_json and old.get("inputs") == data and old.get("format") == FORMAT
                and not missing_outputs(out, [f.get("fold", -1) for f in old.get("folds", [])], model_names(cfg))):
            log.info("%s: already done", done)
            return old
    t0 = time.perf_counter()
    try:
        results = _run_folds(prepared_dir, cfg, out, data, n_jobs=n_jobs, backend=backend, progress=progress,
                             resume=resume, t0=t0, before=before)
        record(out, cfg_json, data, seconds_before=results["runtime_s"])
        return results
    except BaseException:
        record(out, cfg_json, data, seconds_before=before + time.perf_counter() - t0)
        raise


def _run_folds(prepared_dir, cfg, out, data, *, n_jobs, backend, progress, resume, t0, before) -> dict:
    from joblib import Parallel, delayed, parallel_config

    trials = load_trials(prepared_dir, cfg.data_format)
    folds = make_folds({k: t["subject"] for k, t in trials.items()}, cfg.protocol, seed=cfg.seed,
                       n_folds=cfg.n_folds, val_fraction=cfg.val_fraction, trs_folds=cfg.trs_folds)
    references = {f.fold: _reference_metrics(trials, f, cfg) for f in folds}
    del trials
    embeddings = None
    if _frozen_backbone(cfg):  # once, before any fold: the backbone saw none of these subjects
        from .embeddings import cached_embeddings
        from .train import resolve_device

        embeddings = cached_embeddings(prepared_dir, cfg.teacher, device=resolve_device(cfg.device),
                                       progress=progress)
    n_jobs = max(1, min(n_jobs, len(folds))) if n_jobs > 0 else n_jobs
    n_threads = max(1, (os.cpu_count() or 1) // n_jobs) if n_jobs > 0 else 1
    log.info("%s: %d folds, n_jobs=%s", cfg.protocol, len(folds), n_jobs)
    with parallel_config(backend=backend) if backend else contextlib.nullcontext():
        if n_jobs == 1 and backend is None:
            folds_out = [run_fold(prepared_dir, f, cfg, out, n_threads=n_threads, progress=progress, resume=resume,
                                  inputs=data, embeddings=embeddings) for f in _bar(folds, progress)]
        else:
            folds_out = Parallel(n_jobs=n_jobs)(
                delayed(run_fold)(prepared_dir, f, cfg, out, n_threads=n_threads, resume=resume, inputs=data,
                                  embeddings=embeddings) for f in folds)
    models = model_names(cfg)
    refs = [r for r in REFERENCES if all(r in references[f.fold][0] for f in folds)]
    # scores against the latent valence: synthetic data, every fold (a fold of an older emokd has none)
    has_latent = all(references[f["fold"]][2] is not None and "metrics_latent" in f for f in folds_out)
    for f in folds_out:
        f.pop("config", None)
        f.pop("inputs", None)
        f["metrics"].update(references[f["fold"]][0])
        f["ridge"] = references[f["fold"]][1]
        if has_latent:
            f["metrics_latent"].update(references[f["fold"]][2])
    results = {"format": FORMAT, "protocol": cfg.protocol, "preset": cfg.preset, "seed": cfg.seed,
               "models": models, "references": refs, "n_folds": len(folds_out),
               "data": str(Path(prepared_dir).resolve()), "inputs": data, "config": cfg.to_json(),
               "folds": folds_out,
               **summarise_folds(folds_out, models, refs),
               **(summarise_folds(folds_out, models, refs, field="metrics_latent", prefix="_latent")
                  if has_latent else {}),
               **({"kd_selected_weights": [f["kd_selected"]["weight"] for f in folds_out]} if cfg.kd_select else {}),
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
