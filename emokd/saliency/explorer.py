"""Explore a ``saliency.json``: a static HTML explorer and a live ipywidgets one.

* :func:`explorer_html` -- one self-contained HTML fragment (inline SVG, CSS and a
  little vanilla JavaScript, both package data in ``emokd/saliency/static/``, the
  data embedded as JSON; no URL, no CDN). It works in the built book without a
  kernel. Choose model, method, band, subject and
  valence state; a scalp map colours each electrode by the selected map's value
  in the selected band, bars show each band's share. Its DOM is a contract
  (``data-control``, ``data-view``, ``data-channel``, ``data-band``,
  ``data-selection``) that the browser test relies on.
* :func:`explorer_widget` -- the same choices as ipywidgets dropdowns, redrawing
  :mod:`emokd.saliency.figures` figures on every change; needs a live kernel
  (Jupyter, Binder, Colab).

Colours: both explorers scale the selected map from its minimum to its maximum
over all bands and channels, so that bands can be compared; the static one maps
that range onto :data:`LUT`, viridis in 32 steps (nearest entry).
"""

from __future__ import annotations

import functools
import html
import io
import json
import math
import re
import uuid
from importlib.resources import files

import numpy as np

from ..errors import EmokdError
from ..evaluation.stats import spearman
from .figures import plot_band_importance, plot_band_topomaps, topomap_xy, view_map

#: viridis in 32 steps (matplotlib's at i / 31, minimum to maximum), the static explorer's colour map
LUT: tuple[str, ...] = (
    "#440154", "#470d60", "#48186a", "#482374", "#472e7c", "#453882", "#424186", "#3e4a89",
    "#3a548c", "#365d8d", "#32658e", "#2e6d8e", "#2b758e", "#287d8e", "#25848e", "#228c8d",
    "#1f948c", "#1e9c89", "#20a386", "#25ab82", "#2eb37c", "#3aba76", "#48c16e", "#58c765",
    "#6ccd5a", "#7fd34e", "#93d741", "#a8db34", "#c0df25", "#d5e21a", "#eae51a", "#fde725",
)  # fmt: skip
MISSING = "#d9d9d9"  # fill where there is no map
CONTROLS = ("model", "method", "band", "subject", "state")
STATES = {"all": "all steps", "high": "high-valence steps", "low": "low-valence steps"}
DECIMALS = 6  # the embedded maps are rounded to this many decimals


def colour(value: float, vmin: float, vmax: float) -> str:
    """The LUT colour of ``value`` on the scale [vmin, vmax] (the mid colour if vmin == vmax)."""
    t = (value - vmin) / (vmax - vmin) if vmax > vmin else 0.5
    i = math.floor(t * (len(LUT) - 1) + 0.5)  # as JavaScript's Math.round
    return LUT[min(len(LUT) - 1, max(0, i))]


def _pct(share: float) -> str:
    return f"{math.floor(100 * share + 0.5)}%"  # as the script's Math.round


def _key(subject: str, state: str) -> str:
    return f"{subject}|{state}"


def _subjects(saliency: dict) -> list[str]:
    first = next(iter(next(iter(saliency["models"].values())).values()))
    ids = list(first["by_subject"])
    return sorted(ids, key=lambda s: (0, int(s)) if s.isdigit() else (1, s))


def explorer_data(saliency: dict) -> dict:
    """What the static explorer embeds: every view's map (rounded to ``DECIMALS``) and its Spearman.

    ``maps[model][method]["<subject>|<state>"]``: (n_bands, n_chans) nested lists,
    for subject ``all`` with every state and for every subject with state ``all``;
    ``spearman`` likewise (None without a planted truth).
    """
    truth = saliency.get("truth")
    truth_map = None if truth is None else np.asarray(truth["map"], dtype=float)
    views = [("all", "all"), ("all", "high"), ("all", "low"), *((s, "all") for s in _subjects(saliency))]
    maps, rho = {}, {}
    for model in saliency["models"]:
        maps[model], rho[model] = {}, {}
        for method in saliency["methods"]:
            maps[model][method], rho[model][method] = {}, {}
            for subject, state in views:
                m = view_map(saliency, model, method, subject=subject, state=state)
                key = _key(subject, state)
                maps[model][method][key] = None if m is None else np.round(m, DECIMALS).tolist()
                rho[model][method][key] = (None if m is None or truth_map is None
                                           else spearman(m, truth_map, nan_policy="propagate", undefined=None))
    xy = topomap_xy(saliency["channels"])
    return {"bands": list(saliency["bands"]), "channels": list(saliency["channels"]),
            "xy": np.round(xy, 4).tolist(), "truth": truth_map is not None, "lut": list(LUT),
            "missing": MISSING, "maps": maps, "spearman": rho}


