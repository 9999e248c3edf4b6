"""Playgrounds: move a parameter and watch what it does to a score or a feature.

Three explorers for the chapters, each in three layers (as :mod:`emokd.saliency.explorer`):

* a pure function that computes what is shown (numpy in, numpy or dicts out);
* a static HTML fragment (:mod:`emokd.teaching.playgrounds_html`: inline SVG and a little vanilla
  JavaScript, the data embedded as JSON, no URL) that works in the built book without
  a kernel;
* an ipywidgets version here, that redraws with matplotlib on every change (needs a
  live kernel: Jupyter, Binder, Colab).

The explorers:

* **CCC playground** (:func:`distort`, :func:`playground_scores`,
  :func:`ccc_playground_widget`): a prediction made from the true trace by an
  offset, a scale, noise and a lag; its CCC, PCC and RMSE
  (:mod:`emokd.core.metrics`).
* **Band power against window and hop** (:func:`band_power_grid`,
  :func:`bandpower_widget`): the relative band power of one channel of a recording
  for every (window, hop) of a grid, with the valence trace interpolated at the
  window centres.
* **The KD study by condition** (:func:`kd_study_units`, :func:`kd_study_summary`,
  :func:`kd_study_widget`): every fold x seed unit of ``results/kd-study/results.json``
  by annotation noise, face-only content and KD weight, read from the file, never
  hard-coded.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..core import metrics, style
from ..core.constants import BAND_NAMES, BANDS
from ..evaluation.stats import t_interval
from ..signal.bandpower import band_power
from ..errors import EmokdError

#: label rate of the traces the CCC playground distorts (Hz)
LABEL_RATE_HZ = 4.0
#: slider ranges of the CCC playground: name -> (min, max, step, initial)
CCC_CONTROLS = {
    "offset": (-2.0, 2.0, 0.1, 0.0),  # in SDs of the true trace
    "scale": (0.0, 3.0, 0.1, 1.0),  # times the true swing around its mean
    "noise": (0.0, 2.0, 0.1, 0.0),  # SD of added white noise, in SDs of the trace
    "lag": (0.0, 10.0, 0.25, 0.0),  # s the prediction comes late
}
NOISE_DECIMALS = 4  # the embedded noise vector is rounded to this; Python uses the same values


# ------------------------------------------------------------------- the CCC playground


def noise_vector(n_steps: int, seed: int = 0) -> np.ndarray:
    """The playground's fixed standard-normal noise, shape (n_steps,), rounded to ``NOISE_DECIMALS``.

    Fixed so that moving the noise slider scales one draw instead of drawing anew;
    rounded so that the static page (which embeds it) computes exactly what Python does.
    """
    z = np.random.default_rng(seed).standard_normal(int(n_steps))
    return np.round(z, NOISE_DECIMALS)


def distort(y, *, offset: float = 0.0, scale: float = 1.0, noise: float = 0.0,
            lag_s: float = 0.0, z=None, rate_hz: float = LABEL_RATE_HZ) -> np.ndarray:
    """A prediction made from the true trace ``y``: late, shifted, stretched and noisy.

    ``pred[t] = m + scale * (y[t - lag] - m) + sd * (offset + noise * z[t])`` with ``m``,
    ``sd`` the mean and SD of ``y``; the first ``lag`` steps repeat ``y[0]`` (the
    prediction has not started moving yet).

    Parameters
    ----------
    y : array_like, shape (n_steps,), the true trace at ``rate_hz``
    offset : float, the level shift, in SDs of ``y``
    scale : float, the swing around the mean, as a multiple of the true one
    noise : float, SD of the added noise, in SDs of ``y``
    lag_s : float, seconds the prediction comes late (rounded to whole steps)
    z : array_like, shape (n_steps,), optional; the noise draw
        (default :func:`noise_vector` with seed 0)

    Returns
    -------
    pred : ndarray of float64, shape (n_steps,)
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size < 2 or not np.isfinite(y).all():
        raise EmokdError(f"y must hold at least 2 finite values, got {y.size}")
    if lag_s < 0:
        raise EmokdError(f"lag_s={lag_s!r}: a prediction cannot come early here; use lag_s >= 0")
    z = noise_vector(y.size) if z is None else np.asarray(z, dtype=np.float64).ravel()
    if z.shape != y.shape:
        raise EmokdError(f"z has {z.size} values, y has {y.size}")
    lag = min(int(round(lag_s * rate_hz)), y.size)
    late = np.concatenate([np.full(lag, y[0]), y[: y.size - lag]])
    m, sd = y.mean(), y.std()
    return m + scale * (late - m) + sd * (offset + noise * z)


