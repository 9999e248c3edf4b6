"""Figures of band x channel saliency maps (see :mod:`emokd.saliency.run`).

Every function takes plain arrays (or a dict of them) and returns a
:class:`matplotlib.figure.Figure`; none reads files. A map is an array of shape
(n_bands, n_chans): row ``b`` is a band, column ``c`` the channel ``channels[c]``
(default :data:`emokd.core.constants.EEG_CHANNELS`, the Biosemi order of MAHNOB-HCI),
as ``saliency.json`` holds it.

* :func:`plot_band_topomaps` -- one scalp map per band (MNE, biosemi32 montage);
* :func:`plot_band_importance` -- each band's share of the map, as bars;
* :func:`plot_glass_brain` -- per-electrode saliency over a glass brain (nilearn);
* :func:`plot_models_side_by_side` -- topomaps of several models, one row each;
* :func:`plot_map_vs_truth` -- a saliency map next to the planted truth map.

:func:`view_map` picks one map out of a ``saliency.json`` dict (model, method,
subject, valence state), as the explorers (:mod:`emokd.saliency.explorer`) do.

The figures fit the book's page (:mod:`emokd.core.style`): topomaps wrap into rows of at most
three (a head has no tick labels), and a model's bars take its colour.
"""

from __future__ import annotations

import functools
import os

import matplotlib.pyplot as plt
import numpy as np

from ..io import montage
from ..core import style
from ..core.constants import EEG_CHANNELS
from ..errors import EmokdError
from ..evaluation.stats import spearman

CMAP = "viridis"
HEAD_RADIUS_M = 0.095  # the head sphere of MNE's topomaps


# --------------------------------------------------------------- positions


@functools.lru_cache(maxsize=4)
def montage_info(channels: tuple[str, ...] = EEG_CHANNELS):
    """An :class:`mne.Info` with ``channels`` (EEG) at their positions in MNE's ``biosemi32`` montage
    (:func:`emokd.io.montage.eeg_info`, cached: every figure needs it)."""
    return montage.eeg_info(ch_names=channels)


def electrode_mni_mm(channels=EEG_CHANNELS) -> np.ndarray:
    """Approximate MNI coordinates of the electrodes, shape (n_chans, 3), in mm.

    MNE's standard ``biosemi32`` montage (an idealised head, electrodes on a sphere
    of radius 95 mm), in MNE's head frame (origin between the ears), mapped to the
    fsaverage MRI frame with the ``fsaverage-trans.fif`` that ships inside MNE (no
    download) and converted from metres to mm. fsaverage's MRI frame is MNI305, so
    this *approximates* MNI space: good enough to place electrodes over a glass
    brain, not for source analysis. The electrodes sit on the scalp, so they lie
    outside the brain's outline.
    """
    import mne

    info = montage_info(tuple(channels))
    head = np.array([ch["loc"][:3] for ch in info["chs"]])  # (n_chans, 3), m, head frame
    trans = mne.read_trans(os.path.join(os.path.dirname(mne.__file__), "data", "fsaverage", "fsaverage-trans.fif"))
    return 1000.0 * mne.transforms.apply_trans(trans, head)


def topomap_xy(channels=EEG_CHANNELS) -> np.ndarray:
    """2-D scalp positions of MNE's topomaps, shape (n_chans, 2): x to the right ear, y to the nose.

    The azimuthal equidistant projection that :func:`mne.viz.plot_topomap` uses
    (its default sphere: centre at the head frame's origin, radius 95 mm, drawn as
    the head outline at radius 1): an electrode at distance d from the centre and
    at angle theta from the vertical lands at radius (theta / 90 degrees) * d / 95 mm.
    """
    info = montage_info(tuple(channels))
    pos = np.array([ch["loc"][:3] for ch in info["chs"]])  # (n_chans, 3), m, head frame
    az = np.arctan2(pos[:, 1], pos[:, 0])
    dist = np.linalg.norm(pos, axis=1)
    polar = np.arccos(np.clip(pos[:, 2] / dist, -1.0, 1.0))  # 0 straight up
    r = polar / (np.pi / 2) * dist / HEAD_RADIUS_M
    return np.column_stack([r * np.cos(az), r * np.sin(az)])


# ------------------------------------------------------------------ helpers


def _as_map(m, n_chans: int) -> np.ndarray:
    m = np.asarray(m, dtype=float)
    if m.ndim != 2 or m.shape[1] != n_chans:
        raise EmokdError(f"a saliency map must have shape (n_bands, {n_chans}), got {m.shape}")
    return m


def _bands(bands, n: int) -> list[str]:
    bands = [str(b) for b in bands]
    if len(bands) != n:
        raise EmokdError(f"{len(bands)} band names {bands} for a map of {n} bands")
    return bands


