"""Which band-power features does a trained EEG student read? Saliency on (band, channel).

The student maps z-scored band power ``x`` (n_steps, n_features), flattened
band-major (feature ``32 * b + c`` is band ``b`` of channel ``c``; see
:func:`emokd.datasets.student_inputs`), to a valence trace. For one trial and a
scalar ``f(x) = sum_t pred_t``, four attributions, each (n_steps, n_features):

* ``gradient`` -- ``|df/dx|`` (Simonyan et al. 2014);
* ``grad_x_input`` -- ``|x * df/dx|`` (Shrikumar et al. 2016);
* ``integrated_gradients`` -- ``|x * mean_k df/dx(alpha_k x)|``, baseline 0 (the
  training mean after z-scoring), ``alpha_k = (k + 0.5) / 32``, k = 0..31 (Riemann
  midpoint; Sundararajan et al. 2017); signed, the attributions sum to ``f(x) - f(0)``;
* ``occlusion`` -- model-agnostic: feature j set to the baseline 0 over the whole
  trial; row t is ``|pred_t - pred_t(x with j occluded)|`` (Zeiler & Fergus 2014).
  All occluded copies go through the model as one batch. Band-level (all channels
  of a band) and channel-level (all bands of a channel) occlusion are kept as a check.

Rows of the gradient methods are input steps, rows of occlusion output steps.

**Windowing.** The student is evaluated as :func:`emokd.train.predict` evaluates
it: windows of 96 steps every 32 (plus one aligned to the end), outputs averaged
where windows overlap. A full-length pass differs: the causal TCN sees zeros before
each window's start, so the first 12 steps of every later window differ (for a 2-epoch smoke
student by up to 0.29, about 1.5 SD of its prediction), and the BiLSTM student is not causal
at all. So ``f`` here is the scored prediction exactly (checked against the run's
``predictions.npz``); ``windowed=False`` gives one full-length pass instead.

**Aggregation.** Per trial: mean over steps -> (n_features,), normalised to sum 1
(every trial weighs the same whatever its fold's gradient scale); also over the
steps above (``high``) and below (``low``) the trial's median true valence (steps at
the median are in neither). Maps over trials, subjects and folds are means of these
per-trial maps, reshaped to (n_bands, 32) and normalised to sum 1.

:func:`compute_run_saliency` does this for a finished run and writes
``RUN_DIR/saliency.json`` (format ``emokd-saliency/1``), with the Spearman rank
correlation of each map with the planted ``truth_map`` of synthetic data and the AUC
of the map for the planted features (:func:`truth_auc`, which the truth's many ties
at 0 do not cap). Beside
the models it stores a model-free reference, ``references.feature_correlation``:
each feature's |Pearson r| with valence over a fold's test steps
(:func:`feature_correlation`). It shows what the data carries; the saliency maps
show what a trained model reads, which need not be the same: with correlated
features (neighbouring bands of relative power, volume conduction) a model may
lean on features that carry no valence themselves, to cancel noise in those that do.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from .bandpower import BAND_NAMES
from .config import EEG_CHANNELS, ExperimentConfig
from .datasets import Fold, window_starts
from .errors import EmokdError

log = logging.getLogger(__name__)

FORMAT = "emokd-saliency/1"
SALIENCY_FILE = "saliency.json"
METHODS: tuple[str, ...] = ("gradient", "grad_x_input", "integrated_gradients", "occlusion")
IG_STEPS = 32
N_CHANS = len(EEG_CHANNELS)


# ----------------------------------------------------------- the model as f(x)


def model_trace(model, x: torch.Tensor, *, window_steps: int | None = 96, hop_steps: int = 32,
                max_windows: int = 256) -> torch.Tensor:
    """The model's valence trace, differentiable: x (B, T, F) -> (B, T).

    With ``window_steps``: windows as :func:`emokd.train.predict` (zero-padded when
    T < window_steps), overlapping outputs averaged; None: one full-length pass.
    At most ``max_windows`` windows per forward pass (memory).
    """
    b, n, f = x.shape
    if window_steps is None:
        return model(x)[0][..., 0]
    starts = window_starts(n, window_steps, hop_steps)
    if n < window_steps:
        x = torch.nn.functional.pad(x, (0, 0, 0, window_steps - n))  # (B, W, F), zeros after the end
    w = torch.stack([x[:, s:s + window_steps] for s in starts], dim=1)  # (B, n_win, W, F)
    w = w.reshape(b * len(starts), window_steps, f)  # (B * n_win, W, F)
    out = torch.cat([model(w[i:i + max_windows])[0][..., 0] for i in range(0, len(w), max_windows)])
    out = out.reshape(b, len(starts), window_steps)  # (B, n_win, W)
    total = x.new_zeros(b, max(n, window_steps))
    count = x.new_zeros(max(n, window_steps))
    for j, s in enumerate(starts):
        total[:, s:s + window_steps] += out[:, j]
        count[s:s + window_steps] += 1
    return (total / count)[:, :n]  # (B, T)


def _as_tensor(x, device) -> torch.Tensor:
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise EmokdError(f"x must be (n_steps, n_features), got shape {x.shape}")
    return torch.from_numpy(x).to(device)


def _copies_per_pass(n_steps: int, window: dict) -> int:
    """Copies of a trial per forward pass so that a pass holds about 256 windows (memory)."""
    w = window.get("window_steps", 96) or n_steps  # model_trace's default, or one full-length pass
    return max(1, 256 // len(window_starts(n_steps, w, window.get("hop_steps", 32))))


def gradient(model, x, *, device="cpu", **window) -> np.ndarray:
    """d sum_t pred_t / dx, signed; x (T, F) -> (T, F) float64.

    ``window``: ``window_steps``, ``hop_steps`` of :func:`model_trace`. Only the
    input's gradient is computed (``torch.autograd.grad``; nothing is accumulated
    in the model's parameters).
    """
    xt = _as_tensor(x, device)[None].requires_grad_(True)  # (1, T, F)
    (g,) = torch.autograd.grad(model_trace(model, xt, **window).sum(), xt)
    return g[0].double().cpu().numpy()


def integrated_gradients(model, x, *, n_steps: int = IG_STEPS, device="cpu", **window) -> np.ndarray:
    """Integrated gradients from baseline 0, signed; x (T, F) -> (T, F) float64.

    ``x * mean_k grad f(alpha_k x)`` with ``alpha_k = (k + 0.5) / n_steps``: the
    scaled copies go through the model in batches (they do not interact in eval mode).
    """
    xt = _as_tensor(x, device)
    alphas = (torch.arange(n_steps, dtype=torch.float32, device=device) + 0.5) / n_steps
    per = _copies_per_pass(len(xt), window)
    total = torch.zeros(xt.shape, dtype=torch.float64, device=device)
    for lo in range(0, n_steps, per):
        scaled = (alphas[lo:lo + per, None, None] * xt[None]).requires_grad_(True)  # (copies, T, F)
        (g,) = torch.autograd.grad(model_trace(model, scaled, **window).sum(), scaled)
        total += g.double().sum(dim=0)
    return (xt.double() * total / n_steps).cpu().numpy()


@torch.no_grad()
def occlusion(model, x, groups=None, *, device="cpu", max_copies: int | None = None, **window) -> np.ndarray:
    """|pred - pred with a group of features set to 0 over the whole trial|, per step.

    Parameters
    ----------
    x : ndarray, shape (n_steps, n_features), z-scored
    groups : list of index arrays, optional; default one group per feature
    max_copies : int, optional, occluded copies per forward pass (default: ~256 windows)

    Returns
    -------
    delta : ndarray, shape (n_steps, n_groups), float64
    """
    xt = _as_tensor(x, device)
    groups = [np.atleast_1d(g) for g in (groups if groups is not None else range(xt.shape[1]))]
    copies = xt[None].repeat(len(groups) + 1, 1, 1)  # (1 + n_groups, T, F); copy 0 intact
    for i, g in enumerate(groups):
        copies[i + 1][:, torch.as_tensor(g, dtype=torch.long)] = 0.0
    per = max_copies or _copies_per_pass(len(xt), window)
    pred = torch.cat([model_trace(model, copies[i:i + per], **window) for i in range(0, len(copies), per)])
    return (pred[1:] - pred[:1]).abs().T.double().cpu().numpy()  # (n_groups, T) -> (T, n_groups)


def attributions(model, x, *, methods=METHODS, device="cpu", **window) -> dict[str, np.ndarray]:
    """Absolute per-step attributions of one trial: method -> (n_steps, n_features) float64.

    ``x`` (n_steps, n_features) z-scored, band-major; ``window`` as :func:`model_trace`.
    Also ``occlusion_band`` (n_steps, n_bands) and ``occlusion_channel`` (n_steps, 32)
    when ``occlusion`` is asked for. Puts ``model`` in eval mode (no dropout).
    """
    _check_methods(methods)
    model.eval()
    x = np.asarray(x, np.float32)
    out = {}
    if "gradient" in methods or "grad_x_input" in methods:
        g = gradient(model, x, device=device, **window)
        out.update({"gradient": np.abs(g), "grad_x_input": np.abs(g * x)})
    if "integrated_gradients" in methods:
        out["integrated_gradients"] = np.abs(integrated_gradients(model, x, device=device, **window))
    if "occlusion" in methods:
        n_bands = _n_bands(x.shape[1])
        feats = np.arange(x.shape[1]).reshape(n_bands, N_CHANS)  # band-major
        out["occlusion"] = occlusion(model, x, device=device, **window)
        out["occlusion_band"] = occlusion(model, x, list(feats), device=device, **window)
        out["occlusion_channel"] = occlusion(model, x, list(feats.T), device=device, **window)
    return {k: v for k, v in out.items() if k in methods or k.startswith("occlusion")}


# ---------------------------------------------------------------- aggregation


def _check_methods(methods) -> None:
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise EmokdError(f"methods {list(methods)!r}: choose from {', '.join(METHODS)}")


def _n_bands(n_features: int) -> int:
    if n_features % N_CHANS or n_features == 0:
        raise EmokdError(f"{n_features} features are not n_bands x {N_CHANS} channels")
    return n_features // N_CHANS


def to_band_channel(v: np.ndarray) -> np.ndarray:
    """(..., n_bands * 32) band-major -> (..., n_bands, 32): feature ``32 * b + c`` -> ``[b, c]``."""
    v = np.asarray(v)
    return v.reshape(v.shape[:-1] + (_n_bands(v.shape[-1]), N_CHANS))


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


def _mean_map(maps) -> np.ndarray | None:
    maps = [m for m in maps if m is not None]
    return normalise(np.mean(maps, axis=0)) if maps else None


def spearman(a, b) -> float | None:
    """Spearman rank correlation of two flattened maps (None when undefined, e.g. a constant map)."""
    from scipy.stats import spearmanr

    r = spearmanr(np.ravel(a), np.ravel(b)).statistic
    return None if not np.isfinite(r) else float(r)


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
    return float(np.mean([spearman(np.where(truth > 0, 1 + truth, rng.uniform(size=truth.shape)), truth)
                          for _ in range(n)]))


def _truth_scores(m, truth) -> dict:
    """``truth_spearman`` and ``truth_auc`` of a map (None without a truth or a map)."""
    if truth is None or m is None:
        return {"truth_spearman": None, "truth_auc": None}
    return {"truth_spearman": spearman(m, truth), "truth_auc": truth_auc(m, truth)}


def _lists(m):
    return None if m is None else np.round(m, 8).tolist()


def aggregate(records: list[dict], truth: np.ndarray | None = None) -> dict:
    """Maps of one model and method from per-trial records.

    ``records``: ``{"fold", "subject", "maps": trial_maps(...)}`` per test trial.
    Returns the JSON-ready entry: ``map`` (n_bands, 32), ``band_importance``,
    ``channel_importance``, ``by_subject``, ``by_state``, ``by_fold``, ``truth_spearman``, ``truth_auc``.
    """
    def mean_map(state="all", keep=lambda r: True):  # (n_bands, 32), or None without data
        m = _mean_map([r["maps"][state] for r in records if keep(r)])
        return None if m is None else to_band_channel(m)

    overall = mean_map()
    by_fold = []
    for k in sorted({r["fold"] for r in records}):
        m = mean_map(keep=lambda r, k=k: r["fold"] == k)
        by_fold.append({"fold": k, "subjects": sorted({r["subject"] for r in records if r["fold"] == k}),
                        "map": _lists(m), **_truth_scores(m, truth)})
    return {"map": _lists(overall), "band_importance": _lists(overall.sum(axis=1)),
            "channel_importance": _lists(overall.sum(axis=0)),
            "by_subject": {str(s): _lists(mean_map(keep=lambda r, s=s: r["subject"] == s))
                           for s in sorted({r["subject"] for r in records})},
            "by_state": {state: _lists(mean_map(state)) for state in ("high", "low")},
            **_truth_scores(overall, truth), "by_fold": by_fold}


# ------------------------------------------------------------------- a run


def _load_truth(data_dir: Path, data_format: str, n_bands: int) -> dict | None:
    """The planted truth of synthetic data: prepared manifest "source" -> ground_truth.json."""
    from .prepare import read_manifest
    from .synthetic import TRUTH_FILE

    if data_format != "prepared":
        return None
    source = (read_manifest(data_dir) or {}).get("source")
    path = Path(source) / TRUTH_FILE if source else None
    if path is None or not path.is_file():
        return None
    truth = json.loads(path.read_text())
    tm = np.asarray(truth.get("truth_map"), np.float64)
    if tm.shape != (n_bands, N_CHANS) or list(truth.get("band_names", BAND_NAMES)) != list(BAND_NAMES):
        raise EmokdError(f"{path}: 'truth_map' has shape {tm.shape} and bands {truth.get('band_names')}, "
                         f"expected ({n_bands}, {N_CHANS}) in the order {list(BAND_NAMES)}")
    return {"file": str(path), "map": tm}


def _check_models(results: dict, models, where) -> None:
    bad = [m for m in models if m not in results["models"] or m == "teacher"]
    if bad or not models:
        students = [m for m in results["models"] if m != "teacher"]
        raise EmokdError(f"{where}: models {list(models)!r}: choose from the run's students {', '.join(students)} "
                         "(the teacher reads faces, not band power)")


def compute_run_saliency(run_dir, *, methods=METHODS, models=("student", "student_kd"), device="cpu",
                         windowed: bool = True, n_threads: int | None = 1, write: bool = True, out=None) -> dict:
    """Saliency of each fold's students on its test trials; writes ``OUT/saliency.json``.

    ``out`` defaults to ``run_dir``; ``run_dir`` itself is only read (a finished run
    on a read-only share can write its saliency elsewhere).

    ``n_threads`` sets torch's CPU threads for the call (restored after; None: leave
    torch's setting). The default is 1: the batches are small, and on a 2-core CPU that
    another job kept busy, 2 threads took 7x longer than 1 (book-sized trials: 193 s
    vs 26 s per model), the threads waiting on each other.

    Rebuilds every fold from ``results.json`` (its training/validation/test trials;
    z-scores from the training trials, :func:`emokd.experiment.fold_inputs`), loads
    ``folds/fold_XX/<model>.pt`` and computes :func:`attributions` on each test trial.

    Returns
    -------
    saliency : dict
        What ``saliency.json`` holds: ``format``, ``bands``, ``channels``, ``methods``,
        ``truth`` ({"file", "map"} or None), ``models`` -> model -> method -> :func:`aggregate`'s
        entry (occlusion also has ``band_occlusion`` (n_bands,) and ``channel_occlusion`` (32,)),
        ``checks`` (max |trace - saved prediction| per model and fold), ``seconds``.
    """
    if n_threads is not None and n_threads < 1:
        raise EmokdError(f"n_threads={n_threads!r}: need >= 1")
    old = torch.get_num_threads()
    if n_threads:
        torch.set_num_threads(n_threads)
    try:
        return _run_saliency(Path(run_dir), tuple(methods), tuple(models), device, windowed, write, out)
    finally:
        torch.set_num_threads(old)


def _run_saliency(run_dir: Path, methods, models, device, windowed: bool, write: bool, out=None) -> dict:
    from .experiment import fold_inputs, load_trials
    from .prepare import write_json
    from .report import load_results
    from .train import load_model, resolve_device

    t0 = time.perf_counter()
    _check_methods(methods)
    results = load_results(run_dir)
    where = run_dir / "results.json"
    _check_models(results, models, where)
    try:
        cfg = ExperimentConfig.from_json(results["config"])
        data = Path(results["data"])
    except (KeyError, TypeError) as err:
        raise EmokdError(f"{where}: field 'config' or 'data' is missing or invalid ({err})") from None
    device = resolve_device(device)
    trials = load_trials(data, cfg.data_format, frames=False)  # the students read band power only
    n_feat = next(iter(trials.values()))["x"].shape[1]
    n_bands = _n_bands(n_feat)
    bands = list(BAND_NAMES) if cfg.data_format == "prepared" else list(_feature_bands())
    if len(bands) != n_bands:
        raise EmokdError(f"{data}: {n_feat} student features, but {len(bands)} bands {bands} x {N_CHANS} channels")
    truth = _load_truth(data, cfg.data_format, n_bands)
    st = cfg.student_train
    window = {"window_steps": st.window_steps if windowed else None, "hop_steps": st.hop_steps}
    records = {m: {k: [] for k in (*methods, "occlusion_band", "occlusion_channel")} for m in models}
    checks = {m: {} for m in models}
    data_maps = []  # per fold: feature_correlation over its test steps
    for f in results["folds"]:
        try:
            fold = Fold(f["fold"], *(tuple(f[p]["trials"]) for p in ("train", "validation", "test")))
        except (KeyError, TypeError) as err:
            raise EmokdError(f"{where}: fold {f.get('fold')!r} has no train/validation/test trials ({err})") from None
        missing = [k for k in fold.train + fold.validation + fold.test if k not in trials]
        if missing:
            raise EmokdError(f"{where}: fold {fold.fold} names trials {missing} that {data} does not have")
        parts, _ = fold_inputs(trials, fold, normalisation=cfg.normalisation,
                               face_normalisation=cfg.face_normalisation)
        r = feature_correlation(np.concatenate([t["x"] for t in parts["test"]]),
                                np.concatenate([t["valence"] for t in parts["test"]]))
        data_maps.append((fold.fold, to_band_channel(normalise(r))))
        saved = _saved_predictions(run_dir, f)
        for name in models:
            model, _ = load_model(run_dir / "folds" / f"fold_{fold.fold:02d}" / f"{name}.pt", device=str(device))
            model.eval()
            diff = 0.0
            for t in parts["test"]:
                with torch.no_grad():
                    trace = model_trace(model, _as_tensor(t["x"], device)[None], **window)[0].cpu().numpy()
                if saved is not None and f"{t['key']}__{name}" in saved:
                    diff = max(diff, float(np.abs(trace - saved[f"{t['key']}__{name}"]).max()))
                for method, a in attributions(model, t["x"], methods=methods, device=device, **window).items():
                    records[name][method].append({"fold": fold.fold, "subject": int(t["subject"]),
                                                  "maps": trial_maps(a, t["valence"])})
            checks[name][str(fold.fold)] = diff if saved is not None else None
            if windowed and saved is not None and diff > 1e-3:
                log.warning("%s fold %d: recomputed predictions differ from the saved ones by %.3g "
                            "(did the data change since the run?)", name, fold.fold, diff)
    tm = truth["map"] if truth else None
    out_models = {}
    for name in models:
        out_models[name] = {m: aggregate(records[name][m], tm) for m in methods}
        if "occlusion" in methods:
            for group in ("band", "channel"):
                recs = records[name][f"occlusion_{group}"]
                out_models[name]["occlusion"][f"{group}_occlusion"] = _lists(_mean_map([r["maps"]["all"]
                                                                                          for r in recs]))
    saliency = {"format": FORMAT, "run": str(run_dir.resolve()), "data": str(data), "bands": bands,
                "channels": list(EEG_CHANNELS), "methods": list(methods),
                "windowing": window if windowed else "full-length", "ig_steps": IG_STEPS, "baseline": 0.0,
                "truth": {"file": truth["file"], "map": truth["map"].tolist()} if truth else None,
                "models": out_models, "references": {"feature_correlation": _data_reference(data_maps, tm)},
                "checks": {"max_abs_diff_vs_saved_predictions": checks},
                "seconds": round(time.perf_counter() - t0, 2)}
    if write:
        out = Path(out) if out is not None else run_dir
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / SALIENCY_FILE, saliency)
    return saliency


def _data_reference(fold_maps: list[tuple[int, np.ndarray]], truth: np.ndarray | None) -> dict:
    """The model-free map: mean over folds of each fold's normalised ``feature_correlation``."""
    overall = normalise(np.mean([m for _, m in fold_maps], axis=0))
    return {"what": "|Pearson r| of each feature with valence over a fold's test steps (no model), "
                    "normalised to sum 1 per fold, then averaged over folds",
            "map": _lists(overall), "band_importance": _lists(overall.sum(axis=1)),
            "channel_importance": _lists(overall.sum(axis=0)), **_truth_scores(overall, truth),
            "by_fold": [{"fold": k, "map": _lists(m), **_truth_scores(m, truth)} for k, m in fold_maps]}