def playground_scores(y, pred) -> dict:
    """``{"ccc", "pcc", "rmse"}`` of ``pred`` against ``y`` (:mod:`emokd.core.metrics`);
    PCC is NaN for a constant prediction (scale 0 without noise): its deviations from its own
    mean are rounding error, not a signal (the static page does the same)."""
    p = np.asarray(pred, dtype=np.float64)
    flat = np.ptp(p) <= 1e-12 * max(1.0, float(np.abs(p).max()))
    return {"ccc": 0.0 if flat else metrics.ccc(y, p), "pcc": math.nan if flat else metrics.pcc(y, p),
            "rmse": metrics.rmse(y, p)}


def ccc_playground_widget(y, *, title: str = "a test trace"):
    """The live CCC playground: sliders for offset, scale, noise and lag; the traces and scores.

    Returns
    -------
    box : ipywidgets.VBox, with ``box.controls`` (name -> FloatSlider), ``box.output`` and
        ``box.redraw()``
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    y = np.asarray(y, dtype=np.float64).ravel()
    z = noise_vector(y.size)
    t_s = np.arange(y.size) / LABEL_RATE_HZ
    names = {"offset": "offset (SD)", "scale": "scale (x)", "noise": "noise (SD)",
             "lag": "lag (s)"}
    controls = {k: widgets.FloatSlider(value=v0, min=lo, max=hi, step=step, description=names[k],
                                       continuous_update=False)
                for k, (lo, hi, step, v0) in CCC_CONTROLS.items()}
    out = widgets.Output()

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        pred = distort(y, offset=v["offset"], scale=v["scale"], noise=v["noise"], lag_s=v["lag"], z=z)
        s = playground_scores(y, pred)
        with out:
            out.clear_output(wait=True)
            fig, (ax, bx) = plt.subplots(1, 2, figsize=(style.PAGE_WIDTH_IN, 2.8), width_ratios=[3, 1],
                                         layout="constrained")
            ax.plot(t_s, y, color=style.model_colour("labels"), lw=2, label="truth")
            ax.plot(t_s, pred, color="tab:orange", lw=1.2, label="prediction")
            ax.set(xlabel="time (s)", ylabel="valence", title=title)
            ax.legend(fontsize="small", loc="upper left")
            bx.bar(["CCC", "PCC"], [s["ccc"], np.nan_to_num(s["pcc"])],
                   color=["tab:blue", "tab:gray"])
            bx.axhline(0, color="black", lw=0.6)
            bx.set(ylim=(-1, 1), title=f"RMSE {s['rmse']:.3g}")
            plt.show(fig)

    return _live_box(controls, out, redraw)


# ------------------------------------------------------------ band power against window and hop


def band_power_grid(x, sfreq: float, *, windows_s=(1.0, 2.0, 4.0, 8.0), hops_s=(0.25, 0.5, 1.0, 2.0),
                    start_s: float = 0.0, bands=BANDS) -> dict:
    """Relative band power of ``x`` for every (window, hop) of a grid.

    The Welch segment is ``min(1 s, window)`` (the recipe's 1 s, or the whole window
    when it is shorter), so a 2 s window is exactly the recipe of :mod:`emokd.signal.bandpower`.

    Parameters
    ----------
    x : array_like, shape (n_channels, n_times), the signal (V)
    sfreq : float, Hz
    windows_s, hops_s : sequences of float, window lengths and hops to compute, in s
    start_s : float, the time of sample 0 (e.g. -1 for a crop that starts 1 s before
        the stimulus), so that window centres are in the labels' time

    Returns
    -------
    grid : dict ``(window_s, hop_s) -> {"centre_s": ndarray (n_windows,),
        "power": ndarray (n_windows, n_bands, n_channels)}``; combinations that give
        no window (a window longer than the signal) are left out
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    grid = {}
    for w in windows_s:
        for h in hops_s:
            if int(round(w * sfreq)) > x.shape[1]:
                continue
            p = band_power(x, sfreq, bands=bands, window_s=w, hop_s=h, welch_s=min(1.0, w))
            centre = start_s + np.arange(p.shape[0]) * h + w / 2
            grid[(float(w), float(h))] = {"centre_s": centre, "power": p}
    if not grid:
        raise EmokdError(f"x has {x.shape[1]} samples: shorter than every window of {windows_s} s")
    return grid


