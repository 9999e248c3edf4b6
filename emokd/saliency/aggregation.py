"""From per-step attributions to maps on (band, channel), and how a map compares with the planted truth.

**Per trial**: the absolute attribution (n_steps, n_features) averaged over steps ->
(n_features,), normalised to sum 1 (every trial weighs the same whatever its fold's
gradient scale); also over the steps above (``high``) and below (``low``) the trial's
median true valence (steps at the median are in neither) (:func:`trial_maps`).
**Over trials**, subjects and folds: means of these per-trial maps, reshaped to
(n_bands, 32) and normalised to sum 1 (:func:`aggregate`).

Against a planted truth map (synthetic data): the Spearman rank correlation
(:func:`emokd.evaluation.stats.spearman`, None when undefined), its ceiling under the truth's
ties (:func:`ideal_ranking_spearman`), and the AUC of the map for the planted features (:func:`truth_auc`, which the ties do
not cap). The model-free reference: each feature's |Pearson r| with valence
(:func:`feature_correlation`), what the data carries whatever a model reads. A model's
*activation pattern* (Haufe et al. 2014): each feature's |Pearson r| with the model's own output
trace (:func:`feature_correlation` again, the output in place of valence; :func:`pattern_reference`).
A gradient map is the model's *filter*: for a linear model ``w``, which with coupled features
(relative band power, volume conduction) weighs features that carry no valence, to cancel noise in
those that do; the pattern, ``cov(x, w x)``, shows what the output varies with.
"""

from __future__ import annotations

import numpy as np

from .attribution import N_CHANS, n_bands
from ..errors import EmokdError
from ..evaluation.stats import spearman


def to_band_channel(v: np.ndarray) -> np.ndarray:
    """(..., n_bands * 32) band-major -> (..., n_bands, 32): feature ``32 * b + c`` -> ``[b, c]``."""
    v = np.asarray(v)
    return v.reshape(v.shape[:-1] + (n_bands(v.shape[-1]), N_CHANS))


def normalise(m: np.ndarray) -> np.ndarray:
    """``m / m.sum()``; an all-zero map stays zero (the model ignores its input)."""
    m = np.asarray(m, np.float64)
    s = m.sum()
    return m / s if s > 0 else np.zeros_like(m)


def state_masks(valence) -> dict[str, np.ndarray]:
    """Boolean (n_steps,) masks: ``high`` above the trial's median valence, ``low`` below it."""
    y = np.asarray(valence, np.float64)
    med = np.median(y)
    return {"high": y > med, "low": y < med}


def trial_maps(per_step: np.ndarray, valence) -> dict[str, np.ndarray]:
    """One trial's (n_steps, n) attribution -> ``all``, ``high``, ``low`` maps (n,), each summing to 1."""
    a = np.abs(per_step)
    out = {"all": normalise(a.mean(axis=0))}
    for state, mask in state_masks(valence).items():
        out[state] = normalise(a[mask].mean(axis=0)) if mask.any() else None
    return out


