"""The playgrounds: what they compute, checked against numpy/scipy written out independently, and
the static fragments' DOM contract (tests/book/test_browser.py operates them in a browser)."""

import html.parser
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import signal, stats

from emokd.errors import EmokdError
from emokd.teaching.playgrounds import (
    band_power_grid,
    distort,
    grid_summary,
    kd_study_summary,
    kd_study_units,
    mean_ci,
    noise_vector,
    parse_condition,
    playground_scores,
    valence_at,
)
from emokd.teaching.playgrounds_html import bandpower_explorer_html, ccc_playground_html, kd_study_html

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "results" / "kd-study" / "results.json"


def trace(n=240, seed=1):
    t = np.arange(n) / 4.0
    return np.sin(2 * np.pi * t / 30) + 0.3 * np.random.default_rng(seed).standard_normal(n)


def lin_ccc(x, y):
    # Lin (1989), written out: 2 s_xy / (s_x^2 + s_y^2 + (mean_x - mean_y)^2), population moments
    sxy = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


# --------------------------------------------------------------------- the CCC playground

@pytest.mark.parametrize("kw", [dict(), dict(offset=1.0), dict(scale=3.0), dict(noise=0.5),
                                dict(lag_s=2.5), dict(offset=-0.7, scale=0.4, noise=1.2, lag_s=4.0)])
def test_scores_agree_with_numpy_and_scipy(kw):
    y = trace()
    p = distort(y, **kw)
    s = playground_scores(y, p)
    assert s["ccc"] == pytest.approx(lin_ccc(y, p), abs=1e-12)
    assert s["pcc"] == pytest.approx(stats.pearsonr(y, p)[0], abs=1e-12)
    assert s["rmse"] == pytest.approx(np.sqrt(np.mean((y - p) ** 2)), abs=1e-12)


def test_distortions_have_their_known_effect():
    y = trace()
    m, sd = y.mean(), y.std()
    assert np.allclose(distort(y), y)  # the identity: CCC 1
    # an offset of one SD: PCC stays 1, CCC = 2 / (2 + 1) = 2/3
    s = playground_scores(y, distort(y, offset=1.0))
    assert s["pcc"] == pytest.approx(1.0) and s["ccc"] == pytest.approx(2 / 3)
    assert s["rmse"] == pytest.approx(sd)
    # twice the swing: PCC 1, CCC = 2 * 2 / (1 + 4) = 0.8
    s = playground_scores(y, distort(y, scale=2.0))
    assert s["pcc"] == pytest.approx(1.0) and s["ccc"] == pytest.approx(0.8)
    # a constant at the mean: no correlation at all, CCC 0, RMSE = SD
    s = playground_scores(y, distort(y, scale=0.0))
    assert math.isnan(s["pcc"]) and s["ccc"] == pytest.approx(0.0) and s["rmse"] == pytest.approx(sd)
    # a lag of 1 s at 4 Hz shifts by 4 steps, the first held at y[0]
    p = distort(y, lag_s=1.0)
    assert np.allclose(p[4:], y[:-4]) and np.allclose(p[:4], y[0])
    # noise is the fixed draw, scaled
    assert np.allclose(distort(y, noise=0.5) - y, 0.5 * sd * noise_vector(y.size))
    assert np.isclose(distort(y, offset=2.0).mean(), m + 2 * sd)


def test_distort_rejects_bad_input():
    with pytest.raises(EmokdError, match="lag_s"):
        distort(trace(), lag_s=-1)
    with pytest.raises(EmokdError, match="z has"):
        distort(trace(), z=np.zeros(3))
    with pytest.raises(EmokdError, match="at least 2"):
        distort([1.0])


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.data = [], {}
        self._json = False
        self._text_of = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self._json = tag == "script" and a.get("type") == "application/json"
        self._text_of = a.get("data-metric")

    def handle_data(self, data):
        if self._json:
            self.data = json.loads(data)
        if self._text_of:
            self.tags.append(("metric-text", {"metric": self._text_of, "text": data}))

    def handle_endtag(self, tag):
        self._json, self._text_of = False, None


def parse(fragment):
    p = _Tags()
    p.feed(fragment)
    return p