def valence_at(valence, times_s, rate_hz: float = LABEL_RATE_HZ) -> np.ndarray:
    """The valence trace (label step k at k / rate_hz s) linearly interpolated at ``times_s``."""
    v = np.asarray(valence, dtype=np.float64).ravel()
    return np.interp(np.asarray(times_s, dtype=np.float64), np.arange(v.size) / rate_hz, v)


def grid_summary(grid: dict, valence, *, band: str = "gamma", channel: int = 0,
                 band_names=BAND_NAMES) -> list[dict]:
    """One row per (window, hop): number of windows, windows per second, frequency resolution,
    the band's SD over time and its Pearson r with valence at the window centres."""
    b = list(band_names).index(band)
    rows = []
    for (w, h), g in grid.items():
        p = g["power"][:, b, channel]
        v = valence_at(valence, g["centre_s"])
        r = float(np.corrcoef(p, v)[0, 1]) if p.size > 2 and p.std() > 0 and v.std() > 0 else math.nan
        rows.append({"window_s": w, "hop_s": h, "n_windows": p.size, "windows_per_s": 1 / h,
                     "resolution_hz": 1 / min(1.0, w), "sd": float(p.std()), "r_valence": r})
    return rows


def bandpower_widget(x, sfreq: float, valence, *, channel_names, start_s: float = 0.0,
                     windows_s=(1.0, 2.0, 4.0, 8.0), hops_s=(0.25, 0.5, 1.0, 2.0)):
    """The live band-power explorer: window, hop, band and channel; the band's power and valence.

    Returns
    -------
    box : ipywidgets.VBox, with ``box.controls``, ``box.output`` and ``box.redraw()``
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    grid = band_power_grid(x, sfreq, windows_s=windows_s, hops_s=hops_s, start_s=start_s)
    controls = {
        "window": widgets.Dropdown(options=[(f"{w:g} s", w) for w in windows_s], value=2.0
                                   if 2.0 in windows_s else windows_s[0], description="window"),
        "hop": widgets.Dropdown(options=[(f"{h:g} s", h) for h in hops_s], value=0.25
                                if 0.25 in hops_s else hops_s[0], description="hop"),
        "band": widgets.Dropdown(options=list(BAND_NAMES), value="gamma", description="band"),
        "channel": widgets.Dropdown(options=list(channel_names), description="channel"),
    }
    out = widgets.Output()

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        g = grid.get((float(v["window"]), float(v["hop"])))
        with out:
            out.clear_output(wait=True)
            if g is None:
                print("no window of this length fits in the recording")
                return
            b, c = BAND_NAMES.index(v["band"]), list(channel_names).index(v["channel"])
            p = g["power"][:, b, c]
            fig, ax = plt.subplots(figsize=(style.PAGE_WIDTH_IN, 3), layout="constrained")
            ax.plot(g["centre_s"], p, ".-", color="tab:blue", ms=3, lw=1)
            ax.set(xlabel="window centre (s from stimulus start)", ylabel="relative power",
                   title=f"{v['band']} at {v['channel']}: {p.size} windows of {v['window']:g} s "
                         f"every {v['hop']:g} s")
            vx = ax.twinx()
            vx.plot(g["centre_s"], valence_at(valence, g["centre_s"]), color="tab:red", lw=1)
            vx.set_ylabel("valence", color="tab:red")
            plt.show(fig)

    return _live_box(controls, out, redraw)


# ------------------------------------------------------------------------ the KD study

_CONDITION = re.compile(r"noise(?P<noise>[0-9.]+)_private(?P<private>[0-9.]+)(?:_w(?P<w>[0-9.]+))?$")
MODELS = ("teacher", "student", "student_kd")
TARGETS = ("labels", "latent")
SCHEMES = ("concatenated", "per_trial")


def parse_condition(name: str, default_weight: float = 1.0) -> dict:
    """``"noise0.5_private1"`` (optionally ``..._w10``) -> {"noise", "private", "kd_weight"}."""
    m = _CONDITION.match(name)
    if m is None:
        raise EmokdError(f"condition {name!r}: expected noise<n>_private<p>[_w<weight>]")
    w = m.group("w")
    return {"noise": float(m.group("noise")), "private": float(m.group("private")),
            "kd_weight": float(w) if w is not None else float(default_weight)}


def kd_study_units(study: dict) -> list[dict]:
    """Every fold x seed unit of a KD study (``results/kd-study/results.json``) as flat rows.

    Each row: condition, noise, private (face-only content, SD), kd_weight, seed, fold,
    and for every target (labels, latent) and scheme (concatenated, per_trial) the CCC
    of each model, ``<model>_<target>_<scheme>``, and the KD gain,
    ``gain_<target>_<scheme>`` = student_kd - student (NaN where a score is missing).
    """
    if "folds" not in study:
        raise EmokdError("not a KD-study results file: no 'folds' (studies/bench_kd_study.py writes it)")
    rows = []
    for cond, units in study["folds"].items():
        info = parse_condition(cond, study.get("kd_weight", 1.0))
        for u in units:
            row = {"condition": cond, **info, "seed": int(u["seed"]), "fold": int(u["fold"])}
            for target in TARGETS:
                for scheme in SCHEMES:
                    for model in MODELS:
                        row[f"{model}_{target}_{scheme}"] = float(u.get(f"{model}_{target}_{scheme}", math.nan))
                    row[f"gain_{target}_{scheme}"] = (row[f"student_kd_{target}_{scheme}"]
                                                      - row[f"student_{target}_{scheme}"])
            rows.append(row)
    return rows


def mean_ci(values, level: float = 0.95) -> dict:
    """Mean, SD, t-interval (:func:`emokd.evaluation.stats.t_interval`) and count of the finite values
    (NaN interval with fewer than 2)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": math.nan, "sd": math.nan, "ci95": [math.nan, math.nan], "n": 0, "n_positive": 0}
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "sd": math.nan, "ci95": [math.nan, math.nan], "n": 1,
                "n_positive": int((v > 0).sum())}
    sd = float(v.std(ddof=1))
    return {"mean": mean, "sd": sd, "ci95": t_interval(mean, sd, int(v.size), level=level), "n": int(v.size),
            "n_positive": int((v > 0).sum())}


