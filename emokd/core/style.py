"""The one figure style of the book and of emokd's figures: a colour per model, the house theme, page sizes.

Every figure of the book (each chapter's setup cell calls :func:`apply`) and every figure emokd draws
(:mod:`emokd.evaluation.report`, :mod:`emokd.saliency.figures`, :mod:`emokd.evaluation.collection`) takes a
model's colour from :func:`model_colour`, so the teacher is the same green, the student the same blue and
the KD student the same red on every page. Statistical plots use seaborn with :func:`palette` (paired lines
per fold with a mean and an interval, strip and point plots, facet grids).

Readable at page width: the book's main column is about :data:`PAGE_WIDTH_PX` pixels wide at a 1280 px
window, and a figure drawn at :data:`DPI` dots per inch :data:`PAGE_WIDTH_IN` inches wide is shown at its
natural size there. A row of small multiples holds at most :data:`MAX_COLUMNS` panels, so that none is
narrower than :data:`MIN_PANEL_PX` pixels; :func:`grid` wraps more panels into rows.
(``tests/book/test_browser.py`` checks the built pages at 1280 px.)

Nothing here is imported at module level but the standard library: matplotlib and seaborn are imported
when a function needs them, so that ``emokd.core`` stays importable without them.
"""

from __future__ import annotations

import contextlib
import math
import re

from ..errors import EmokdError

#: the colour of every model and reference emokd names, and of the two targets (``labels``: the annotated
#: valence; ``latent``: the synthetic data's planted valence). Dark, saturated hues for the networks,
#: greys and earth tones for the references, black for the labels. Chosen from ColorBrewer's
#: colour-blind-safe diverging schemes (PRGn, RdBu, BrBG, PuOr), plus a cyan;
#: ``tests/core/test_style.py`` keeps any two of them apart.
MODEL_COLOURS: dict[str, str] = {
    "teacher": "#1b7837",  # green
    "student": "#2166ac",  # blue
    "student_kd": "#b2182b",  # red
    "student_kd_selected": "#f4a582",  # pale red: the KD student of the weight chosen on validation
    "student_kd_output": "#e08214",  # orange: taught the teacher's output, not its features
    "student_kd_shuffled": "#762a83",  # purple: taught features of another window (a control)
    "student_self": "#17becf",  # cyan: taught by a copy of itself
    "student_calib_norm": "#8c510a",  # brown: the student with a new person's calibration statistics
    "ref_ridge_student": "#878787",  # grey: ridge regression on the student's features
    "ref_ridge_teacher": "#5aae61",  # light green: ridge regression on the teacher's features
    "ref_trial_mean_oracle": "#c51b7d",  # magenta: a yardstick that reads the test labels
    "ref_train_mean": "#b0b0b0",  # mid-light grey: a constant
    "ref_zero": "#d9d9d9",  # light grey: a constant
    "labels": "#000000",  # black: the annotated valence
    "latent": "#4d4d4d",  # dark grey: the planted valence of the synthetic data
}

#: other names the code and the book use for the same thing
ALIASES: dict[str, str] = {"kd": "student_kd", "taught": "student_kd", "true": "labels", "truth": "labels",
                           "valence": "labels"}

#: the book's main column at a 1280 px browser window, in CSS pixels (measured on the built book: the
#: article's content box of sphinx-book-theme)
PAGE_WIDTH_PX = 676
#: figures are drawn at this many dots per inch, and shown at their natural size in the book
DPI = 100
#: a figure this wide (inches) fills the main column at its natural size
PAGE_WIDTH_IN = PAGE_WIDTH_PX / DPI
#: no panel of a figure (axes with its tick labels) narrower than this at page width, in CSS pixels. A
#: topomap, which has no tick labels, may be smaller: three a row (``max_columns=3`` of :func:`grid`,
#: ``min_px`` of :func:`narrow_panels`)
MIN_PANEL_PX = 250
#: panels per row of small multiples at page width
MAX_COLUMNS = PAGE_WIDTH_PX // MIN_PANEL_PX

#: the default colour cycle (folds, seeds, subjects: what is not a model): viridis at 0, 1/8, ..., 7/8
CYCLE: tuple[str, ...] = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30")