def view_map(saliency: dict, model: str, method: str, *, subject: str = "all", state: str = "all"):
    """One map of a ``saliency.json`` dict: (n_bands, n_chans) array, or None where it has none.

    ``subject``: ``"all"`` or a subject id (``by_subject``); ``state``: ``"all"``,
    ``"high"`` or ``"low"`` (``by_state``). ``saliency.json`` keeps maps per subject
    over all steps and per state over all subjects, not per subject *and* state:
    that combination gives None.
    """
    try:
        entry = saliency["models"][model][method]
    except KeyError:
        raise EmokdError(f"no map for model {model!r} and method {method!r}; the saliency has models "
                         f"{list(saliency['models'])} and methods {saliency['methods']}") from None
    if subject != "all" and state != "all":
        return None
    m = (entry["map"] if subject == "all" and state == "all" else
         entry["by_state"].get(state) if subject == "all" else entry["by_subject"].get(str(subject)))
    return None if m is None else np.asarray(m, dtype=float)


# ------------------------------------------------------------------ figures


def plot_band_topomaps(band_map, bands, *, channels=EEG_CHANNELS, title: str | None = None, vlim=None,
                       cmap: str = CMAP, label: str = "share of saliency", shares: bool = True):
    """One scalp map per band, on one colour scale.

    Parameters
    ----------
    band_map : array, shape (n_bands, n_chans)
    bands : sequence of str, the band names (rows of ``band_map``)
    vlim : (vmin, vmax), optional; default the map's min and max over all bands,
        so that the bands can be compared
    shares : bool
        Title each map with its share of the whole map (a saliency map); False: with its name only
        (maps of other values, e.g. z-scores)

    Returns
    -------
    fig : Figure with n_bands topomap axes and one colour bar
    """
    import mne

    m = _as_map(band_map, len(channels))
    bands = _bands(bands, len(m))
    vlim = tuple(vlim) if vlim is not None else (float(m.min()), float(m.max()))
    info = montage_info(tuple(channels))
    fig, axes = _topomap_axes(len(bands))
    for ax, row, name in zip(axes, m, bands):
        im, _ = mne.viz.plot_topomap(row, info, axes=ax, show=False, cmap=cmap, vlim=vlim, contours=0,
                                     sensors=True)
        ax.set_title(f"{name}\n{row.sum():.0%} of the map" if shares else name, fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label=label)
    if title:
        fig.suptitle(title)
    return fig


def _topomap_axes(n: int, *, panel_in: float = 2.2):
    """A figure of ``n`` topomap axes in rows of at most three (spare cells
    left empty), room for a colour bar on the right; returns (fig, the n axes in reading order)."""
    rows, cols = style.grid(n, max_columns=3)  # no tick labels: three heads a row are readable
    fig, axes = plt.subplots(rows, cols, figsize=(min(style.PAGE_WIDTH_IN, panel_in * cols + 1.2), panel_in * rows),
                             layout="constrained", squeeze=False)
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def plot_band_importance(importance, bands, *, highlight: str | None = None, title: str | None = None,
                         ylabel: str = "share of saliency"):
    """Bars of each band's importance (the sum of its row of the map).

    ``importance``: shape (n_bands,), or a dict name -> (n_bands,) for grouped bars
    (e.g. student and KD student). ``highlight`` outlines one band.

    Returns a Figure with one axes.
    """
    series = dict(importance) if isinstance(importance, dict) else {"": importance}
    series = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    n = len(next(iter(series.values())))
    bands = _bands(bands, n)
    if any(v.shape != (n,) for v in series.values()):
        raise EmokdError(f"band importances must all have shape ({n},), got {[v.shape for v in series.values()]}")
    fig, ax = plt.subplots(figsize=(min(style.PAGE_WIDTH_IN, 1.1 * n + 2.5), 3.0), layout="constrained")
    width = 0.8 / len(series)
    x = np.arange(n)
    for i, (name, v) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, v, width, label=name or None,
                      color=style.model_colour(name, default=None))
        if highlight in bands:
            bars[bands.index(highlight)].set(edgecolor="black", linewidth=2)
    ax.axhline(1 / n, color="0.5", linestyle=":", linewidth=1, label="uniform (1 / n_bands)")
    ax.set_xticks(x, bands)
    ax.set(ylabel=ylabel, xlabel="band", title=title or "Which bands the model reads")
    ax.legend(fontsize="small")
    return fig


