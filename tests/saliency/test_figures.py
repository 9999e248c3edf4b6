"""Saliency figures: each returns a Figure with the expected axes; electrode positions with known answers."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.spatial.distance import pdist  # noqa: E402

from emokd.saliency import figures as sf  # noqa: E402
from emokd.core.constants import BAND_NAMES  # noqa: E402
from emokd.core.constants import EEG_CHANNELS  # noqa: E402
from emokd.errors import EmokdError  # noqa: E402
from emokd.io.features import EEG_BANDS  # noqa: E402
from emokd.saliency.run import FORMAT
from emokd.saliency.attribution import METHODS
from emokd.saliency.aggregation import aggregate, trial_maps


def fake_saliency(bands=BAND_NAMES, subjects=(1, 2, 3), models=("student", "student_kd"), methods=METHODS,
                  truth=True, seed=0) -> dict:
    """A small saliency.json-like dict made by emokd.saliency.aggregation.aggregate from random per-step attributions
    (two trials per subject, one LOSO fold per subject); the truth plants the last two bands."""
    rng = np.random.default_rng(seed)
    n = len(bands) * len(EEG_CHANNELS)
    truth_map = np.zeros((len(bands), len(EEG_CHANNELS)))
    truth_map[-2:] = rng.uniform(0.3, 1.0, (2, len(EEG_CHANNELS)))
    out = {"format": FORMAT, "bands": list(bands), "channels": list(EEG_CHANNELS), "methods": list(methods),
           "truth": {"file": "ground_truth.json", "map": truth_map.tolist()} if truth else None, "models": {}}
    for model in models:
        out["models"][model] = {}
        for method in methods:
            records = [{"fold": i, "subject": s, "maps": trial_maps(rng.gamma(2.0, size=(40, n)),
                                                                   np.sin(np.arange(40) / 5.0 + k))}
                       for i, s in enumerate(subjects) for k in range(2)]
            out["models"][model][method] = aggregate(records, truth_map if truth else None)
    return out


@pytest.fixture(scope="module")
def sal():
    return fake_saliency()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.slow
def test_band_topomaps_one_axes_per_band_and_a_colour_bar(sal):
    fig = sf.plot_band_topomaps(sal["models"]["student"]["gradient"]["map"], sal["bands"], title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == len(BAND_NAMES) + 1
    four = sf.plot_band_topomaps(np.random.default_rng(1).random((4, 32)), EEG_BANDS)  # the feature release
    assert len(four.axes) == 5
    with pytest.raises(EmokdError, match=r"shape \(n_bands, 32\)"):
        sf.plot_band_topomaps(np.zeros((6, 31)), BAND_NAMES)
    with pytest.raises(EmokdError, match="5 band names"):
        sf.plot_band_topomaps(np.zeros((6, 32)), BAND_NAMES[:5])


def test_band_importance_bars(sal):
    one = sf.plot_band_importance(sal["models"]["student"]["occlusion"]["band_importance"], sal["bands"],
                                  highlight="gamma")
    assert isinstance(one, Figure) and len(one.axes) == 1 and len(one.axes[0].patches) == len(BAND_NAMES)
    both = sf.plot_band_importance({m: e["gradient"]["band_importance"] for m, e in sal["models"].items()},
                                   sal["bands"])
    assert len(both.axes) == 1 and len(both.axes[0].patches) == 2 * len(BAND_NAMES)
    heights = [p.get_height() for p in one.axes[0].patches]
    np.testing.assert_allclose(heights, sal["models"]["student"]["occlusion"]["band_importance"])


@pytest.mark.parametrize("mode", ["lzr", "z"])
def test_glass_brain_one_axes_per_view(sal, mode):
    fig = sf.plot_glass_brain(sal["models"]["student_kd"]["grad_x_input"]["channel_importance"], display_mode=mode,
                              title="KD student")
    # one axes per view, the colour bar, and nilearn's frame around them
    assert isinstance(fig, Figure) and len(fig.axes) == len(mode) + 2
    with pytest.raises(EmokdError, match=r"shape \(32,\)"):
        sf.plot_glass_brain(np.ones(31))


@pytest.mark.slow
def test_models_side_by_side(sal):
    maps = {m: np.asarray(e["integrated_gradients"]["map"])[-2:] for m, e in sal["models"].items()}  # beta, gamma
    fig = sf.plot_models_side_by_side(maps, sal["bands"][-2:], title="student vs KD student")
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 2 + 1  # 2 models x 2 bands, one colour bar


def test_map_vs_truth(sal):
    entry = sal["models"]["student"]["gradient"]
    fig = sf.plot_map_vs_truth(entry["map"], sal["truth"]["map"], sal["bands"])
    assert isinstance(fig, Figure) and len(fig.axes) == 5  # 2 maps, their colour bars, the scatter
    assert fig.axes[2].get_title() == f"Spearman {entry['truth_spearman']:.2f}"
    with pytest.raises(EmokdError, match="differ in shape"):
        sf.plot_map_vs_truth(entry["map"], np.zeros((4, 32)), sal["bands"])


def test_view_map_picks_the_right_entry(sal):
    e = sal["models"]["student"]["occlusion"]
    np.testing.assert_array_equal(sf.view_map(sal, "student", "occlusion"), e["map"])
    np.testing.assert_array_equal(sf.view_map(sal, "student", "occlusion", state="low"), e["by_state"]["low"])
    np.testing.assert_array_equal(sf.view_map(sal, "student", "occlusion", subject="2"), e["by_subject"]["2"])
    np.testing.assert_array_equal(sf.view_map(sal, "student", "occlusion", subject=2), e["by_subject"]["2"])
    assert sf.view_map(sal, "student", "occlusion", subject="2", state="high") is None  # not kept by saliency.json
    with pytest.raises(EmokdError, match="no map for model 'teacher'"):
        sf.view_map(sal, "teacher", "gradient")


def test_topomap_positions_known_answers():
    xy = dict(zip(EEG_CHANNELS, sf.topomap_xy()))
    np.testing.assert_allclose(xy["Cz"], [0, 0], atol=1e-9)  # the vertex is the centre
    assert abs(xy["T7"][1]) < 1e-9 and xy["T7"][0] < -0.5 and xy["T8"][0] > 0.5  # ears on the x axis
    assert abs(xy["Oz"][0]) < 1e-9 and xy["Oz"][1] < -0.5 and xy["Fz"][1] > 0  # nose up
    for left, right in [("Fp1", "Fp2"), ("C3", "C4"), ("P7", "P8"), ("O1", "O2")]:
        np.testing.assert_allclose(xy[left] * [-1, 1], xy[right], atol=1e-9)
    assert max(np.hypot(*p) for p in xy.values()) < 1  # inside the head outline


def test_topomap_positions_are_mnes():
    layout = pytest.importorskip("mne.channels.layout")
    if not hasattr(layout, "_find_topomap_coords"):
        pytest.skip("MNE's private _find_topomap_coords moved")
    mne_xy = layout._find_topomap_coords(sf.montage_info(), picks=list(range(32)), sphere=np.array([0, 0, 0, 0.095]))
    np.testing.assert_allclose(sf.topomap_xy(), mne_xy / 0.095, atol=1e-9)


def test_electrode_mni_positions():
    import mne

    pos = sf.electrode_mni_mm()
    assert pos.shape == (32, 3)
    p = dict(zip(EEG_CHANNELS, pos))
    assert p["Fp1"][1] > 40 and p["O1"][1] < -80 and p["T7"][0] < -80 and p["T8"][0] > 80
    assert np.argmax(pos[:, 2]) == EEG_CHANNELS.index("Cz")
    montage = mne.channels.make_standard_montage("biosemi32").get_positions()["ch_pos"]
    metres = np.array([montage[c] for c in EEG_CHANNELS])
    np.testing.assert_allclose(pdist(pos), 1000 * pdist(metres), rtol=1e-6)  # a rigid move, in mm


@pytest.mark.slow
def test_the_figures_fit_the_page(sal):
    """At the book's page width no panel is too narrow to read (emokd.core.style): the topomaps wrap into rows,
    the models stand side by side in columns; a topomap has no tick labels and may be a little smaller."""
    from emokd.core import style

    m = sal["models"]["student"]["gradient"]["map"]
    for fig in (sf.plot_band_topomaps(m, sal["bands"]),
                sf.plot_models_side_by_side({k: e["gradient"]["map"] for k, e in sal["models"].items()}, sal["bands"])):
        assert fig.get_figwidth() * fig.dpi <= style.PAGE_WIDTH_PX + 1
        assert style.narrow_panels(fig, min_px=170) == []
    for fig in (sf.plot_band_importance(sal["models"]["student"]["occlusion"]["band_importance"], sal["bands"]),
                sf.plot_map_vs_truth(m, sal["truth"]["map"], sal["bands"])):
        assert style.narrow_panels(fig) == []
