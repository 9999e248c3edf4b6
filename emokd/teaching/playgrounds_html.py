"""The playgrounds of :mod:`emokd.teaching.playgrounds` as static HTML fragments that work without a kernel.

The mechanism of :func:`emokd.saliency.explorer.explorer_html`: one ``div`` with its own id,
inline CSS, the data embedded as JSON (``script[type="application/json"]``) and a
little vanilla JavaScript that redraws inline SVG when a control changes; no URL,
no CDN, so the page works offline. What Python draws first is what the script
draws for the same controls. The CSS and the JavaScript are package data in
``emokd/teaching/static/`` (read with :mod:`importlib.resources`), inlined in each fragment.

DOM contract (tests/book/test_browser.py relies on it):

* root: ``div.emokd-playground[data-playground=ccc|bandpower|kdstudy]`` with
  ``data-selection`` = the controls' values joined by ``|`` in document order;
* controls: ``input[type=range][data-control]`` (CCC playground) or
  ``select[data-control]``;
* views: ``svg[data-view]``; the caption ``p[data-view=caption]``; the CCC
  playground's scores ``[data-metric=ccc|pcc|rmse]`` (text: the value, 3 decimals).
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
import uuid
from importlib.resources import files

import numpy as np

from ..core import style
from ..core.constants import BAND_NAMES
from ..errors import EmokdError
from .playgrounds import (
    CCC_CONTROLS,
    LABEL_RATE_HZ,
    SCHEMES,
    TARGETS,
    distort,
    grid_summary,
    kd_study_summary,
    kd_study_units,
    noise_vector,
    playground_scores,
    valence_at,
)

#: the fragments' CSS and JavaScript, package data: ``playground.css`` (its rules scoped to the
#: fragment's id, ``__ROOT_ID__``), ``playground.js`` (the frame every playground's script runs in),
#: ``helpers.js`` (shared by the three), ``ccc.js``, ``bandpower.js``, ``kd_study.js``
_STATIC = files(__package__).joinpath("static")



def playground_uid(uid) -> str:
    """The id of a fragment's root ``div``: ``uid`` checked (letters, digits, ``-``, ``_``), or a fresh random one."""
    uid = uuid.uuid4().hex[:10] if uid is None else str(uid)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", uid):
        raise EmokdError(f"uid={uid!r}: use letters, digits, '-' and '_' only")
    return uid