def plot_glass_brain(channel_importance, *, channels=EEG_CHANNELS, title: str | None = None,
                     display_mode: str = "lzr", cmap: str = CMAP, margin_mm: float = 25.0):
    """Per-electrode saliency as markers over a glass brain (nilearn), colour and size by value.

    ``channel_importance``: shape (n_chans,), e.g. a map's column sums. Positions:
    :func:`electrode_mni_mm` (approximate MNI, no download). The views are widened
    by ``margin_mm`` because scalp electrodes lie outside the brain.

    Returns a Figure with one axes per view of ``display_mode``, a colour bar and
    nilearn's frame around them.
    """
    from nilearn import plotting

    v = np.asarray(channel_importance, dtype=float)
    if v.shape != (len(channels),):
        raise EmokdError(f"channel_importance must have shape ({len(channels)},), got {v.shape}")
    span = v.max() - v.min()
    sizes = 15 + 185 * ((v - v.min()) / span if span > 0 else np.full_like(v, 0.5))  # points^2
    fig = plt.figure(figsize=(min(style.PAGE_WIDTH_IN, 2.6 * len(display_mode) + 0.8), 3.0))
    display = plotting.plot_markers(v, electrode_mni_mm(channels), node_size=sizes, node_cmap=cmap,
                                    display_mode=display_mode, figure=fig, colorbar=True, title=title,
                                    node_vmin=float(v.min()), node_vmax=float(v.max()))
    for view in display.axes.values():  # widen each view; keep its orientation (some x axes run backwards)
        x0, x1 = view.ax.get_xlim()
        y0, y1 = view.ax.get_ylim()
        sx = 1 if x1 > x0 else -1
        view.ax.set_xlim(x0 - sx * margin_mm, x1 + sx * margin_mm)
        view.ax.set_ylim(y0 - margin_mm, y1 + margin_mm)
    return fig


def plot_models_side_by_side(maps: dict, bands, *, channels=EEG_CHANNELS, title: str | None = None,
                             cmap: str = CMAP):
    """Topomaps of several models (columns, named in their colour on top) per band (rows), on one colour scale.

    ``maps``: name -> (n_bands, n_chans), e.g. ``{"student": ..., "student_kd": ...}``. The models side by
    side in columns, the bands down the rows, so the figure stays as narrow as the page.

    Returns a Figure with n_bands x len(maps) topomap axes and one colour bar.
    """
    import mne

    maps = {k: _as_map(v, len(channels)) for k, v in maps.items()}
    if not maps:
        raise EmokdError("no maps to plot")
    n_bands = len(next(iter(maps.values())))
    bands = _bands(bands, n_bands)
    vlim = (min(m.min() for m in maps.values()), max(m.max() for m in maps.values()))
    info = montage_info(tuple(channels))
    panel_in = 2.0
    fig, axes = plt.subplots(n_bands, len(maps), figsize=(min(style.PAGE_WIDTH_IN, panel_in * len(maps) + 1.2),
                                                         panel_in * n_bands), layout="constrained", squeeze=False)
    for j, (name, m) in enumerate(maps.items()):
        for i, (row, band) in enumerate(zip(m, bands)):
            ax = axes[i, j]
            im, _ = mne.viz.plot_topomap(row, info, axes=ax, show=False, cmap=cmap, vlim=vlim, contours=0)
            ax.set_title(f"{band}: {row.sum():.0%}", fontsize=9)
        axes[0, j].set_title(f"{name}\n{bands[0]}: {m[0].sum():.0%}", fontsize=9)
        axes[0, j].title.set_color(style.model_colour(name, default="black"))
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="share of saliency")
    if title:
        fig.suptitle(title)
    return fig


def plot_map_vs_truth(saliency_map, truth_map, bands, *, channels=EEG_CHANNELS, title: str | None = None,
                      cmap: str = CMAP):
    """A saliency map next to the planted truth map, and one against the other.

    Left and middle: the maps as band x channel images; right: each of the
    n_bands x n_chans cells, saliency against truth, coloured by band, with their
    Spearman rank correlation (the ``truth_spearman`` of ``saliency.json``).

    Returns a Figure with 3 axes and 2 colour bars.
    """
    s = _as_map(saliency_map, len(channels))
    t = _as_map(truth_map, len(channels))
    if s.shape != t.shape:
        raise EmokdError(f"saliency map {s.shape} and truth map {t.shape} differ in shape")
    bands = _bands(bands, len(s))
    # the two maps one above the other (each as wide as the page, so 32 channel names fit), the cells below
    fig, axes = plt.subplots(3, 1, figsize=(style.PAGE_WIDTH_IN, 8.4), layout="constrained",
                             height_ratios=[1, 1, 1.3])
    for ax, m, name in ((axes[0], s, "saliency map"), (axes[1], t, "planted truth map")):
        im = ax.imshow(m, aspect="auto", cmap=cmap, interpolation="nearest")
        ax.set_yticks(range(len(bands)), bands)
        ax.set_xticks(range(len(channels)), channels, rotation=90, fontsize=7)
        ax.set(title=name, xlabel="channel")
        fig.colorbar(im, ax=ax, shrink=0.9)
    r = spearman(s, t, nan_policy="propagate")  # nan (printed as such) when undefined
    colours = plt.get_cmap("tab10")
    for b, band in enumerate(bands):
        axes[2].scatter(t[b], s[b], s=10, color=colours(b % 10), label=band)
    axes[2].set(xlabel="truth", ylabel="saliency", title=f"Spearman {r:.2f}")
    axes[2].legend(fontsize=7, markerscale=1.5, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    return fig