def _feature_bands():
    from .features import EEG_BANDS

    return EEG_BANDS


def _saved_predictions(run_dir: Path, fold: dict) -> dict | None:
    path = run_dir / str(fold.get("predictions", ""))
    if not fold.get("predictions") or not path.is_file():
        return None
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def summary_table(saliency: dict) -> str:
    """Markdown: truth_spearman and truth_auc per model and method, or band importance without a truth."""
    methods, bands = saliency["methods"], saliency["bands"]
    if saliency.get("truth") is not None:
        ref = saliency.get("references", {}).get("feature_correlation")
        parts = []
        for key, what in (
            ("truth_spearman", "Spearman rank correlation of the saliency map with the planted truth map"),
            ("truth_auc", "AUC: how often a planted feature gets more saliency than an unplanted one"),
        ):
            lines = ["| model | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
            for name, entry in saliency["models"].items():
                cells = [entry[m].get(key) for m in methods]
                lines.append(f"| {name} | " + " | ".join("n/a" if c is None else f"{c:.3f}" for c in cells) + " |")
            text = what + "\n\n" + "\n".join(lines)
            if ref is not None and ref.get(key) is not None:
                text += ("\n\nThe data without a model (each feature's |r| with valence on the test steps): "
                         f"{ref[key]:.3f}")
            parts.append(text)
        return "\n\n".join(parts)
    lines = ["| model | method | " + " | ".join(bands) + " |", "|---|---|" + "---:|" * len(bands)]
    for name, entry in saliency["models"].items():
        for m in methods:
            lines.append(f"| {name} | {m} | " + " | ".join(f"{v:.3f}" for v in entry[m]["band_importance"]) + " |")
    ref = saliency.get("references", {}).get("feature_correlation")
    if ref is not None:
        lines.append("| data, no model | \\|r\\| with valence | "
                     + " | ".join(f"{v:.3f}" for v in ref["band_importance"]) + " |")
    return "Band importance (share of the saliency map)\n\n" + "\n".join(lines)