def kd_study_summary(units: list[dict], *, target: str = "latent", scheme: str = "concatenated") -> list[dict]:
    """Per condition (noise, private, kd_weight): the KD gain's mean and 95 % interval over its
    units, and every model's mean CCC; sorted by kd_weight, private, noise."""
    if target not in TARGETS or scheme not in SCHEMES:
        raise EmokdError(f"target={target!r}, scheme={scheme!r}: choose from {TARGETS} and {SCHEMES}")
    keys = sorted({(u["kd_weight"], u["private"], u["noise"]) for u in units})
    out = []
    for w, p, n in keys:
        mine = [u for u in units if (u["kd_weight"], u["private"], u["noise"]) == (w, p, n)]
        row = {"kd_weight": w, "private": p, "noise": n, "seeds": sorted({u["seed"] for u in mine}),
               "gain": mean_ci([u[f"gain_{target}_{scheme}"] for u in mine])}
        for model in MODELS:
            row[model] = float(np.nanmean([u[f"{model}_{target}_{scheme}"] for u in mine]))
        out.append(row)
    return out


def kd_study_widget(study: dict):
    """The live KD-study explorer: target, scheme, face-only content and KD weight; the gain of
    every unit against the noise, and the models' mean CCC.

    Returns
    -------
    box : ipywidgets.VBox, with ``box.controls``, ``box.output`` and ``box.redraw()``
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    units = kd_study_units(study)
    controls = {
        "target": widgets.Dropdown(options=list(TARGETS), value="latent", description="target"),
        "scheme": widgets.Dropdown(options=list(SCHEMES), description="CCC"),
        "private": widgets.Dropdown(options=sorted({u["private"] for u in units}), description="face-only"),
        "weight": widgets.Dropdown(options=sorted({u["kd_weight"] for u in units}), description="KD weight"),
    }
    out = widgets.Output()
    colours = style.palette(("teacher", "student", "student_kd"))  # the book's colours

    def redraw(*_):
        v = {k: c.value for k, c in controls.items()}
        mine = [u for u in units if u["private"] == v["private"] and u["kd_weight"] == v["weight"]]
        rows = kd_study_summary(mine, target=v["target"], scheme=v["scheme"]) if mine else []
        with out:
            out.clear_output(wait=True)
            if not rows:
                print("no run of the study has this face-only content and KD weight")
                return
            fig, (ax, bx) = plt.subplots(1, 2, figsize=(style.PAGE_WIDTH_IN, 3.2), layout="constrained")
            key = f"gain_{v['target']}_{v['scheme']}"
            ax.plot([u["noise"] for u in mine], [u[key] for u in mine], "o", color="0.6", ms=4,
                    label="fold x seed")
            ns = [r["noise"] for r in rows]
            ax.errorbar(ns, [r["gain"]["mean"] for r in rows],
                        yerr=np.abs(np.array([r["gain"]["ci95"] for r in rows]).T
                                    - [r["gain"]["mean"] for r in rows]),
                        fmt="s-", color="black", capsize=3, label="mean, 95 % interval")
            ax.axhline(0, color="black", lw=0.6)
            ax.set(xlabel="annotation noise (valence SDs)", ylabel="KD gain (CCC)",
                   title=f"KD student - student, vs {v['target']}")
            ax.legend(fontsize="small")
            for model, c in colours.items():
                bx.plot(ns, [r[model] for r in rows], "o-", color=c, label=model)
            bx.set(xlabel="annotation noise (valence SDs)", ylabel="mean CCC", ylim=(None, 1),
                   title=f"models vs {v['target']} ({v['scheme']})")
            bx.legend(fontsize="small")
            plt.show(fig)

    return _live_box(controls, out, redraw)


def _live_box(controls: dict, out, redraw):
    """The widget of a live playground: its controls in a wrapping row above ``out``;
    ``redraw`` runs on every change and once now. The box keeps ``controls``, ``output``
    and ``redraw`` as attributes (the tests drive them)."""
    import ipywidgets as widgets

    for c in controls.values():
        c.observe(redraw, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values()),
                                     layout=widgets.Layout(flex_flow="row wrap")), out])
    box.controls, box.output, box.redraw = controls, out, redraw
    redraw()
    return box
