"""Where a teacher can pay: folds whose labels are scarce, and a new person's calibration session.

Cross-modal distillation exists for paired recordings *without* labels: a modality with a good
model (the face) supervises a paired one (the EEG) where nobody annotated. Two regimes turn the
folds of :func:`emokd.training.datasets.make_folds` into that shape; neither reads a label it
withholds (:func:`emokd.training.folddata.fold_inputs` replaces it with NaN before any model sees
the trial).

* **Scarce labels** (:func:`hide_labels`, ``ExperimentConfig.labelled_fraction`` = p): of each
  training subject's training trials, ``max(1, round(p * n))`` keep their labels, drawn with the
  seed; the rest become the fold's ``unlabelled`` trials. The teacher trains on the labelled ones
  only; the students' label term acts on the labelled ones, the teacher's term on all of them.
  Validation stays labelled. p = 1 leaves the fold as it is.
* **A new person** (:func:`split_calibration`, ``ExperimentConfig.calibration`` = c, LOSO only): the
  test subject's trials are split, with the seed, into ``calibration`` trials (face and EEG, labels
  unread; ``max(1, floor(c * n))`` of them) and evaluation trials (EEG only; the fold's ``test``,
  the only ones scored). A subject with fewer than :data:`~emokd.core.config.MIN_CALIBRATION_TRIALS`
  trials is left out (:func:`plan_folds` says which).

Trials that have no label in the data at all (sessions prepared with ``prepare --unlabelled``: the
real database's paired recordings without continuous valence, the synthetic ``unlabelled_per_subject``
trials) are a third source (:func:`add_unlabelled_data`): they never enter ``make_folds`` (train,
validation and test need labels), and each fold gives those of its training subjects to
``unlabelled``, where the taught students use them as they use withheld labels; the teacher and the
plain student never see them. Those of a held-out subject (a test subject with no labelled trial in
training or validation: under LOSO, the test subject) are not used, except with ``calibration`` > 0,
where they join the new person's ``calibration`` trials: an unannotated camera session is exactly
what calibrating to a new person has.

:func:`plan_folds` makes a configuration's folds with all of them applied.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..core.config import MIN_CALIBRATION_TRIALS, ExperimentConfig
from ..errors import EmokdError
from .datasets import Fold, make_folds

# the streams of numpy.random.default_rng([seed, stream, fold]); 0 and 1 are make_folds'
_HIDE_STREAM, _CALIBRATION_STREAM = 4, 5


@dataclasses.dataclass(frozen=True)
class FoldPlan:
    """A configuration's folds (:func:`plan_folds`): those it runs, and the LOSO folds it leaves out
    (fold number -> why: a test subject with too few trials to calibrate and score)."""

    folds: tuple[Fold, ...]
    left_out: dict

    def to_json(self) -> dict:
        return {str(k): v for k, v in sorted(self.left_out.items())}


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def hide_labels(fold: Fold, subject_of: dict[str, int], labelled_fraction: float, *, seed: int) -> Fold:
    """``fold`` with the labels of a share of each subject's training trials withheld.

    Of each subject's training trials (``fold.train``), ``max(1, round(labelled_fraction * n))`` stay
    labelled (every subject keeps one); the others move to ``fold.unlabelled``. Drawn with
    ``numpy.random.default_rng([seed, 4, fold.fold])``, subject by subject in increasing id order.
    ``labelled_fraction`` 1 returns ``fold`` itself.
    """
    if isinstance(labelled_fraction, bool) or not 0.0 < labelled_fraction <= 1.0:
        raise EmokdError(f"labelled_fraction={labelled_fraction!r}: need 0 < fraction <= 1")
    if labelled_fraction == 1.0:
        return fold
    rng = np.random.default_rng([seed, _HIDE_STREAM, fold.fold])
    by_subject: dict[int, list[str]] = {}
    for k in fold.train:
        by_subject.setdefault(subject_of[k], []).append(k)
    keep, hidden = [], []
    for s in sorted(by_subject):
        keys = sorted(by_subject[s])
        n_keep = max(1, _round_half_up(labelled_fraction * len(keys)))
        order = rng.permutation(len(keys))
        keep += [keys[i] for i in order[:n_keep]]
        hidden += [keys[i] for i in order[n_keep:]]
    return dataclasses.replace(fold, train=tuple(sorted(keep)), unlabelled=tuple(sorted(hidden + list(fold.unlabelled))))


def split_calibration(fold: Fold, calibration: float, *, seed: int) -> Fold | None:
    """``fold`` with its test trials split into ``calibration`` trials and evaluation trials (``test``).

    ``max(1, floor(calibration * n))`` of the ``n`` test trials calibrate, drawn with
    ``numpy.random.default_rng([seed, 5, fold.fold])``; the rest are scored. None when ``n`` is below
    :data:`~emokd.core.config.MIN_CALIBRATION_TRIALS`. ``calibration`` 0 returns ``fold`` itself.
    """
    if isinstance(calibration, bool) or not 0.0 <= calibration < 1.0:
        raise EmokdError(f"calibration={calibration!r}: need 0 <= share < 1")
    if calibration == 0.0:
        return fold
    n = len(fold.test)
    if n < MIN_CALIBRATION_TRIALS:
        return None
    n_cal = min(n - 2, max(1, math.floor(calibration * n)))  # at least 2 trials are scored
    order = np.random.default_rng([seed, _CALIBRATION_STREAM, fold.fold]).permutation(n)
    keys = sorted(fold.test)
    return dataclasses.replace(fold, test=tuple(sorted(keys[i] for i in order[n_cal:])),
                               calibration=tuple(sorted(keys[i] for i in order[:n_cal])))


def add_unlabelled_data(fold: Fold, subject_of: dict[str, int], unlabelled_data, *, calibrating: bool) -> Fold:
    """``fold`` with the trials that have no label in the data (``unlabelled_data``, keys of ``subject_of``)
    given to it; nothing is drawn.

    A trial of a *held-out* subject -- one with trials in ``fold.test`` but none in ``train``,
    ``validation`` or ``unlabelled`` (under LOSO the test subject; under TRS only a subject all of whose
    labelled trials are tested) -- joins ``calibration`` when ``calibrating`` (a new person's
    unannotated sessions) and is left out otherwise. Every other one joins ``unlabelled``. Each partition
    stays sorted; ``unlabelled_data`` records the trials given. No such trials: ``fold`` itself.
    """
    if not unlabelled_data:
        return fold
    seen = {subject_of[k] for k in fold.train + fold.validation + fold.unlabelled}
    held = {subject_of[k] for k in fold.test} - seen
    to_calibration = [k for k in unlabelled_data if subject_of[k] in held] if calibrating else []
    to_training = [k for k in unlabelled_data if subject_of[k] not in held]
    return dataclasses.replace(fold, unlabelled=tuple(sorted(fold.unlabelled + tuple(to_training))),
                               calibration=tuple(sorted(fold.calibration + tuple(to_calibration))),
                               unlabelled_data=tuple(sorted(to_training + to_calibration)))


def plan_folds(subject_of: dict[str, int], cfg: ExperimentConfig, *, unlabelled_data=()) -> FoldPlan:
    """The folds of ``cfg`` on trials ``subject_of`` (key -> subject): :func:`make_folds` on the labelled
    trials, then :func:`hide_labels`, :func:`split_calibration` as ``cfg`` says, then
    :func:`add_unlabelled_data`. ``unlabelled_data``: the keys of ``subject_of`` that have no label in the
    data (``labelled=False`` from :func:`emokd.training.folddata.load_trials`). With none of them and no
    regime, exactly ``make_folds``'s folds."""
    unlabelled_data = tuple(sorted(unlabelled_data))
    if unknown := sorted(set(unlabelled_data) - set(subject_of)):
        raise EmokdError(f"unlabelled_data: trials {unknown[:3]} are not in subject_of")
    labelled = {k: s for k, s in subject_of.items() if k not in set(unlabelled_data)}
    folds, left_out = [], {}
    for fold in make_folds(labelled, cfg.protocol, seed=cfg.seed, n_folds=cfg.n_folds,
                           val_fraction=cfg.val_fraction, trs_folds=cfg.trs_folds):
        fold = hide_labels(fold, labelled, cfg.labelled_fraction, seed=cfg.seed)
        split = split_calibration(fold, cfg.calibration, seed=cfg.seed)
        if split is None:
            subject = subject_of[fold.test[0]]
            left_out[fold.fold] = (f"subject {subject} has {len(fold.test)} trial(s); calibrating needs "
                                   f"{MIN_CALIBRATION_TRIALS}")
            continue
        folds.append(add_unlabelled_data(split, subject_of, unlabelled_data, calibrating=bool(cfg.calibration)))
    if not folds:
        raise EmokdError(f"calibration={cfg.calibration}: no subject has {MIN_CALIBRATION_TRIALS} trials or more")
    return FoldPlan(tuple(folds), left_out)
