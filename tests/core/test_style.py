"""emokd.core.style: every model emokd names has one colour, the colours are told apart, the house style
applies and restores, and small multiples wrap before a panel gets narrower than the page allows."""

from __future__ import annotations

import dataclasses
import itertools

import matplotlib
import pytest

from emokd.core import style
from emokd.core.config import HANDOVERS, PRESETS, experiment_config
from emokd.errors import EmokdError
from emokd.evaluation.collection import MODELS as COLLECTION_MODELS
from emokd.training.fold import model_names
from emokd.training.folddata import REFERENCES

matplotlib.use("Agg")


def every_model_name() -> set[str]:
    """What emokd's experiments write into results.json: every preset and protocol, with every hand-over,
    a calibration, a KD sweep and a KD selection grid; the references; the targets."""
    names = set(REFERENCES) | set(COLLECTION_MODELS) | {"labels", "latent"}
    for preset, protocol in itertools.product(PRESETS, ("loso", "trs")):
        cfg = experiment_config(preset, protocol, 0)
        names |= set(model_names(cfg))
        cfg = dataclasses.replace(cfg, handover=HANDOVERS, kd_sweep=(0.1, 3.0), kd_select=(0.0, 0.3, 1.0, 10.0),
                                  calibration=0.5 if protocol == "loso" else 0.0)
        names |= set(model_names(cfg))
    return names


def distance(a: str, b: str) -> float:
    """Euclidean distance of two #rrggbb colours in RGB, 0..255 per channel."""
    ra, rb = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return sum((x - y) ** 2 for x, y in zip(ra, rb)) ** 0.5


def test_every_model_emokd_names_has_a_colour():
    names = every_model_name()
    assert {"teacher", "student", "student_kd", "student_kd_output", "student_kd_shuffled", "student_self",
            "student_calib_norm", "student_kd_selected", "ref_ridge_student", "ref_trial_mean_oracle",
            "student_kd_w0.1", "student_kd_w3", "student_kd_w10"} <= names  # the enumeration found them
    for name in names:
        colour = style.model_colour(name)
        assert colour.startswith("#") and len(colour) == 7, (name, colour)


def test_the_named_colours_are_told_apart():
    colours = style.MODEL_COLOURS
    assert len(set(colours.values())) == len(colours)
    close = [(a, b, round(distance(colours[a], colours[b]))) for a, b in itertools.combinations(colours, 2)
             if distance(colours[a], colours[b]) < 60]
    assert not close, f"colours too alike (RGB distance < 60): {close}"


def test_the_three_models_of_the_recipe_keep_their_colours():
    # the colours every chapter and the static playgrounds (scarce_labels, kd_study) agree on
    assert style.model_colour("teacher") == "#1b7837"
    assert style.model_colour("student") == "#2166ac"
    assert style.model_colour("student_kd") == style.model_colour("taught") == "#b2182b"
    assert style.model_colour("true") == style.model_colour("labels") == "#000000"


def test_kd_weights_are_shades_of_the_kd_student():
    assert style.model_colour("student_kd_w1") == style.model_colour("student_kd")
    weights = [0.01, 0.1, 0.3, 1, 3, 10]
    red = [int(style.kd_weight_colour(w)[1:3], 16) for w in weights]
    green = [int(style.kd_weight_colour(w)[3:5], 16) for w in weights]
    assert green == sorted(green, reverse=True), green  # paler (more green and blue) for smaller weights
    assert red[-1] < red[3], red  # darker above 1
    with pytest.raises(EmokdError, match="positive"):
        style.kd_weight_colour(0)


def test_a_shorter_budget_is_a_paler_shade_of_its_model():
    """``student_kd_e15`` is student_kd's red mixed towards white, more for 15 epochs than for 60; every channel
    moves towards 255 and keeps its order (the hue stays)."""
    for model in ("student", "student_kd", "student_kd_shuffled", "student_kd_w0.3"):
        base = [int(style.model_colour(model)[i:i + 2], 16) for i in (1, 3, 5)]
        e15, e60 = ([int(style.model_colour(f"{model}_e{e}")[i:i + 2], 16) for i in (1, 3, 5)] for e in (15, 60))
        assert all(b <= c60 <= c15 for b, c60, c15 in zip(base, e60, e15)) and e15 != e60 != base, (model, e15, e60)
        assert sorted(range(3), key=lambda i: base[i]) == sorted(range(3), key=lambda i: e15[i])
    assert style.model_colour("student_e2") == style.budget_colour("student", 2)
    assert style.budget_colour("student", 1000) == style.model_colour("student")
    with pytest.raises(EmokdError, match="student_new_e15"):
        style.model_colour("student_new_e15")
    with pytest.raises(EmokdError, match="budget"):
        style.budget_colour("student", 0)


def test_an_unknown_model_is_refused_with_its_name():
    with pytest.raises(EmokdError, match="student_new"):
        style.model_colour("student_new")
    with pytest.raises(EmokdError, match="student_kd_wx"):
        style.model_colour("student_kd_wx")


def test_palette_keeps_the_order_and_drops_repeats():
    assert list(style.palette(["student_kd", "teacher", "student_kd"])) == ["student_kd", "teacher"]


@pytest.mark.parametrize("n, expected", [(1, (1, 1)), (2, (1, 2)), (3, (2, 2)), (8, (4, 2)), (18, (9, 2))])
def test_grid_wraps_small_multiples(n, expected):
    assert style.grid(n) == expected
    rows, cols = expected
    width, _ = style.figsize(cols, rows)
    assert width <= style.PAGE_WIDTH_IN
    assert width * style.DPI / cols >= style.MIN_PANEL_PX  # every panel readable at page width


def test_grid_refuses_nonsense():
    with pytest.raises(EmokdError):
        style.grid(0)
    with pytest.raises(EmokdError):
        style.figsize(0)


def test_house_style_is_restored_after_the_block():
    before = dict(matplotlib.rcParams)
    with style.house_style():
        assert matplotlib.rcParams["figure.dpi"] == style.DPI
        cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
        assert not set(cycle) & set(style.MODEL_COLOURS.values()), "a fold's line must not look like a model"
        assert len(cycle) == len(set(cycle)) >= 8
        assert not matplotlib.rcParams["axes.spines.top"]
    assert dict(matplotlib.rcParams) == before


def test_apply_sets_the_style_for_the_process():
    with matplotlib.rc_context():  # restored after the test
        style.apply()
        assert matplotlib.rcParams["figure.dpi"] == style.DPI
        assert matplotlib.rcParams["legend.frameon"] is False


def test_narrow_panels_finds_a_row_of_eight():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 8, figsize=(25.6, 3.3))  # chapter 08's row before issue 36
    assert len(style.narrow_panels(fig)) == 8
    rows, cols = style.grid(8)
    fig, axes = plt.subplots(rows, cols, figsize=style.figsize(cols, rows), layout="constrained")
    assert style.narrow_panels(fig) == []
    plt.close("all")


def test_the_cycle_is_viridis_in_eight_steps():
    from matplotlib import cm, colors

    assert list(style.CYCLE) == [colors.to_hex(cm.viridis(k / 8)) for k in range(8)]