def test_ccc_fragment_shows_the_scores_of_its_initial_sliders():
    y = trace()
    values = {"offset": 0.5, "scale": 1.5, "noise": 0.3, "lag": 1.25}
    p = parse(ccc_playground_html(y, values=values, uid="t"))
    root = p.tags[0][1]
    assert root["class"] == "emokd-playground" and root["data-playground"] == "ccc"
    assert root["id"] == "emokd-ccc-t" and root["data-selection"] == "0.5|1.5|0.3|1.25"
    ranges = {a["data-control"]: a for t, a in p.tags if t == "input"}
    assert list(ranges) == ["offset", "scale", "noise", "lag"]
    assert all(a["type"] == "range" for a in ranges.values())
    shown = {a["metric"]: a["text"] for t, a in p.tags if t == "metric-text"}
    yr = np.round(y, 6)
    pred = distort(yr, offset=0.5, scale=1.5, noise=0.3, lag_s=1.25)
    assert shown["ccc"] == f"{lin_ccc(yr, pred):.3f}"
    assert shown["pcc"] == f"{stats.pearsonr(yr, pred)[0]:.3f}"
    assert shown["rmse"] == f"{np.sqrt(np.mean((yr - pred) ** 2)):.3f}"
    # the script recomputes from the embedded trace and noise: exactly Python's values
    assert np.array_equal(p.data["y"], yr) and np.array_equal(p.data["z"], noise_vector(y.size))
    assert "http" not in ccc_playground_html(y).replace('"http://www.w3.org/2000/svg"', "")


def test_ccc_fragment_rejects_unknown_controls_and_flat_traces():
    with pytest.raises(EmokdError, match="choose from"):
        ccc_playground_html(trace(), values={"gain": 1})
    with pytest.raises(EmokdError, match="moves"):
        ccc_playground_html(np.ones(10))


# ---------------------------------------------------------- band power against window and hop

