"""The explorers: the static HTML fragment follows the DOM contract (no browser needed here; see
tests/book/test_browser.py for the live one), and the ipywidgets explorer builds and redraws."""

import html.parser
import json
import math
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from emokd.core.constants import EEG_CHANNELS  # noqa: E402
from emokd.errors import EmokdError  # noqa: E402
from emokd.saliency.explorer import LUT, explorer_html, explorer_widget  # noqa: E402
from emokd.io.features import EEG_BANDS  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_figures import fake_saliency  # noqa: E402

CONTROLS = ("model", "method", "band", "subject", "state")


class _Fragment(html.parser.HTMLParser):
    """Elements of the fragment: (tag, attrs) in document order; the text of script tags."""

    def __init__(self):
        super().__init__()
        self.elements, self.scripts, self._script = [], [], None

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)

    def handle_data(self, data):
        if self._script is not None:
            self.scripts.append((self._script, data))

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def find(self, tag, **attrs):
        return [a for t, a in self.elements if t == tag and all(a.get(k.replace("_", "-")) == v
                                                                for k, v in attrs.items())]


def parse(fragment: str) -> _Fragment:
    p = _Fragment()
    p.feed(fragment)
    return p


@pytest.fixture(scope="module")
def sal():
    return fake_saliency()


@pytest.fixture(scope="module")
def page(sal):
    return explorer_html(sal, uid="t1")


def _options(p: _Fragment, control: str) -> list[str]:
    """Option values of one select, in order (options follow their select in the element list)."""
    out, inside = [], False
    for tag, a in p.elements:
        if tag == "select":
            inside = a.get("data-control") == control
        elif tag == "option" and inside:
            out.append(a["value"])
    return out


def _embedded(p: _Fragment) -> dict:
    (data,) = [text for attrs, text in p.scripts if attrs.get("type") == "application/json"]
    return json.loads(data)


def test_fragment_is_self_contained(page):
    assert "http" not in page.lower() and "//cdn" not in page.lower()
    assert page.startswith('<div class="emokd-explorer" id="emokd-explorer-t1"') and page.endswith("</div>")
    p = parse(page)
    assert not [a for t, a in p.elements if t in ("script", "img", "link") and ("src" in a or "href" in a)]


def test_controls_and_their_options(page, sal):
    p = parse(page)
    assert [a["data-control"] for a in p.find("select")] == list(CONTROLS)
    assert _options(p, "model") == list(sal["models"])
    assert _options(p, "method") == sal["methods"]
    assert _options(p, "band") == sal["bands"]
    assert _options(p, "subject") == ["all", "1", "2", "3"]
    assert _options(p, "state") == ["all", "high", "low"]
    root = p.elements[0][1]
    assert root["class"] == "emokd-explorer" and root["id"] == "emokd-explorer-t1"
    assert root["data-selection"].split("|")[0] == "student" and len(root["data-selection"].split("|")) == 5


def test_views_circles_bars_caption(page, sal):
    p = parse(page)
    assert len(p.find("svg", data_view="topomap")) == 1 and len(p.find("svg", data_view="bars")) == 1
    assert len(p.find("p", data_view="caption")) == 1
    circles = [a for t, a in p.elements if t == "circle" and "data-channel" in a]
    assert [a["data-channel"] for a in circles] == list(EEG_CHANNELS)
    assert [a["data-band"] for t, a in p.elements if t == "rect" and "data-band" in a] == sal["bands"]


def test_embedded_data_are_the_maps_rounded(page, sal):
    data = _embedded(parse(page))
    assert data["bands"] == sal["bands"] and data["channels"] == list(EEG_CHANNELS) and data["lut"] == list(LUT)
    for model, entry in sal["models"].items():
        for method in sal["methods"]:
            views = data["maps"][model][method]
            e = entry[method]
            expected = {"all|all": e["map"], "all|high": e["by_state"]["high"], "all|low": e["by_state"]["low"],
                        **{f"{s}|all": m for s, m in e["by_subject"].items()}}
            assert set(views) == set(expected)
            for key, m in expected.items():
                np.testing.assert_array_equal(views[key], np.round(m, 6), err_msg=f"{model} {method} {key}")
            assert data["spearman"][model][method]["all|all"] == pytest.approx(e["truth_spearman"])


