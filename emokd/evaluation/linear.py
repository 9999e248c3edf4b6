"""Ridge regression references: a linear model per fold on the same inputs as the networks.

A ridge regression (:class:`RidgePath`, checked against scikit-learn's ``Ridge``)
maps each label step's features to that step's valence, with no temporal
context. It is fitted on every step of the fold's training trials, its
regularisation ``alpha`` chosen from :data:`ALPHAS` by the CCC of the
concatenated validation traces (the criterion the networks' best epoch is
chosen by), then it predicts the test trials. It is not refitted on
training + validation, as the networks are not.

Two references per fold (:func:`ridge_references`), both on the run's
normalisation (:func:`emokd.training.folddata.fold_inputs`):

- ``ref_ridge_student`` -- on the student's input ``x`` (band power);
- ``ref_ridge_teacher`` -- on the teacher's input: the facial features ``face``
  of the feature release, or, on face frames, :func:`frame_features` (each
  step's middle frame, centre crop, 2 x 2 mean-pooled pixels: the teacher's view
  at evaluation, made small enough for a linear model), z-scored as the run's
  ``face_normalisation`` says.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..core.config import ExperimentConfig
from ..core.constants import FRAME_MEAN, FRAME_STD
from ..training.datasets import Fold, fit_normalisers
from ..errors import EmokdError
from ..training.folddata import fold_inputs, latent_metrics, reference_predictions
from ..core.metrics import ccc, fold_metrics

#: regularisation strengths tried (scikit-learn's ``alpha``: penalty on the sum of squared errors)
ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 6, 17))


def _stack(trials: list[dict], field: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([np.asarray(t[field], np.float64) for t in trials])
    y = np.concatenate([np.asarray(t["valence"], np.float64) for t in trials])
    return x, y


class RidgePath:
    """Ridge regressions with an intercept for many alphas from one SVD.

    Minimises ``||y - X w - b||^2 + alpha ||w||^2`` (the intercept ``b`` is not
    penalised; scikit-learn's ``Ridge(alpha, fit_intercept=True)``). With the
    centred training data ``Xc`` and the eigendecomposition of its Gram matrix
    ``Xc^T Xc = V diag(lam) V^T``,
    ``w(alpha) = V diag(1 / (lam + alpha)) V^T Xc^T (y - mean(y))``: one
    (n_features, n_features) decomposition serves every alpha (an SVD of the
    (n_samples, n_features) data costs ten times more).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    """

    def __init__(self, x: np.ndarray, y: np.ndarray):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] < 2:
            raise EmokdError(f"ridge: x {x.shape} and y {y.shape}: need (n, p) and (n,) with n >= 2")
        self.x_mean, self.y_mean = x.mean(axis=0), y.mean()
        xc = x - self.x_mean
        lam, self.v = np.linalg.eigh(xc.T @ xc)  # (p,), (p, p)
        self.lam = np.clip(lam, 0.0, None)  # rounding can make a zero eigenvalue slightly negative
        self.vtb = self.v.T @ (xc.T @ (y - self.y_mean))  # (p,)

    def coef(self, alpha: float) -> tuple[np.ndarray, float]:
        """Weights (n_features,) and intercept for ``alpha`` (> 0)."""
        w = self.v @ (self.vtb / (self.lam + alpha))
        return w, float(self.y_mean - self.x_mean @ w)

    def predict(self, x: np.ndarray, alpha: float) -> np.ndarray:
        """(n, n_features) -> (n,) predictions of the model with ``alpha``."""
        w, b = self.coef(alpha)
        return np.asarray(x, np.float64) @ w + b


@dataclasses.dataclass(frozen=True)
class RidgeFit:
    """A ridge reference's test predictions (trial key -> (n_steps,) float32) and how it was fitted
    (``alpha`` chosen, its ``val_ccc``, ``val_ccc_by_alpha``; for several models, name -> that)."""

    predictions: dict
    info: dict


@dataclasses.dataclass(frozen=True)
class ReferenceScores:
    """Every reference's metrics on a fold's test trials (name -> :func:`emokd.core.metrics.fold_metrics`),
    the ridge models' fits (``ridge``: name -> info) and the metrics against the latent valence (synthetic
    data; None on real data)."""

    metrics: dict
    ridge: dict
    latent: dict | None


def ridge_fit_predict(parts: dict[str, list[dict]], field: str, *, alphas=ALPHAS) -> RidgeFit:
    """Ridge on ``field`` of the training trials, alpha by validation CCC, predictions on the test trials.

    Parameters
    ----------
    parts : dict
        ``{"train" | "validation" | "test": [trial, ...]}``, each trial with ``key``,
        ``valence`` (n_steps,) and ``field`` (n_steps, n_features), already normalised.
    field : str
    alphas : sequence of float > 0; ties in validation CCC go to the larger alpha

    Returns
    -------
    RidgeFit
        ``predictions``: test trial key -> (n_steps,) float32; ``info``: ``alpha`` (chosen),
        ``val_ccc`` (its validation CCC), ``val_ccc_by_alpha``.
    """
    if not alphas or min(alphas) <= 0:
        raise EmokdError(f"ridge: alphas {alphas!r}: need at least one, all > 0")
    path = RidgePath(*_stack(parts["train"], field))
    x_va, y_va = _stack(parts["validation"], field)
    scores = []
    for alpha in alphas:
        c = ccc(y_va, path.predict(x_va, alpha))
        scores.append(float(c) if np.isfinite(c) else -1.0)  # a constant prediction: worse than anything useful
    best = max(range(len(alphas)), key=lambda i: (scores[i], alphas[i]))
    alpha = float(alphas[best])
    preds = {t["key"]: path.predict(t[field], alpha).astype(np.float32) for t in parts["test"]}
    info = {"alpha": alpha, "val_ccc": scores[best],
            "val_ccc_by_alpha": {f"{a:g}": sc for a, sc in zip(alphas, scores)}}
    return RidgeFit(preds, info)


def frame_features(frames: np.ndarray, *, crop: int = 40, pool: int = 2) -> np.ndarray:
    """Face frames -> pixels per step for a linear model.

    Parameters
    ----------
    frames : ndarray, uint8, shape (n_steps, k, H, W)
    crop : int, side of the centre crop (the teacher's evaluation crop)
    pool : int, side of the mean-pooling blocks

    Returns
    -------
    x : ndarray, float32, shape (n_steps, (crop // pool) ** 2): the middle frame of
        each step, centre-cropped, scaled as the teacher's input
        (``(pixel / 255 - 0.5) / 0.5``) and mean-pooled, flattened row-major.
    """
    n, k, h, w = frames.shape
    if crop > min(h, w) or crop % pool:
        raise EmokdError(f"crop {crop}, pool {pool} for {h}x{w} frames: need crop <= side, crop divisible by pool")
    oy, ox = (h - crop) // 2, (w - crop) // 2
    x = frames[:, k // 2, oy:oy + crop, ox:ox + crop].astype(np.float32)  # (n, crop, crop)
    x = (x / 255.0 - FRAME_MEAN) / FRAME_STD
    x = x.reshape(n, crop // pool, pool, crop // pool, pool).mean(axis=(2, 4))  # (n, crop/pool, crop/pool)
    return x.reshape(n, -1).astype(np.float32)


def ridge_references(trials: dict[str, dict], fold, *, normalisation: str = "train",
                     face_normalisation: str = "train", crop: int = 40, alphas=ALPHAS,
                     pixels: dict | None = None) -> RidgeFit:
    """``ref_ridge_student`` and ``ref_ridge_teacher`` on the fold's test trials.

    ``trials``: key -> trial dict with ``x`` and either ``face`` (the feature
    release) or ``frames`` (prepared data); ``fold`` an :class:`emokd.training.datasets.Fold`.
    ``pixels``: trial key -> :func:`frame_features` of its frames, filled as they are
    computed: pass one dict to every fold's call and each trial's are computed once.
    Returns a :class:`RidgeFit` whose ``predictions`` are ``{name: {test key: (n_steps,) float32}}`` and
    ``info`` ``{name: info}``; without a teacher input, only ``ref_ridge_student``.
    """
    parts = fold_inputs(trials, fold, normalisation=normalisation, face_normalisation=face_normalisation).parts
    fits = {"ref_ridge_student": ridge_fit_predict(parts, "x", alphas=alphas)}
    first = trials[fold.train[0]]
    if first.get("face") is not None:
        fits["ref_ridge_teacher"] = ridge_fit_predict(parts, "face", alphas=alphas)
    elif first.get("frames") is not None:
        keys = fold.keys
        pixels = {} if pixels is None else pixels
        for k in keys:
            if k not in pixels:
                pixels[k] = frame_features(trials[k]["frames"], crop=crop)
        pix = {k: {"subject": trials[k]["subject"], "px": pixels[k]} for k in keys}
        norm = fit_normalisers(pix, "px", fold.pool, face_normalisation,
                               unseen=fold.test if fold.calibration else ())
        fparts = {p: [dict(t, px=norm[t["key"]](pix[t["key"]]["px"])) for t in ts] for p, ts in parts.items()}
        fits["ref_ridge_teacher"] = ridge_fit_predict(fparts, "px", alphas=alphas)
    return RidgeFit({n: f.predictions for n, f in fits.items()}, {n: f.info for n, f in fits.items()})


def reference_metrics(trials: dict[str, dict], fold: Fold, cfg: ExperimentConfig, *,
                      pixels: dict | None = None) -> ReferenceScores:
    """Metrics of every reference on the fold's test trials, and the ridge models' chosen alphas.
    ``pixels``: a cache of the frames' pixel features shared by the folds (:func:`ridge_references`)."""
    refs = reference_predictions(trials, fold)
    ridge = ridge_references(trials, fold, normalisation=cfg.normalisation,
                             face_normalisation=cfg.face_normalisation, crop=cfg.teacher.frame_size, pixels=pixels)
    refs.update(ridge.predictions)
    metrics = {name: fold_metrics({k: (trials[k]["valence"], p[k]) for k in fold.test}) for name, p in refs.items()}
    latent = latent_metrics({k: trials[k] for k in fold.test}, refs)
    return ReferenceScores(metrics, ridge.info, latent)