def feature_correlation(x, y) -> np.ndarray:
    """|Pearson r| of every feature with valence over the steps: what the data carries, no model.

    Parameters
    ----------
    x : ndarray, shape (n_steps, n_features)
    y : ndarray, shape (n_steps,)

    Returns
    -------
    r : ndarray, shape (n_features,), float64, in [0, 1]; 0 for a constant feature
        (or a constant ``y``), where r is undefined.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise EmokdError(f"feature_correlation: need x (n_steps, n_features) and y (n_steps,), "
                         f"got {x.shape} and {y.shape}")
    xc, yc = x - x.mean(axis=0), y - y.mean()
    den = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (xc * yc[:, None]).sum(axis=0) / np.where(den > 0, den, 1.0), 0.0)
    return np.abs(r)


def mean_normalised_map(maps) -> np.ndarray | None:
    maps = [m for m in maps if m is not None]
    return normalise(np.mean(maps, axis=0)) if maps else None


def truth_auc(saliency_map, truth) -> float | None:
    """How often a planted feature outranks an unplanted one: the ROC AUC of the map for ``truth > 0``.

    The probability that a randomly chosen planted feature (``truth > 0``) gets more saliency
    than a randomly chosen unplanted one (``truth == 0``), ties counting one half (the
    Mann-Whitney U statistic divided by n_planted x n_unplanted). 1 = every planted feature
    first, 0.5 = chance. Unlike the Spearman correlation it is not capped by the ties of the
    unplanted features (all 0 in the truth): a sparse pattern of 9 planted features out of
    192 caps Spearman near 0.37 for a map that ranks them perfectly, but not the AUC.
    None when every feature, or none, is planted.
    """
    from scipy.stats import rankdata

    m, t = np.ravel(saliency_map).astype(np.float64), np.ravel(truth)
    pos = t > 0
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(m)  # average ranks for ties
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ideal_ranking_spearman(truth, rng, n: int = 100) -> float:
    """The ceiling of ``truth_spearman``: the mean Spearman with ``truth`` of maps that rank every
    planted feature (``truth > 0``) in the truth's order and the unplanted ones (tied at 0 in the
    truth) in random orders, over ``n`` draws of ``rng`` (a numpy Generator)."""
    truth = np.asarray(truth, np.float64)
    return float(np.mean([spearman(np.where(truth > 0, 1 + truth, rng.uniform(size=truth.shape)), truth,
                                   nan_policy="propagate")
                          for _ in range(n)]))


def _truth_scores(m, truth) -> dict:
    """``truth_spearman`` and ``truth_auc`` of a map (None without a truth or a map)."""
    if truth is None or m is None:
        return {"truth_spearman": None, "truth_auc": None}
    # None (JSON null) when undefined: a constant map, a nan in it
    return {"truth_spearman": spearman(m, truth, nan_policy="propagate", undefined=None),
            "truth_auc": truth_auc(m, truth)}


def to_lists(m):
    """A map as nested lists rounded to 8 decimals (JSON), or None."""
    return None if m is None else np.round(m, 8).tolist()


def aggregate(records: list[dict], truth: np.ndarray | None = None) -> dict:
    """Maps of one model and method from per-trial records.

    ``records``: ``{"fold", "subject", "maps": trial_maps(...)}`` per test trial.
    Returns the JSON-ready entry: ``map`` (n_bands, 32), ``band_importance``,
    ``channel_importance``, ``by_subject``, ``by_state``, ``by_fold``, ``truth_spearman``, ``truth_auc``.
    """
    def mean_map(state="all", keep=lambda r: True):  # (n_bands, 32), or None without data
        m = mean_normalised_map([r["maps"][state] for r in records if keep(r)])
        return None if m is None else to_band_channel(m)

    overall = mean_map()
    by_fold = []
    for k in sorted({r["fold"] for r in records}):
        m = mean_map(keep=lambda r, k=k: r["fold"] == k)
        by_fold.append({"fold": k, "subjects": sorted({r["subject"] for r in records if r["fold"] == k}),
                        "map": to_lists(m), **_truth_scores(m, truth)})
    return {"map": to_lists(overall), "band_importance": to_lists(overall.sum(axis=1)),
            "channel_importance": to_lists(overall.sum(axis=0)),
            "by_subject": {str(s): to_lists(mean_map(keep=lambda r, s=s: r["subject"] == s))
                           for s in sorted({r["subject"] for r in records})},
            "by_state": {state: to_lists(mean_map(state)) for state in ("high", "low")},
            **_truth_scores(overall, truth), "by_fold": by_fold}


def data_reference(fold_maps: list[tuple[int, np.ndarray]], truth: np.ndarray | None) -> dict:
    """The model-free map: mean over folds of each fold's normalised ``feature_correlation``."""
    overall = normalise(np.mean([m for _, m in fold_maps], axis=0))
    return {"what": "|Pearson r| of each feature with valence over a fold's test steps (no model), "
                    "normalised to sum 1 per fold, then averaged over folds",
            "map": to_lists(overall), "band_importance": to_lists(overall.sum(axis=1)),
            "channel_importance": to_lists(overall.sum(axis=0)), **_truth_scores(overall, truth),
            "by_fold": [{"fold": k, "map": to_lists(m), **_truth_scores(m, truth)} for k, m in fold_maps]}


def pattern_reference(fold_maps: list[tuple[int, np.ndarray]], truth: np.ndarray | None) -> dict:
    """A model's activation pattern (Haufe et al. 2014): the mean over folds of each fold's normalised
    ``feature_correlation(x, model output)`` on its test steps, as :func:`data_reference` with the
    model's trace in place of valence."""
    out = data_reference(fold_maps, truth)
    out["what"] = ("|Pearson r| of each feature with the model's own output over a fold's test steps (its "
                   "activation pattern, Haufe et al. 2014), normalised to sum 1 per fold, then averaged over folds")
    return out


def mass_by_relation(saliency_map, truth) -> dict[str, float]:
    """Where a (n_bands, 32) map's mass sits relative to a planted truth of the same shape: on the planted
    features, on the other bands of the planted electrodes (relative band power couples them), on the
    planted bands at other electrodes (volume conduction) and on the rest; shares summing to 1."""
    m, truth = normalise(np.asarray(saliency_map, np.float64)), np.asarray(truth)
    if m.shape != truth.shape:
        raise EmokdError(f"mass_by_relation: map of shape {m.shape} and truth of shape {truth.shape}: need the same")
    planted = truth > 0
    same_chan = np.broadcast_to(planted.any(axis=0), planted.shape)
    same_band = np.broadcast_to(planted.any(axis=1)[:, None], planted.shape)
    parts = {"planted": planted, "planted_electrodes_other_bands": same_chan & ~planted,
             "planted_bands_other_electrodes": same_band & ~same_chan}
    parts["rest"] = ~(planted | same_chan | same_band)
    return {k: float(m[v].sum()) for k, v in parts.items()}