def _payload(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def json_safe(x):
    """JSON-safe: NaN and inf become None."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def playground_fragment(kind: str, root_id: str, selection: str, controls: str, views: str, caption: str,
                        data: dict, script: str) -> str:
    """One playground as the DOM contract above has it: the root ``div`` with its inline CSS, controls, views,
    caption, the data as JSON and the script (JavaScript source that reads them)."""
    return (f'<div class="emokd-playground" id="{root_id}" data-playground="{kind}" '
            f'data-selection="{html.escape(selection)}">'
            f"<style>{_static('playground.css').replace('__ROOT_ID__', root_id)}</style>"
            f'<div class="emokd-controls">{controls}</div>'
            f'<div class="emokd-views">{views}</div>'
            f'<p data-view="caption">{html.escape(caption)}</p>'
            f'<script type="application/json" data-role="emokd-data">{_payload(json_safe(data))}</script>'
            f"<script>{script.replace('__ROOT_ID__', root_id)}</script></div>")


def select_control(control: str, label: str, options, selected) -> str:
    """A labelled ``select[data-control=control]`` of ``options`` (``(value, text)`` pairs), ``selected`` chosen."""
    opts = "".join(f'<option value="{html.escape(str(v))}"{" selected" if str(v) == str(selected) else ""}>'
                   f"{html.escape(str(t))}</option>" for v, t in options)
    return f'<label>{html.escape(label)} <select data-control="{control}">{opts}</select></label>'


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _signed(x, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"



@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    """The text of ``emokd/teaching/static/<name>``, package data (read once)."""
    return _STATIC.joinpath(name).read_text(encoding="utf-8")


def _script(name: str) -> str:
    """A playground's script: the body in ``static/<name>`` runs in ``start()`` (``static/playground.js``)
    with ``root`` (the fragment) and ``d`` (its embedded data) defined and the shared helpers
    (``static/helpers.js``) in scope; it must define ``update()``, which runs once the page is ready.
    ``__ROOT_ID__`` is filled in later."""
    frame = _static("playground.js").replace("__HELPERS__", _static("helpers.js"))
    return frame.replace("__BODY__", _static(name))




# ------------------------------------------------------------------ the CCC playground

_CCC_W, _CCC_H, _CCC_PAD = 620.0, 230.0, 36.0
_CCC_LABELS = {"offset": "offset (SD)", "scale": "scale (x)", "noise": "noise (SD)", "lag": "lag (s)"}



def _ccc_caption(s: dict) -> str:
    pcc, ccc, rmse = s["pcc"], s["ccc"], s["rmse"]
    text = f"PCC {_fmt(pcc, 2)}, CCC {_fmt(ccc, 2)}, RMSE {_fmt(rmse, 3)}. "
    if not math.isfinite(pcc):
        return text + "A constant prediction has no correlation at all; its CCC is 0."
    if pcc - ccc > 0.1:
        return text + "Correlated but not concordant: PCC ignores level and scale, CCC does not."
    return text + "Level and scale are right: CCC is close to PCC."


def ccc_playground_html(y, *, values: dict | None = None, uid: str | None = None,
                        title: str = "truth (black) and prediction (orange)") -> str:
    """The static CCC playground: four sliders (offset, scale, noise, lag), the traces, the scores.

    Parameters
    ----------
    y : array_like, shape (n_steps,), a true valence trace at 4 Hz (rounded to 6 decimals
        for embedding; the scores shown are those of the rounded trace)
    values : dict, optional; initial slider values (default: ``CCC_CONTROLS``' initial ones)
    uid : str, optional; the root's id is ``emokd-ccc-<uid>``

    Returns
    -------
    fragment : str, to show with ``IPython.display.HTML``
    """
    y = np.round(np.asarray(y, dtype=np.float64).ravel(), 6)
    if y.size < 2 or y.std() == 0:
        raise EmokdError(f"y must be a trace that moves (got {y.size} values, SD {y.std() if y.size else 0})")
    v = {k: spec[3] for k, spec in CCC_CONTROLS.items()}
    bad = set(values or {}) - set(v)
    if bad:
        raise EmokdError(f"values {sorted(bad)}: choose from {list(v)}")
    v.update(values or {})
    root_id = f"emokd-ccc-{playground_uid(uid)}"
    z = noise_vector(y.size)
    pred = distort(y, offset=v["offset"], scale=v["scale"], noise=v["noise"], lag_s=v["lag"], z=z)
    scores = playground_scores(y, pred)
    m, sd = float(y.mean()), float(y.std())
    w, h, pad = _CCC_W, _CCC_H, _CCC_PAD
    t_max = (y.size - 1) / LABEL_RATE_HZ
    y_lo, y_hi = m - 4 * sd, m + 4 * sd  # fixed, so that an offset shows as one

    def sx(t):
        return pad + (w - 2 * pad) * t / t_max

    def sy(val):
        return h - pad - (h - 2 * pad) * (val - y_lo) / (y_hi - y_lo)

    t = np.arange(y.size) / LABEL_RATE_HZ
    pts = lambda vals: " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(t, vals))  # noqa: E731
    clip = f"{root_id}-clip"
    traces = (f'<svg data-view="traces" width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" '
              f'role="img"><defs><clipPath id="{clip}"><rect x="{pad}" y="{pad}" width="{w - 2 * pad}" '
              f'height="{h - 2 * pad}"/></clipPath></defs>'
              f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" fill="none" '
              'stroke="#999"/>'
              f'<g clip-path="url(#{clip})">'
              f'<polyline data-role="truth" points="{pts(y)}" fill="none" stroke="#000" stroke-width="2"/>'
              f'<polyline data-role="pred" points="{pts(pred)}" fill="none" stroke="#ff7f0e" '
              'stroke-width="1.3"/></g>'
              f'<text x="{w / 2:.0f}" y="{h - 6:.0f}" font-size="11" text-anchor="middle">time (s), '
              f"0 to {t_max:.0f}</text>"
              f'<text x="{pad}" y="{pad - 8}" font-size="11">{html.escape(title)}; '
              "the box spans the mean +- 4 SD of the truth</text></svg>")
    bar_x0, bar_half = 95.0, 80.0
    rows = []
    for k, name in (("ccc", "CCC"), ("pcc", "PCC")):
        val = scores[k] if math.isfinite(scores[k]) else 0.0
        x = bar_x0 if val >= 0 else bar_x0 + bar_half * val
        yy = 28 if k == "ccc" else 58
        rows.append(f'<text x="8" y="{yy + 12}" font-size="12">{name}</text>'
                    f'<text data-metric="{k}" x="50" y="{yy + 12}" font-size="12">{_fmt(scores[k])}</text>'
                    f'<rect data-bar="{k}" x="{x:.1f}" y="{yy}" width="{abs(bar_half * val):.1f}" height="16" '
                    f'fill="{"#1f77b4" if k == "ccc" else "#7f7f7f"}"/>')
    scores_svg = (f'<svg data-view="scores" width="190" height="120" viewBox="0 0 190 120" role="img">'
                  f'<line x1="{bar_x0}" y1="20" x2="{bar_x0}" y2="82" stroke="currentColor"/>'
                  f'<text x="{bar_x0 - bar_half}" y="16" font-size="9">-1</text>'
                  f'<text x="{bar_x0 - 3}" y="16" font-size="9">0</text>'
                  f'<text x="{bar_x0 + bar_half - 6}" y="16" font-size="9">1</text>'
                  f'{"".join(rows)}<text x="8" y="104" font-size="12">RMSE</text>'
                  f'<text data-metric="rmse" x="50" y="104" font-size="12">{_fmt(scores["rmse"])}</text>'
                  "</svg>")
    controls = "".join(
        f'<label>{_CCC_LABELS[k]} <input type="range" data-control="{k}" min="{lo:g}" max="{hi:g}" '
        f'step="{step:g}" value="{v[k]:g}"><output data-for="{k}">{v[k]:g}</output></label>'
        for k, (lo, hi, step, _) in CCC_CONTROLS.items())
    data = {"y": y.tolist(), "z": z.tolist(), "rate": LABEL_RATE_HZ, "w": w, "h": h, "pad": pad,
            "t_max": t_max, "y_lo": y_lo, "y_hi": y_hi, "bar_x0": bar_x0, "bar_half": bar_half}
    script = _script("ccc.js")
    selection = "|".join(f"{v[k]:g}" for k in CCC_CONTROLS)
    return playground_fragment("ccc", root_id, selection, controls, traces + scores_svg, _ccc_caption(scores), data,
                     script)


# ------------------------------------------------------------ band power against window and hop

_BP_W, _BP_H, _BP_PAD = 620.0, 230.0, 40.0



def _key(w: float, h: float) -> str:
    return f"{w:g}|{h:g}"


def bandpower_explorer_html(grid: dict, valence, *, channel: str, channel_index: int = 0,
                            band: str = "gamma", window_s: float = 2.0, hop_s: float = 0.25,
                            uid: str | None = None, band_names=BAND_NAMES) -> str:
    """The static band-power explorer of one channel: window, hop and band; the band's power over
    time with valence, and a table of r(band power, valence) for every (window, hop).

    Parameters
    ----------
    grid : dict, as :func:`emokd.teaching.playgrounds.band_power_grid` returns
    valence : array_like, shape (n_steps,), the trial's valence at 4 Hz (label step k at k/4 s)
    channel : str, its name; ``channel_index`` its index in the grid's channels
    band, window_s, hop_s : the initial view

    Returns
    -------
    fragment : str
    """
    band_names = list(band_names)
    windows = sorted({w for w, _ in grid})
    hops = sorted({h for _, h in grid})
    if (float(window_s), float(hop_s)) not in grid or band not in band_names:
        raise EmokdError(f"initial view window_s={window_s}, hop_s={hop_s}, band={band!r}: choose a (window, hop) "
                         f"of {sorted(grid)} and a band of {band_names}")
    root_id = f"emokd-bandpower-{playground_uid(uid)}"
    payload, summary = {}, {}
    for (w, h), g in grid.items():
        p = g["power"][:, :, channel_index]  # (n_windows, n_bands)
        payload[_key(w, h)] = {"c": np.round(g["centre_s"], 3).tolist(), "p": np.round(p.T, 5).tolist()}
        rows = {b: grid_summary({(w, h): g}, valence, band=b, channel=channel_index, band_names=band_names)[0]
                for b in band_names}
        summary[_key(w, h)] = {"r": [rows[b]["r_valence"] for b in band_names],
                               "sd": [rows[b]["sd"] for b in band_names],
                               "res": rows[band_names[0]]["resolution_hz"]}
    all_p = np.concatenate([g["power"][:, :, channel_index] for g in grid.values()])  # (n, n_bands)
    lo, hi = all_p.min(axis=0), all_p.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    prange = np.stack([np.maximum(0.0, lo - 0.05 * span), hi + 0.05 * span], axis=1)  # (n_bands, 2)
    t_lo = min(float(g["centre_s"][0]) for g in grid.values())
    t_hi = max(float(g["centre_s"][-1]) for g in grid.values())
    if t_hi <= t_lo:
        t_hi = t_lo + 1.0
    v = np.asarray(valence, dtype=np.float64).ravel()
    vt = np.arange(v.size) / LABEL_RATE_HZ
    keep = (vt >= t_lo) & (vt <= t_hi)
    w_, h_, pad = _BP_W, _BP_H, _BP_PAD
    v_lo, v_hi = float(v[keep].min()), float(v[keep].max())
    v_hi = v_hi if v_hi > v_lo else v_lo + 1.0

    def sx(t):
        return pad + (w_ - 2 * pad) * (t - t_lo) / (t_hi - t_lo)

    b = band_names.index(band)
    g0 = grid[(float(window_s), float(hop_s))]

    def sy(val):
        return h_ - pad - (h_ - 2 * pad) * (val - prange[b, 0]) / (prange[b, 1] - prange[b, 0])

    def sv(val):
        return h_ - pad - (h_ - 2 * pad) * (val - v_lo) / (v_hi - v_lo)

    power_pts = " ".join(f"{sx(a):.1f},{sy(q):.1f}" for a, q in zip(g0["centre_s"], g0["power"][:, b,
                                                                                               channel_index]))
    val_pts = " ".join(f"{sx(a):.1f},{sv(q):.1f}" for a, q in zip(vt[keep], v[keep]))
    max_dots = 400
    dots = "".join(f'<circle cx="{sx(a):.1f}" cy="{sy(q):.1f}" r="1.8"/>'
                   for a, q in zip(g0["centre_s"], g0["power"][:, b, channel_index])) \
        if g0["centre_s"].size <= max_dots else ""
    chart = (f'<svg data-view="power" width="{w_:.0f}" height="{h_:.0f}" viewBox="0 0 {w_:.0f} {h_:.0f}" '
             f'role="img"><rect x="{pad}" y="{pad}" width="{w_ - 2 * pad}" height="{h_ - 2 * pad}" fill="none" '
             'stroke="#999"/>'
             f'<polyline data-role="valence" points="{val_pts}" fill="none" stroke="#d62728" '
             'stroke-width="1.2" stroke-opacity="0.7"/>'
             f'<polyline data-role="power" points="{power_pts}" fill="none" stroke="#1f77b4" '
             'stroke-width="1.2"/>'
             f'<g data-role="dots" fill="#1f77b4">{dots}</g>'
             f'<text data-role="p_hi" x="4" y="{pad + 4}" font-size="10">{prange[b, 1]:.2g}</text>'
             f'<text data-role="p_lo" x="4" y="{h_ - pad}" font-size="10">{prange[b, 0]:.2g}</text>'
             f'<text x="{pad}" y="{pad - 10}" font-size="11"><tspan fill="#1f77b4">relative power of the '
             f'band at {html.escape(channel)} (left scale)</tspan>, <tspan fill="#d62728">valence '
             "(its own scale)</tspan></text>"
             f'<text x="{w_ / 2:.0f}" y="{h_ - 8:.0f}" font-size="11" text-anchor="middle">window centre '
             f"(s from stimulus start), {t_lo:.3g} to {t_hi:.3g}</text></svg>")
    r_all = [abs(x) for s in summary.values() for x in s["r"] if x is not None and math.isfinite(x)]
    r_max = max(r_all) if r_all else 1.0
    head = "".join(f"<th>hop {h:g} s</th>" for h in hops)
    body = []
    for w in windows:
        cells = []
        for h in hops:
            s = summary.get(_key(w, h))
            r = s["r"][b] if s else None
            cls = ' class="emokd-selected"' if (w, h) == (float(window_s), float(hop_s)) else ""
            cells.append(f'<td data-key="{_key(w, h)}"{cls}>{_fmt(r, 2) if s else ""}</td>')
        body.append(f"<tr><th>window {w:g} s</th>{''.join(cells)}</tr>")
    table = (f'<div><table data-view="grid"><caption>r(band power, valence) at the window centres'
             f"</caption><tr><th></th>{head}</tr>{''.join(body)}</table></div>")
    controls = (select_control("window", "window", [(f"{w:g}", f"{w:g} s") for w in windows], f"{window_s:g}")
                + select_control("hop", "hop", [(f"{h:g}", f"{h:g} s") for h in hops], f"{hop_s:g}")
                + select_control("band", "band", [(n, n) for n in band_names], band))
    s0 = summary[_key(window_s, hop_s)]
    caption = (f"{band} at {channel}: {g0['centre_s'].size} windows of {window_s:g} s every {hop_s:g} s "
               f"({1 / hop_s:g} per s), frequency resolution {s0['res']:g} Hz; SD over time "
               f"{s0['sd'][b]:.2g}; r with valence {_fmt(s0['r'][b], 2)}")
    data = {"bands": band_names, "channel": channel, "grid": payload, "summary": summary,
            "range": prange.tolist(), "t_lo": t_lo, "t_hi": t_hi, "w": w_, "h": h_, "pad": pad,
            "r_max": r_max, "max_dots": max_dots}
    script = _script("bandpower.js")
    selection = f"{window_s:g}|{hop_s:g}|{band}"
    return playground_fragment("bandpower", root_id, selection, controls, chart + table, caption, data, script)


def excerpt_valence(valence, grid: dict) -> np.ndarray:
    """The valence at the centres of the grid's first (window, hop): a check for the chapter."""
    g = next(iter(grid.values()))
    return valence_at(valence, g["centre_s"])


# ------------------------------------------------------------------------ the KD study

_KD_W, _KD_H, _KD_PAD = 420.0, 250.0, 44.0
_MODEL_COLOURS = style.palette(("teacher", "student", "student_kd"))  # the book's colours (emokd.core.style)


def svg_legend(entries: dict[str, str], *, x: float, y: float, step: float = 100.0, font_size: int = 11) -> str:
    """An SVG legend in one row: per entry name -> colour, a ``<g data-legend=name data-colour=colour>`` with a
    filled swatch and the name in that colour. The colour is written as the elements' own ``style`` (it wins
    over a style sheet's ``fill``: the playgrounds' CSS gives other text ``currentColor``)."""
    out = []
    for i, (name, colour) in enumerate(entries.items()):
        x0 = x + step * i
        out.append(f'<g data-legend="{html.escape(name)}" data-colour="{colour}">'
                   f'<rect x="{x0:.1f}" y="{y - font_size + 2:.1f}" width="10" height="{font_size - 2}" '
                   f'style="fill:{colour}"/>'
                   f'<text x="{x0 + 14:.1f}" y="{y:.1f}" font-size="{font_size}" style="fill:{colour}">'
                   f"{html.escape(name)}</text></g>")
    return "".join(out)



def kd_study_data(study: dict) -> dict:
    """What the static KD-study explorer embeds: the units and, per target|scheme|private|weight,
    one row per noise level (mean gain, its 95 % interval, the models' mean CCC)."""
    units = kd_study_units(study)
    if not units:
        raise EmokdError("the KD study holds no finished run yet")
    summary = {}
    for target in TARGETS:
        for scheme in SCHEMES:
            for p in sorted({u["private"] for u in units}):
                for w in sorted({u["kd_weight"] for u in units}):
                    mine = [u for u in units if u["private"] == p and u["kd_weight"] == w]
                    if not mine:
                        continue
                    rows = kd_study_summary(mine, target=target, scheme=scheme)
                    summary[f"{target}|{scheme}|{p:g}|{w:g}"] = [
                        {"noise": r["noise"], "mean": r["gain"]["mean"], "ci": r["gain"]["ci95"],
                         "n": r["gain"]["n"], "n_positive": r["gain"]["n_positive"], "seeds": r["seeds"],
                         "models": {m: r[m] for m in _MODEL_COLOURS}} for r in rows]
    keep = ["noise", "private", "kd_weight", "seed", "fold"] + [
        f"gain_{t}_{s}" for t in TARGETS for s in SCHEMES]
    slim = [{k: (round(u[k], 5) if isinstance(u[k], float) and k.startswith("gain") else u[k]) for k in keep}
            for u in units]
    gains = [u[k] for u in units for k in keep[5:] if math.isfinite(u[k])]
    span = max(0.05, max(abs(x) for x in gains)) if gains else 0.1
    return {"units": slim, "summary": summary, "noises": sorted({u["noise"] for u in units}),
            "privates": sorted({u["private"] for u in units}),
            "weights": sorted({u["kd_weight"] for u in units}),
            "seeds": sorted({u["seed"] for u in units}), "gain_lo": -1.1 * span, "gain_hi": 1.1 * span}


def kd_study_html(study: dict, *, target: str = "latent", scheme: str = "concatenated",
                  noise: float | None = None, uid: str | None = None) -> str:
    """The static KD-study explorer: target, CCC scheme, face-only content, KD weight and a noise
    level; every unit's KD gain against the noise with the mean and its 95 % interval, and the
    models' mean CCC.

    Parameters
    ----------
    study : dict, ``results/kd-study/results.json`` (written by studies/bench_kd_study.py);
        a partial study shows what has run
    target, scheme, noise : the initial view (default noise: the largest)

    Returns
    -------
    fragment : str
    """
    data = kd_study_data(study)
    noise = data["noises"][-1] if noise is None else float(noise)
    if target not in TARGETS or scheme not in SCHEMES or noise not in data["noises"]:
        raise EmokdError(f"target={target!r}, scheme={scheme!r}, noise={noise!r}: choose from {TARGETS}, "
                         f"{SCHEMES} and {data['noises']}")
    root_id = f"emokd-kdstudy-{playground_uid(uid)}"
    private, weight = data["privates"][0], data["weights"][0]
    w, h, pad = _KD_W, _KD_H, _KD_PAD
    lo, hi = data["gain_lo"], data["gain_hi"]
    sx = lambda n: pad + (data["noises"].index(n) + 0.5) * (w - 2 * pad) / len(data["noises"])  # noqa: E731
    sy = lambda g: h - pad - (h - 2 * pad) * (g - lo) / (hi - lo)  # noqa: E731
    ticks = "".join(f'<text x="{sx(n):.1f}" y="{h - pad + 16:.0f}" font-size="11" text-anchor="middle">'
                    f"{n:g}</text>" for n in data["noises"])
    yt = "".join(f'<text x="{pad - 4}" y="{sy(g) + 4:.1f}" font-size="10" text-anchor="end">{g:+.2f}</text>'
                 for g in (lo / 1.1, 0.0, hi / 1.1))
    gain_svg = (f'<svg data-view="gain" width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" '
                f'role="img"><rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" '
                'fill="none" stroke="#999"/>'
                f'<line data-role="zero" x1="{pad}" x2="{w - pad}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" '
                'stroke="#000" stroke-width="0.6"/><g data-role="gain"></g>'
                f"{ticks}{yt}"
                f'<text x="{w / 2:.0f}" y="{h - 8:.0f}" font-size="11" text-anchor="middle">annotation noise '
                "(valence SDs)</text>"
                f'<text x="{pad}" y="{pad - 22}" font-size="11">KD gain = KD student - student (CCC)</text>'
                f'<text x="{pad}" y="{pad - 8}" font-size="11">dots: fold x seed units; square, bar: '
                "mean, 95 % interval</text></svg>")
    my = lambda c: h - pad - (h - 2 * pad) * c  # noqa: E731
    legend = svg_legend(_MODEL_COLOURS, x=pad + 6, y=pad - 12)
    myt = "".join(f'<text x="{pad - 4}" y="{my(c) + 4:.1f}" font-size="10" text-anchor="end">{c:g}</text>'
                  for c in (0, 0.5, 1))
    models_svg = (f'<svg data-view="models" width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" '
                  f'role="img"><rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" '
                  f'fill="none" stroke="#999"/><g data-role="models"></g>{ticks}{myt}{legend}'
                  f'<text x="{w / 2:.0f}" y="{h - 8:.0f}" font-size="11" text-anchor="middle">annotation noise '
                  "(valence SDs); mean CCC, 0 to 1</text></svg>")
    controls = (select_control("target", "scored against", [(t, f"the {t}") for t in TARGETS], target)
                + select_control("scheme", "CCC", [(s, s.replace("_", " ")) for s in SCHEMES], scheme)
                + select_control("private", "face-only content", [(f"{p:g}", f"{p:g} SD") for p in data["privates"]],
                          f"{private:g}")
                + select_control("weight", "KD weight", [(f"{x:g}", f"{x:g}") for x in data["weights"]], f"{weight:g}")
                + select_control("noise", "noise", [(f"{n:g}", f"{n:g} SD") for n in data["noises"]], f"{noise:g}"))
    rows = data["summary"].get(f"{target}|{scheme}|{private:g}|{weight:g}", [])
    row = next((r for r in rows if r["noise"] == noise), None)
    if row is None:
        caption = f"no run of the study at noise {noise:g} SD with face-only content {private:g} SD"
    else:
        caption = (f"noise {noise:g} SD, face-only content {private:g} SD, KD weight {weight:g}, CCC "
                   f"{scheme.replace('_', ' ')} against the {target}: {row['n']} fold x seed units (seeds "
                   f"{', '.join(map(str, row['seeds']))}); KD gain {_signed(row['mean'])} [{_signed(row['ci'][0])}"
                   f", {_signed(row['ci'][1])}], {row['n_positive']} of {row['n']} positive; teacher "
                   f"{_fmt(row['models']['teacher'], 2)}, student {_fmt(row['models']['student'], 2)}, "
                   f"KD student {_fmt(row['models']['student_kd'], 2)}")
    # the units' values are numbers; the selects' values are their :g strings
    data = dict(data, w=w, h=h, pad=pad, models=list(_MODEL_COLOURS), colours=_MODEL_COLOURS)
    for u in data["units"]:
        u["private"], u["kd_weight"], u["noise"] = (float(f"{u['private']:g}"), float(f"{u['kd_weight']:g}"),
                                                    float(f"{u['noise']:g}"))
    script = _script("kd_study.js")
    selection = f"{target}|{scheme}|{private:g}|{weight:g}|{noise:g}"
    return playground_fragment("kdstudy", root_id, selection, controls, gain_svg + models_svg, caption, data, script)