def test_grid_matches_scipy_welch_and_its_window_centres():
    sfreq, rng = 256.0, np.random.default_rng(0)
    t = np.arange(int(20 * sfreq)) / sfreq
    x = (np.sin(2 * np.pi * 10 * t) + 0.5 * rng.standard_normal(t.size))[None, :]
    grid = band_power_grid(x, sfreq, windows_s=(0.5, 2.0, 4.0), hops_s=(0.25, 1.0), start_s=-1.0)
    assert set(grid) == {(w, h) for w in (0.5, 2.0, 4.0) for h in (0.25, 1.0)}
    for (w, h), g in grid.items():
        n_win, n_hop = int(w * sfreq), int(h * sfreq)
        assert g["power"].shape == ((x.shape[1] - n_win) // n_hop + 1, 6, 1)
        assert np.allclose(g["centre_s"], -1.0 + np.arange(g["power"].shape[0]) * h + w / 2)
        # window 3 the plain way: scipy's Welch (segments of min(1 s, window)), Simpson per band
        k = 3
        seg = x[0, k * n_hop: k * n_hop + n_win]
        f, psd = signal.welch(seg, fs=sfreq, nperseg=int(min(1.0, w) * sfreq))
        from scipy.integrate import simpson
        total = simpson(psd, x=f)
        alpha = (f >= 8) & (f <= 12)
        assert g["power"][k, 2, 0] == pytest.approx(simpson(psd[alpha], x=f[alpha]) / total, rel=1e-9)
    # a 10 Hz sine: alpha holds most of the power in every 2 s window
    assert (grid[(2.0, 0.25)]["power"][:, 2, 0] > 0.5).all()


def test_grid_summary_correlates_with_interpolated_valence():
    sfreq = 256.0
    x = np.random.default_rng(2).standard_normal((1, int(30 * sfreq)))
    grid = band_power_grid(x, sfreq, windows_s=(2.0,), hops_s=(0.5,))
    valence = np.linspace(-1, 1, 120)  # 30 s at 4 Hz
    (row,) = grid_summary(grid, valence, band="gamma")
    g = grid[(2.0, 0.5)]
    v = np.interp(g["centre_s"], np.arange(120) / 4.0, valence)
    assert row["r_valence"] == pytest.approx(stats.pearsonr(g["power"][:, 5, 0], v)[0])
    assert row["n_windows"] == g["centre_s"].size and row["windows_per_s"] == 2.0
    assert np.allclose(valence_at(valence, [0.0, 0.125, 29.75]), [valence[0], np.mean(valence[:2]),
                                                                  valence[-1]])


def test_grid_needs_a_window_that_fits():
    with pytest.raises(EmokdError, match="shorter than every window"):
        band_power_grid(np.zeros((1, 100)), 256.0, windows_s=(2.0,))


def test_bandpower_fragment_contract():
    sfreq = 256.0
    x = np.random.default_rng(3).standard_normal((1, int(20 * sfreq)))
    grid = band_power_grid(x, sfreq, start_s=-1.0)
    p = parse(bandpower_explorer_html(grid, np.zeros(76) + np.arange(76) / 76, channel="Cz", uid="b"))
    root = p.tags[0][1]
    assert root["data-playground"] == "bandpower" and root["data-selection"] == "2|0.25|gamma"
    selects = [a["data-control"] for t, a in p.tags if t == "select"]
    assert selects == ["window", "hop", "band"]
    keys = {a["data-key"] for t, a in p.tags if t == "td" and "data-key" in a}
    assert keys == {f"{w:g}|{h:g}" for w, h in grid}
    assert set(p.data["grid"]) == keys and p.data["channel"] == "Cz"


# ------------------------------------------------------------------------ the KD study

def fake_study():
    rng = np.random.default_rng(0)
    folds = {}
    for cond in ("noise0_private0", "noise1_private0", "noise1_private1"):
        rows = []
        for seed in (0, 1):
            for fold in range(4):
                row = {"seed": seed, "fold": fold}
                for target in ("labels", "latent"):
                    for scheme in ("concatenated", "per_trial"):
                        for m in ("teacher", "student", "student_kd"):
                            row[f"{m}_{target}_{scheme}"] = float(rng.uniform(0, 1))
                rows.append(row)
        folds[cond] = rows
    return {"folds": folds, "kd_weight": 1.0}


def test_units_and_summary_follow_the_file():
    study = fake_study()
    units = kd_study_units(study)
    assert len(units) == 24
    u = units[0]
    assert (u["noise"], u["private"], u["kd_weight"]) == (0.0, 0.0, 1.0)
    assert u["gain_latent_per_trial"] == pytest.approx(
        study["folds"]["noise0_private0"][0]["student_kd_latent_per_trial"]
        - study["folds"]["noise0_private0"][0]["student_latent_per_trial"])
    rows = kd_study_summary(units, target="labels", scheme="concatenated")
    assert [(r["private"], r["noise"]) for r in rows] == [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
    gains = [r["student_kd_labels_concatenated"] - r["student_labels_concatenated"]
             for r in study["folds"]["noise1_private1"]]
    g = rows[2]["gain"]
    lo, hi = stats.t.interval(0.95, len(gains) - 1, loc=np.mean(gains), scale=stats.sem(gains))
    assert g["mean"] == pytest.approx(np.mean(gains)) and g["ci95"] == pytest.approx([lo, hi])
    assert g["n"] == 8 and g["n_positive"] == sum(x > 0 for x in gains) and rows[2]["seeds"] == [0, 1]


def test_conditions_parse_with_an_optional_weight():
    assert parse_condition("noise0.5_private1") == {"noise": 0.5, "private": 1.0, "kd_weight": 1.0}
    assert parse_condition("noise2_private0_w10", 1.0)["kd_weight"] == 10.0
    with pytest.raises(EmokdError, match="expected"):
        parse_condition("seed0")
    assert mean_ci([0.1])["n"] == 1 and math.isnan(mean_ci([0.1])["ci95"][0])


@pytest.mark.skipif(not STUDY.is_file(), reason="results/kd-study/results.json is not committed")
def test_the_committed_study_agrees_with_its_own_analysis():
    study = json.loads(STUDY.read_text())
    rows = kd_study_summary(kd_study_units(study), target="labels")
    ours = {f"noise{r['noise']:g}_private{r['private']:g}": r["gain"] for r in rows}
    for cond, c in study["analysis"]["conditions"].items():
        theirs = c["kd_gain_labels"]
        assert ours[cond]["mean"] == pytest.approx(theirs["mean"], abs=1e-9)
        assert ours[cond]["n"] == theirs["n"]
        if theirs["n"] > 1:
            assert ours[cond]["ci95"] == pytest.approx(theirs["ci95"], abs=1e-9)


def test_kd_fragment_contract():
    p = parse(kd_study_html(fake_study(), uid="k", noise=1.0))
    root = p.tags[0][1]
    assert root["data-playground"] == "kdstudy"
    assert root["data-selection"] == "latent|concatenated|0|1|1"
    assert [a["data-control"] for t, a in p.tags if t == "select"] == ["target", "scheme", "private",
                                                                        "weight", "noise"]
    assert {"gain", "models"} <= {a.get("data-view") for t, a in p.tags if t == "svg"}
    assert len(p.data["units"]) == 24 and "latent|per_trial|1|1" in p.data["summary"]
    with pytest.raises(EmokdError, match="choose from"):
        kd_study_html(fake_study(), noise=3.0)


def test_kd_legend_is_painted_in_the_models_colours():
    """The legend of the KD study's models: one g[data-legend] per model with data-colour the book's colour
    (emokd.core.style), its swatch and name painted by their own style, which wins over the fragment's style
    sheet; the sheet gives currentColor only to text without a fill of its own (issue 36: it painted the
    legend black)."""
    from emokd.core import style

    fragment = kd_study_html(fake_study(), uid="k", noise=1.0)
    p = parse(fragment)
    legend = {a["data-legend"]: a["data-colour"] for t, a in p.tags if t == "g" and "data-legend" in a}
    assert legend == style.palette(["teacher", "student", "student_kd"])
    painted = [a["style"] for t, a in p.tags if t in ("rect", "text") and a.get("style", "").startswith("fill:")]
    assert sorted(painted) == sorted(f"fill:{c}" for c in legend.values() for _ in range(2))
    css = fragment[fragment.index("<style"):fragment.index("</style>")]
    assert "svg text:not([fill]):not([style]) { fill: currentColor; }" in css
    assert "svg text { font-family: sans-serif; fill: currentColor; }" not in css
