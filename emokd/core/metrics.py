"""Evaluation metrics for continuous valence: CCC, PCC and RMSE (numpy, float64).

Two ways to score a fold, both always reported:

* ``concatenated`` -- the test traces of a fold joined end to end, then scored
  once (the paper, Zhang et al. 2022). Between-trial differences in mean valence
  count, so predicting each trial's mean well already scores high.
* ``per_trial`` -- each test trial scored on its own, then averaged (Soleymani et
  al. 2016). Only the within-trial dynamics count.

CCC is Lin's (1989) concordance correlation coefficient,
``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))**2)`` with population
(biased) moments.
"""

from __future__ import annotations

import numpy as np

from ..errors import EmokdError

METRICS: tuple[str, ...] = ("rmse", "pcc", "ccc")


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    # the same steps in the same order: (n,), (n, 1) and (1, n) are one trace; (200, 2) against (2, 200)
    # holds the same number of values in another order, which flattening would pair silently
    if t.squeeze().shape != p.squeeze().shape:
        raise EmokdError(f"y_true has shape {t.shape} ({t.size} values) but y_pred has shape {p.shape} "
                         f"({p.size} values): need the same shape")
    t, p = t.ravel(), p.ravel()
    if t.size < 2:
        raise EmokdError(f"need at least 2 values to score, got {t.size}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise EmokdError("y_true or y_pred contains NaN or inf")
    return t, p


def ccc(y_true, y_pred) -> float:
    """Concordance correlation coefficient (Lin 1989), in [-1, 1].

    ``y_true``, ``y_pred`` : array_like, shape (n_steps,) (the same shape; singleton axes are
    ignored). Zero when either trace is
    constant (no covariance); NaN only when both are the same constant.
    """
    t, p = _pair(y_true, y_pred)
    mt, mp = t.mean(), p.mean()
    # a constant trace has no covariance; its computed mean can differ from its value by a
    # rounding error, which would leave a spurious covariance of ~1e-17 (hence the test)
    cov = 0.0 if _constant(t) or _constant(p) else np.mean((t - mt) * (p - mp))
    denom = t.var() + p.var() + (mt - mp) ** 2
    return float(2.0 * cov / denom) if denom > 0 else float("nan")


def pcc(y_true, y_pred) -> float:
    """Pearson correlation coefficient; NaN when either trace is constant."""
    t, p = _pair(y_true, y_pred)
    if _constant(t) or _constant(p):  # exactly, not up to the rounding error of its mean
        return float("nan")
    dt, dp = t - t.mean(), p - p.mean()
    denom = np.sqrt(np.sum(dt * dt) * np.sum(dp * dp))
    return float(np.sum(dt * dp) / denom) if denom > 0 else float("nan")


def _constant(x: np.ndarray) -> bool:
    return bool(x.min() == x.max())


def rmse(y_true, y_pred) -> float:
    """Root mean squared error, in the units of the labels."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


_FUNCS = {"rmse": rmse, "pcc": pcc, "ccc": ccc}


def score(y_true, y_pred) -> dict[str, float]:
    """``{"rmse", "pcc", "ccc"}`` of one pair of traces."""
    return {name: f(y_true, y_pred) for name, f in _FUNCS.items()}


def fold_metrics(traces: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Score a fold's test trials both ways.

    Parameters
    ----------
    traces : dict
        trial key -> (y_true, y_pred), each shape (n_steps,).

    Returns
    -------
    metrics : dict
        ``{"concatenated": {...}, "per_trial": {...}}``, each ``{"rmse", "pcc", "ccc"}``.
        Per-trial values are means over trials, ignoring trials where a metric is
        undefined (a constant prediction has no PCC); ``n_trials`` says how many.
    """
    if not traces:
        raise EmokdError("no test trials to score")
    keys = sorted(traces)
    t = np.concatenate([np.asarray(traces[k][0], dtype=np.float64) for k in keys])
    p = np.concatenate([np.asarray(traces[k][1], dtype=np.float64) for k in keys])
    per = [score(*traces[k]) for k in keys]
    per_trial = {}
    for name in METRICS:
        vals = np.array([d[name] for d in per])
        per_trial[name] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    per_trial["n_trials"] = len(keys)
    return {"concatenated": score(t, p), "per_trial": per_trial}