def caption(data: dict, sel: dict) -> str:
    """One line describing the view ``sel`` (model, method, band, subject, state)."""
    m = data["maps"][sel["model"]][sel["method"]].get(_key(sel["subject"], sel["state"]))
    who = "all subjects" if sel["subject"] == "all" else f"subject {sel['subject']}"
    text = f"{sel['model']}, {sel['method']}, {sel['band']}, {who}, {STATES[sel['state']]}"
    if m is None:
        return text + ("; no map: saliency.json keeps maps per subject (all steps) and per valence state "
                       "(all subjects), not both")
    share = sum(m[data["bands"].index(sel["band"])])
    text += f"; {sel['band']} holds {_pct(share)} of the map"
    r = data["spearman"][sel["model"]][sel["method"]].get(_key(sel["subject"], sel["state"]))
    if not data["truth"]:
        return text + "; no planted truth (real data)"
    return text + ("; Spearman with the planted truth " + ("n/a" if r is None else f"{r:.2f}"))


# --------------------------------------------------------------- the static explorer

_HEAD_R, _CX, _CY = 150.0, 175.0, 172.0  # px: head radius and centre in the topomap's SVG
_BAR_W, _BAR_H = 40.0, 150.0  # px: bar slot width and the tallest bar
#: the explorer's CSS (``explorer.css``, its rules scoped to the fragment's id ``__ROOT_ID__``) and
#: JavaScript (``explorer.js``; ``__BAR_H__`` and ``__BAR_BASE__``: the bars' geometry), package data
_STATIC = files(__package__).joinpath("static")


@functools.lru_cache(maxsize=None)
def _static(name: str) -> str:
    """The text of ``emokd/saliency/static/<name>`` (read once)."""
    return _STATIC.joinpath(name).read_text(encoding="utf-8")




def _select(control: str, options: list[tuple[str, str]], selected: str) -> str:
    opts = "".join(f'<option value="{html.escape(v)}"{" selected" if v == selected else ""}>{html.escape(t)}</option>'
                   for v, t in options)
    return f'<label>{control} <select data-control="{control}">{opts}</select></label>'