def _expected_fill(value: float, lo: float, hi: float) -> str:
    """The explorer's colour rule, written out again: nearest of the 32 LUT entries on [lo, hi]."""
    i = math.floor((value - lo) / (hi - lo) * (len(LUT) - 1) + 0.5)
    return LUT[min(max(i, 0), len(LUT) - 1)]


@pytest.mark.parametrize("selection", [None, {"model": "student_kd", "method": "occlusion", "band": "alpha"},
                                       {"subject": "3", "band": "delta"}, {"state": "low", "method": "grad_x_input"}])
def test_initial_fills_are_the_selected_values(sal, selection):
    page = explorer_html(sal, uid="fills", selection=selection)
    p = parse(page)
    model, method, band, subject, state = p.elements[0][1]["data-selection"].split("|")
    for k, v in (selection or {}).items():
        assert {"model": model, "method": method, "band": band, "subject": subject, "state": state}[k] == v
    m = np.asarray(_embedded(p)["maps"][model][method][f"{subject}|{state}"])
    lo, hi = m.min(), m.max()
    row = m[sal["bands"].index(band)]
    fills = [a["fill"] for t, a in p.elements if t == "circle" and "data-channel" in a]
    assert fills == [_expected_fill(v, lo, hi) for v in row]
    assert len(set(fills)) > 3  # a real picture, not one colour
    bars = {a["data-band"]: float(a["height"]) for t, a in p.elements if t == "rect" and "data-band" in a}
    sums = m.sum(axis=1)
    np.testing.assert_allclose([bars[b] for b in sal["bands"]], 150 * sums / sums.max(), atol=0.06)
    assert f"{model}, {method}, {band}" in page  # the caption


def test_default_band_is_the_one_holding_most_of_the_map(sal):
    p = parse(explorer_html(sal, uid="d"))
    e = sal["models"]["student"]["gradient"]
    band = sal["bands"][int(np.argmax(e["band_importance"]))]
    assert p.elements[0][1]["data-selection"] == f"student|gradient|{band}|all|all"


def test_two_explorers_get_distinct_ids(sal):
    a, b = explorer_html(sal), explorer_html(sal)
    ida, idb = (re.match(r'<div class="emokd-explorer" id="([^"]+)"', x).group(1) for x in (a, b))
    assert ida != idb and ida.startswith("emokd-explorer-")
    assert f'document.getElementById("{ida}")' in a and ida not in b  # each script finds its own root only


def test_bad_arguments(sal):
    with pytest.raises(EmokdError, match="uid="):
        explorer_html(sal, uid="a b")
    with pytest.raises(EmokdError, match="selection"):
        explorer_html(sal, uid="x", selection={"band": "kappa"})


def test_real_data_without_truth_and_with_four_bands():
    sal = fake_saliency(bands=EEG_BANDS, truth=False, models=("student_kd",), methods=("gradient",))
    page = explorer_html(sal, uid="real")
    p = parse(page)
    assert _options(p, "band") == list(EEG_BANDS)
    assert "no planted truth" in page and _embedded(p)["truth"] is False


@pytest.mark.slow
def test_widget_builds_and_redraws(sal):
    import ipywidgets as widgets

    box = explorer_widget(sal)
    assert isinstance(box, widgets.VBox)
    assert list(box.controls) == list(CONTROLS)
    assert all(isinstance(c, widgets.Dropdown) for c in box.controls.values())
    assert box.controls["subject"].value == "all" and box.controls["state"].value == "all"
    first = [o["data"]["image/png"] for o in box.output.outputs]
    assert len(first) == 2  # the topomap and the bars
    caption = box.caption.value
    box.controls["band"].value = next(b for b in sal["bands"] if b != box.controls["band"].value)  # fires the observer
    assert box.caption.value != caption and f", {box.controls['band'].value}, " in box.caption.value
    assert len(box.output.outputs) == 2 and [o["data"]["image/png"] for o in box.output.outputs] != first
    box.controls["subject"].value = "2"
    box.controls["state"].value = "high"  # saliency.json has no map per subject and state
    assert "no map" in box.caption.value and box.output.outputs == ()
