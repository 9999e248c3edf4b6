"""What one fold reads, and what it is scored against without training.

* :func:`load_trials` -- the trials of a data set by key, each with the student's input ``x``;
* :func:`run_trials` -- the trials a run reads: :func:`load_trials` with the run's controls (a subset of the
  student's EEG features, labels permuted within each subject: :func:`permute_trial_labels`);
* :func:`fold_inputs` -- a fold's training, validation and test trials with normalised inputs;
* :func:`reference_predictions` -- untrained reference points on the test trials (scored next to
  the ridge regressions' by :func:`emokd.evaluation.linear.reference_metrics`);
* :func:`latent_metrics` -- scores against the latent valence of synthetic data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .datasets import Fold, fit_normalisers, student_inputs
from ..core.config import ExperimentConfig, eeg_columns
from ..core.permutation import permute_within_subjects
from ..errors import EmokdError
from ..io.features import load_feature_release
from ..core.metrics import fold_metrics
from ..io.prepare import load_prepared


UNTRAINED = ("ref_zero", "ref_train_mean", "ref_trial_mean_oracle")
#: every reference model of a results.json: the untrained points and the ridge regressions (:mod:`emokd.evaluation.linear`)
REFERENCES = UNTRAINED + ("ref_ridge_student", "ref_ridge_teacher")


def load_trials(data_dir, data_format: str = "prepared", *, frames: bool = True,
                unlabelled: bool = False) -> dict[str, dict]:
    """Trials by key, each with the student's input ``x`` (n_steps, n_features).

    ``frames=False`` leaves out the face frames of prepared data (most of its bytes),
    for uses that only need the EEG. ``unlabelled=True`` also loads the prepared sessions
    without labels (``prepare --unlabelled``; each with ``labelled=False`` and NaN ``valence``):
    a run's folds give them to the training subjects' ``unlabelled``
    (:func:`emokd.training.regimes.plan_folds`).

    ``prepared`` (a folder written by :mod:`emokd.io.prepare`): ``x`` is the band
    power flattened band-major (192), the teacher's input ``frames``.
    ``features`` (the public release, :mod:`emokd.io.features`): ``x`` is
    ``eeg_band_feats_full`` (128), the teacher's input ``face`` (327).
    """
    if data_format == "features":
        trials = {t["key"]: dict(t, x=t["eeg"]) for t in load_feature_release(data_dir)}
    else:
        trials = {}
        for t in load_prepared(data_dir, frames=frames, unlabelled=unlabelled):
            t["x"] = student_inputs(t["eeg_bp"])
            trials[t["key"]] = t
    if not trials:
        raise EmokdError(f"{data_dir}: no trials")
    return trials


#: the random stream of a run's label permutation (``ExperimentConfig.permute_labels``): its generator is
#: ``numpy.random.default_rng([permute_labels, PERMUTE_STREAM])``, apart from every other draw of the run
PERMUTE_STREAM = 34


def run_trials(data_dir, cfg: ExperimentConfig, *, frames: bool = True) -> dict[str, dict]:
    """The trials a run of ``cfg`` reads (every one, with the sessions without labels: :func:`load_trials`),
    with the run's controls applied once, before anything else sees them:

    - ``cfg.eeg_bands``, ``cfg.drop_channels``: the student's input ``x`` keeps only the columns of
      :attr:`~emokd.core.config.ExperimentConfig.student_columns` (in the data's order), so the student,
      its ridge reference and everything downstream read the subset;
    - ``cfg.permute_labels``: the labelled trials' valence traces permuted within each subject
      (:func:`permute_trial_labels`).

    Without either, exactly :func:`load_trials`' trials (the same objects)."""
    trials = load_trials(data_dir, cfg.data_format, frames=frames, unlabelled=True)
    columns = cfg.student_columns
    if columns is not None:
        expected = len(eeg_columns(cfg.data_format))
        width = {t["x"].shape[1] for t in trials.values()}
        if width != {expected}:
            raise EmokdError(f"{data_dir}: the student's inputs have {sorted(width)} columns, not the {expected} "
                             f"(bands x channels) of {cfg.data_format} data that eeg_bands={cfg.eeg_bands!r}, "
                             f"drop_channels={cfg.drop_channels!r} select from")
        idx = np.asarray(columns)
        for t in trials.values():
            t["x"] = np.ascontiguousarray(t["x"][:, idx])
    if cfg.permute_labels is not None:
        trials = permute_trial_labels(trials, cfg.permute_labels)
    return trials


def permute_trial_labels(trials: dict[str, dict], seed: int) -> dict[str, dict]:
    """``trials`` with every labelled trial's ``valence`` replaced by the trace of a trial of the same
    subject: :func:`emokd.core.permutation.permute_within_subjects` (the permutation of
    :func:`emokd.evaluation.stats.permutation_null`: a uniform permutation per subject, the trace resampled
    onto the receiving trial's length with ``np.interp``), drawn from
    ``numpy.random.default_rng([seed, PERMUTE_STREAM])``, subjects in ascending order, each subject's
    trials in ascending key order. Trials without labels (``labelled`` False) are untouched; so is
    anything but ``valence`` (a synthetic trial's ``latent`` stays its own). Returns a new dict of new
    trial dicts (the arrays they share with ``trials`` are not written); the valence keeps its dtype.
    EmokdError when no subject has two labelled trials (nothing could move)."""
    by_subject: dict = {}
    for k in sorted(trials):
        if trials[k].get("labelled", True) is not False:
            by_subject.setdefault(trials[k]["subject"], []).append(k)
    if not any(len(keys) > 1 for keys in by_subject.values()):
        raise EmokdError(f"permute_labels={seed!r}: no subject has two labelled trials, so no label can move "
                         "to another trial")
    subjects = sorted(by_subject)
    moved = permute_within_subjects({s: [trials[k]["valence"] for k in by_subject[s]] for s in subjects},
                                    np.random.default_rng([seed, PERMUTE_STREAM]))
    out = dict(trials)
    for s in subjects:
        for k, trace in zip(by_subject[s], moved[s]):
            out[k] = dict(trials[k], valence=trace.astype(np.asarray(trials[k]["valence"]).dtype))
    return out


@dataclass(frozen=True)
class FoldInputs:
    """A fold's partitions with normalised inputs (``parts``: ``"train" | "validation" | "test"`` (and
    ``"unlabelled"``, ``"calibration"`` when the fold has them) -> [trial, ...]) and the student's
    normaliser (``normaliser``: a :class:`~emokd.training.datasets.Normaliser` under ``train``, else the
    dict trial key -> normalising function)."""

    parts: dict
    normaliser: object


def fold_inputs(trials: dict[str, dict], fold: Fold, *, normalisation: str = "train",
                face_normalisation: str = "train") -> FoldInputs:
    """The fold's partitions with normalised inputs, and the student's normaliser.

    A fold with ``unlabelled`` or ``calibration`` trials (:mod:`emokd.training.regimes`) has those
    partitions too, each trial with ``labelled=False`` and its ``valence`` replaced by NaN (its length
    kept): a label withheld is never read. ``train`` statistics are fitted on the training pool
    (:attr:`Fold.pool`: labelled and unlabelled training trials, inputs only); with calibration
    trials, ``subject`` statistics of the test subject come from them alone.

    ``normalisation`` applies to the student's input ``x``, ``face_normalisation``
    to the facial features ``face`` when the data has them
    (:func:`emokd.training.datasets.fit_normalisers`): ``"train"`` (default) z-scores with
    the statistics of the fold's training trials only, validation and test trials
    transformed with them; ``"subject"`` with each subject's own statistics over
    all its trials (the test subject's too: a calibration on its unlabelled
    recordings); ``"none"`` leaves them as they are. Returns a :class:`FoldInputs`:
    ``parts``, ``{"train" | "validation" | "test": [trial, ...]}`` (copies; ``x``, ``face`` normalised),
    and ``normaliser``, for ``"train"`` the :class:`~emokd.training.datasets.Normaliser` of ``x``
    (otherwise the dict trial key -> normalising function).
    """
    fold_trials = {k: trials[k] for k in fold.keys}
    # a new person's evaluation trials enter no statistics when its calibration trials stand for it
    unseen = fold.test if fold.calibration else ()
    norm = fit_normalisers(fold_trials, "x", fold.pool, normalisation, unseen=unseen)
    has_face = trials[fold.train[0]].get("face") is not None
    face = (fit_normalisers(fold_trials, "face", fold.pool, face_normalisation, unseen=unseen)
            if has_face else None)

    def inputs(k, labelled=True):
        t = fold_trials[k]
        t = dict(t, x=norm[k](t["x"]), **({"face": face[k](t["face"])} if face is not None else {}))
        if not labelled:  # the label is withheld: nothing downstream can read it
            t.update(valence=np.full(len(t["valence"]), np.nan, np.float32), labelled=False)
        return t

    parts = {name: [inputs(k) for k in ks]
             for name, ks in (("train", fold.train), ("validation", fold.validation), ("test", fold.test))}
    for name in ("unlabelled", "calibration"):
        if keys := getattr(fold, name):
            parts[name] = [inputs(k, labelled=False) for k in keys]
    return FoldInputs(parts, norm[fold.train[0]] if normalisation == "train" else norm)


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
    (the ridge references: :func:`emokd.evaluation.linear.ridge_references`).
    """
    train_mean = float(np.mean(np.concatenate([trials[k]["valence"] for k in fold.train])))
    out = {name: {} for name in UNTRAINED}
    for k in fold.test:
        y = np.asarray(trials[k]["valence"], np.float64)
        out["ref_zero"][k] = np.zeros(len(y), np.float32)
        out["ref_train_mean"][k] = np.full(len(y), train_mean, np.float32)
        out["ref_trial_mean_oracle"][k] = np.full(len(y), y.mean(), np.float32)
    return out


def latent_metrics(test_trials: dict[str, dict], preds: dict[str, dict[str, np.ndarray]]) -> dict | None:
    """Every model's :func:`~emokd.core.metrics.fold_metrics` against the latent valence, or None.

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