def _topomap_svg(data: dict, m, band: int) -> str:
    """The head, one circle per channel (filled for ``m[band]``), labels and a colour bar."""
    lo, hi = (min(min(r) for r in m), max(max(r) for r in m)) if m is not None else (0.0, 0.0)
    r = _HEAD_R
    parts = ['<svg data-view="topomap" width="390" height="340" viewBox="0 0 390 340" role="img">',
             f'<circle cx="{_CX}" cy="{_CY}" r="{r}" fill="none" stroke="currentColor" stroke-width="1.5"/>',
             (f'<path d="M {_CX - 12} {_CY - r + 1} L {_CX} {_CY - r - 14} L {_CX + 12} {_CY - r + 1}" '
              'fill="none" stroke="currentColor" stroke-width="1.5"/>'),
             *(f'<ellipse cx="{_CX + side * (r + 5)}" cy="{_CY}" rx="6" ry="18" fill="none" stroke="currentColor" '
               'stroke-width="1.5"/>' for side in (-1, 1))]  # the ears
    for c, (name, (x, y)) in enumerate(zip(data["channels"], data["xy"])):
        px, py = _CX + r * x, _CY - r * y  # SVG y runs down; the nose is up
        fill = colour(m[band][c], lo, hi) if m is not None else MISSING
        value = f"{m[band][c]:.3g}" if m is not None else "no map"
        parts.append(f'<circle data-channel="{html.escape(name)}" cx="{px:.1f}" cy="{py:.1f}" r="11" fill="{fill}" '
                     f'stroke="#222" stroke-width="0.6"><title>{html.escape(name)}: {value}</title></circle>')
        parts.append(f'<text x="{px:.1f}" y="{py + 2.5:.1f}" font-size="7.5" text-anchor="middle" '
                     f'pointer-events="none" class="emokd-label">{html.escape(name)}</text>')
    n = len(LUT)
    for i, c in enumerate(LUT):  # colour bar, maximum at the top
        parts.append(f'<rect x="354" y="{90 + (n - 1 - i) * 5}" width="14" height="5" fill="{c}"/>')
    parts.append(f'<text data-role="vmax" x="346" y="84" font-size="10">{hi:.3g}</text>')
    parts.append(f'<text data-role="vmin" x="346" y="{90 + n * 5 + 12}" font-size="10">{lo:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(data: dict, m, band: int) -> str:
    bands = data["bands"]
    sums = [sum(row) for row in m] if m is not None else [0.0] * len(bands)
    top = max(sums) if m is not None and max(sums) > 0 else 1.0
    base = 20 + _BAR_H
    width = 20 + _BAR_W * len(bands)
    parts = [(f'<svg data-view="bars" width="{width:.0f}" height="{base + 40:.0f}" '
              f'viewBox="0 0 {width:.0f} {base + 40:.0f}" role="img">'),
             f'<line x1="10" y1="{base}" x2="{width - 5:.0f}" y2="{base}" stroke="currentColor"/>']
    for i, name in enumerate(bands):
        h = _BAR_H * sums[i] / top
        x = 15 + _BAR_W * i
        selected = ' class="emokd-selected"' if i == band else ""
        parts.append(f'<rect data-band="{html.escape(name)}" x="{x + 5:.1f}" y="{base - h:.1f}" '
                     f'width="{_BAR_W - 10:.1f}" height="{h:.1f}"{selected}/>')
        parts.append(f'<text data-role="share-{i}" x="{x + _BAR_W / 2:.1f}" y="{base - _BAR_H - 6:.1f}" '
                     f'font-size="10" text-anchor="middle">{_pct(sums[i]) if m is not None else ""}</text>')
        parts.append(f'<text x="{x + _BAR_W / 2:.1f}" y="{base + 14:.1f}" font-size="9" '
                     f'text-anchor="middle">{html.escape(name)}</text>')
    parts.append(f'<text x="{width / 2:.0f}" y="{base + 32:.0f}" font-size="10" text-anchor="middle">'
                 "share of the map per band</text></svg>")
    return "".join(parts)


def explorer_html(saliency: dict, *, uid: str | None = None, selection: dict | None = None) -> str:
    """The static explorer of a ``saliency.json`` dict: one self-contained HTML fragment.

    Parameters
    ----------
    saliency : dict, as :func:`emokd.saliency.run.compute_run_saliency` returns (format :data:`emokd.saliency.run.FORMAT`)
    uid : str, optional; letters, digits, ``-`` and ``_``. The root's id is
        ``emokd-explorer-<uid>``; default a fresh random one, so that several
        explorers on one page never share an id.
    selection : dict, optional; initial ``model``, ``method``, ``band``, ``subject``,
        ``state`` (default: the first model and method, the band holding most of
        that map, all subjects, all steps)

    Returns
    -------
    fragment : str, to show with ``IPython.display.HTML``
    """
    uid = uuid.uuid4().hex[:10] if uid is None else str(uid)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", uid):
        raise EmokdError(f"uid={uid!r}: use letters, digits, '-' and '_' only")
    data = explorer_data(saliency)
    models, methods, subjects = list(data["maps"]), list(saliency["methods"]), _subjects(saliency)
    first = np.asarray(data["maps"][models[0]][methods[0]][_key("all", "all")])
    sel = {"model": models[0], "method": methods[0], "band": data["bands"][int(first.sum(axis=1).argmax())],
           "subject": "all", "state": "all", **(selection or {})}
    choices = {"model": models, "method": methods, "band": data["bands"], "subject": ["all", *subjects],
               "state": list(STATES)}
    bad = {k: sel[k] for k in CONTROLS if sel[k] not in choices[k]}
    if bad or set(sel) - set(CONTROLS):
        raise EmokdError(f"selection {selection!r}: choose from {choices}")
    root_id = f"emokd-explorer-{uid}"
    m = data["maps"][sel["model"]][sel["method"]].get(_key(sel["subject"], sel["state"]))
    band = data["bands"].index(sel["band"])
    labels = {"subject": lambda s: "all subjects" if s == "all" else f"subject {s}", "state": STATES.get}
    controls = "".join(_select(k, [(v, labels.get(k, str)(v)) for v in choices[k]], sel[k]) for k in CONTROLS)
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    script = (_static("explorer.js").replace("__ROOT_ID__", root_id).replace("__BAR_H__", f"{_BAR_H:g}")
              .replace("__BAR_BASE__", f"{20 + _BAR_H:g}"))
    selection_attr = html.escape("|".join(sel[k] for k in CONTROLS))
    return (f'<div class="emokd-explorer" id="{root_id}" data-selection="{selection_attr}">'
            f"<style>{_static('explorer.css').replace('__ROOT_ID__', root_id)}</style>"
            f'<div class="emokd-controls">{controls}</div>'
            f'<div class="emokd-views">{_topomap_svg(data, m, band)}{_bars_svg(data, m, band)}</div>'
            f'<p data-view="caption">{html.escape(caption(data, sel))}</p>'
            f'<script type="application/json" data-role="emokd-data">{payload}</script>'
            f"<script>{script}</script></div>")


# ---------------------------------------------------------------- the live explorer


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def explorer_widget(saliency: dict):
    """The live explorer: dropdowns for model, method, band, subject and state, and the figures.

    On every change it redraws a topomap of the selected band (on the colour
    scale of the whole map) and the bands' shares with :mod:`emokd.saliency.figures`.
    Needs a live kernel: in a static page the dropdowns do nothing.

    Returns
    -------
    box : ipywidgets.VBox, with ``box.controls`` (name -> Dropdown), ``box.caption``
        (HTML), ``box.output`` (Output) and ``box.redraw()``
    """
    import ipywidgets as widgets
    from IPython.display import Image

    data = explorer_data(saliency)
    models, methods = list(data["maps"]), list(saliency["methods"])
    first = np.asarray(data["maps"][models[0]][methods[0]][_key("all", "all")])
    options = {"model": models, "method": methods, "band": data["bands"],
               "subject": [("all subjects", "all")] + [(f"subject {s}", s) for s in _subjects(saliency)],
               "state": [(text, key) for key, text in STATES.items()]}
    initial = {"band": data["bands"][int(first.sum(axis=1).argmax())], "subject": "all", "state": "all"}
    controls = {k: widgets.Dropdown(options=options[k], value=initial.get(k, options[k][0]), description=k,
                                    layout=widgets.Layout(width="210px")) for k in CONTROLS}
    text = widgets.HTML()
    out = widgets.Output()

    def redraw(*_):
        sel = {k: c.value for k, c in controls.items()}
        text.value = f"<i>{html.escape(caption(data, sel))}</i>"
        m = view_map(saliency, sel["model"], sel["method"], subject=sel["subject"], state=sel["state"])
        images = []
        if m is not None:
            b = data["bands"].index(sel["band"])
            label = f"{sel['model']}, {sel['method']}"
            images.append(_png(plot_band_topomaps(m[[b]], [sel["band"]], channels=data["channels"],
                                                  vlim=(m.min(), m.max()), title=label)))
            images.append(_png(plot_band_importance(m.sum(axis=1), data["bands"], highlight=sel["band"],
                                                    title=f"{label}: share of the map per band")))
        out.outputs = ()
        for png in images:
            out.append_display_data(Image(data=png, format="png"))

    for c in controls.values():
        c.observe(redraw, names="value")
    box = widgets.VBox([widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")), text, out])
    box.controls, box.caption, box.output, box.redraw = controls, text, out, redraw
    redraw()
    return box