_KD_WEIGHT = re.compile(r"^student_kd_w(?P<w>[0-9.e+-]+)$")
#: a student read at a shorter budget (``ExperimentConfig.student_budgets``): ``<model>_e<epochs>``
_BUDGET = re.compile(r"^(?P<model>student.*?)_e(?P<epochs>[0-9]+)$")


def _rgb(colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` -> (r, g, b) in [0, 1]."""
    return tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def _hex(rgb) -> str:
    return "#" + "".join(f"{round(255 * min(max(c, 0.0), 1.0)):02x}" for c in rgb)


def kd_weight_colour(weight: float) -> str:
    """The colour of the KD student of distillation weight ``weight`` (``student_kd_w<weight>``).

    Shades of the KD student's red on a log scale: weight 1 is :data:`MODEL_COLOURS` ``["student_kd"]``,
    weight 0.01 almost white-pink, weight 10 dark red, so a sweep reads as one family.
    """
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
        raise EmokdError(f"a KD weight must be a positive number, got {weight!r}")
    t = min(max(math.log10(weight), -2.0), 1.0)  # -2 .. 1, 0 at weight 1
    base = _rgb(MODEL_COLOURS["student_kd"])
    if t <= 0:  # towards a pale red
        pale = _rgb("#fddbc7")
        return _hex(b + (p - b) * (-t / 2.0) for b, p in zip(base, pale))
    return _hex(b * (1.0 - 0.55 * t) for b in base)  # towards a dark red


_RAISE = object()


def budget_colour(model: str, epochs: int) -> str:
    """The colour of ``model`` read at a shorter budget of ``epochs`` epochs (``<model>_e<epochs>``): the
    model's own colour mixed towards white, the more the shorter the budget (log scale: 2 epochs three
    quarters of the way to white at most, 1000 and more not at all), so every budget of one model reads as
    one family and the full budget keeps the model's colour."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise EmokdError(f"a budget must be a whole number of epochs >= 1, got {epochs!r}")
    towards_white = min(0.75, 0.75 * max(0.0, 1.0 - math.log10(epochs) / 3.0))
    return _hex(c + (1.0 - c) * towards_white for c in _rgb(model_colour(model)))


def model_colour(name: str, default=_RAISE) -> str:
    """The colour (``#rrggbb``) of a model, reference or target by its name in emokd's results.

    ``student_kd_w<w>`` (a KD weight of a sweep) takes :func:`kd_weight_colour`, ``<student>_e<E>`` (a shorter
    budget) :func:`budget_colour`; :data:`ALIASES` are
    accepted. An unknown name raises :class:`~emokd.errors.EmokdError` (a new model gets its colour here,
    once, not in a chapter), unless a ``default`` is given: then that is returned (``None``: matplotlib's
    next colour), for figures of results files that other code wrote.
    """
    if not isinstance(name, str):
        if default is not _RAISE:
            return default
        raise EmokdError(f"a model name must be a string, got {name!r}")
    key = ALIASES.get(name, name)
    if key in MODEL_COLOURS:
        return MODEL_COLOURS[key]
    if (m := _KD_WEIGHT.match(key)) is not None:
        try:
            return kd_weight_colour(float(m["w"]))
        except ValueError:
            pass
    if (m := _BUDGET.match(key)) is not None and model_colour(m["model"], None) is not None:
        return budget_colour(m["model"], int(m["epochs"]))
    if default is not _RAISE:
        return default
    raise EmokdError(f"no colour for model {name!r}: add it to emokd.core.style.MODEL_COLOURS "
                     f"(known: {', '.join(MODEL_COLOURS)})")


def palette(models) -> dict[str, str]:
    """``{model: colour}`` for ``models`` (an iterable of names), for seaborn's ``palette=`` and ``hue_order``."""
    return {m: model_colour(m) for m in dict.fromkeys(models)}


def grid(n_panels: int, *, max_columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """(rows, columns) of small multiples for ``n_panels`` panels: at most ``max_columns`` per row."""
    if not isinstance(n_panels, int) or n_panels < 1:
        raise EmokdError(f"n_panels must be an integer >= 1, got {n_panels!r}")
    if not isinstance(max_columns, int) or max_columns < 1:
        raise EmokdError(f"max_columns must be an integer >= 1, got {max_columns!r}")
    cols = min(n_panels, max_columns)
    return math.ceil(n_panels / cols), cols


def figsize(n_columns: int = 1, n_rows: int = 1, *, row_height_in: float = 2.6) -> tuple[float, float]:
    """A figure as wide as the page (at most) for ``n_columns`` x ``n_rows`` panels, in inches.

    The width grows with the columns up to :data:`PAGE_WIDTH_IN` (one panel: two thirds of the page),
    so a panel never shrinks below :data:`MIN_PANEL_PX` when the figure is shown at page width.
    """
    if not (isinstance(n_columns, int) and isinstance(n_rows, int) and n_columns >= 1 and n_rows >= 1):
        raise EmokdError(f"n_columns and n_rows must be integers >= 1, got {n_columns!r}, {n_rows!r}")
    width = min(PAGE_WIDTH_IN, max(PAGE_WIDTH_IN * 2 / 3, n_columns * MIN_PANEL_PX * 1.2 / DPI))
    return round(width, 2), round(row_height_in * n_rows, 2)


def narrow_panels(fig, *, min_px: float = MIN_PANEL_PX) -> list[str]:
    """The panels of ``fig`` (axes with their labels) narrower than ``min_px`` CSS pixels at page width.

    A figure is shown at its natural size (its width in inches x its dpi) up to :data:`PAGE_WIDTH_PX`, and
    scaled down to it beyond. Colour bars are not panels. Returns one line per narrow panel (its title or
    position and its width), empty when every panel is readable.
    """
    fig.canvas.draw()  # constrained layout places the axes on drawing
    renderer = fig.canvas.get_renderer()
    scale = min(1.0, PAGE_WIDTH_PX / (fig.get_figwidth() * fig.dpi))
    out = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        px = ax.get_tightbbox(renderer).width * scale  # the panel with its tick labels and title
        if px < min_px:
            out.append(f"axes {i} ({ax.get_title() or 'untitled'!r}): {px:.0f} px")
    return out


def rc_params(*, context: str = "notebook") -> dict:
    """The house style as matplotlib rcParams: seaborn's ``ticks`` style and ``context`` scaled for the
    page, a colour cycle of no model (:data:`CYCLE`), :data:`DPI`, no top and right spines. No layout engine:
    seaborn's grids lay themselves out, emokd's figures ask for ``layout="constrained"``.

    Without seaborn, the same minus seaborn's theme (matplotlib's defaults for fonts and ticks).
    """
    from matplotlib import cycler

    rc: dict = {}
    try:
        import seaborn as sns
    except ImportError:  # the package's own figures must not need seaborn
        pass
    else:
        rc.update(sns.axes_style("ticks"))
        rc.update(sns.plotting_context(context, font_scale=0.85))
    rc.update({
        "figure.dpi": DPI, "savefig.dpi": DPI, "figure.figsize": (PAGE_WIDTH_IN * 0.75, 3.2),
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": False,
        "axes.titlesize": "medium", "axes.titleweight": "normal", "axes.labelsize": "medium",
        "legend.frameon": False, "legend.fontsize": "small",
        "image.cmap": "viridis",
        # the default cycle is no model's colour (a fold, a seed, a subject must not look like a model): eight
        # steps of viridis, dark to light, read as an order; models take model_colour explicitly
        "axes.prop_cycle": cycler(color=CYCLE),
    })
    return rc


def apply(*, context: str = "notebook") -> None:
    """Make the house style matplotlib's default for this process (each chapter's setup cell calls it)."""
    import matplotlib as mpl

    mpl.rcParams.update(rc_params(context=context))


@contextlib.contextmanager
def house_style(*, context: str = "notebook"):
    """The house style inside a ``with`` block only (emokd's saved report figures), rcParams restored after."""
    import matplotlib as mpl

    with mpl.rc_context(rc_params(context=context)):
        yield
