"""The built book in a headless Chromium, as its readers see it.

The smoke build of the session (fixture `built_book`, conftest.py) is served over
http://127.0.0.1 by a local http.server and opened by the system's Chromium through its
chromedriver (Selenium; never a browser or driver of Selenium's own: SE_OFFLINE and explicit
paths). Every page of the book loads all its images and logs no error of its own to the
console; failures of external URLs (the browser is kept from reaching any host but the local
server) are counted, not failed. The pages need no network: no script, style sheet, font or image
they load comes from another host, and every formula is typeset by the MathJax served from the
build (book/_static/mathjax), with no raw LaTeX left. The saliency chapter's static explorer
(emokd.saliency.explorer: a div.emokd-explorer with selects data-control=model|method|band|subject|state,
an SVG topomap of 32 circle[data-channel], an SVG of rect[data-band] bars, a caption and
data-selection="model|method|band|subject|state") is operated like a reader does: each choice
must change data-selection, the caption and the picture, and choosing back restores it. The
playgrounds (emokd.teaching.playgrounds_html: div.emokd-playground with input[type=range] or select
data-control) answer their controls the same way, and the CCC playground's scores are those
Python computes for the same sliders.

At a 1280 px window (issue 36, one figure style) every figure of a chapter is shown at a readable size:
no narrower than the column gives it (min(its natural width, 600 px)) and scaled to no less than
MIN_FIGURE_SCALE of its natural size (emokd.core.style draws figures to fit the column at their natural
size; a figure drawn much wider, like a row of eight panels, shrinks its text below reading size); nothing
sticks out of the main column unless it sits in a box of its own that scrolls; and every legend of a
playground or explorer (a g[data-legend] with data-colour) is painted in its colours, not in the page's
text colour (a style sheet's `fill: currentColor` once painted 05b's legend black).

Skipped as a whole only when chromium or chromedriver is absent (.ci/run installs them).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("the headless-browser test needs chromium and chromedriver on PATH (Debian: apt-get install "
                "chromium chromium-driver; .ci/run installs them)", allow_module_level=True)

# Selenium Manager must never download a browser or a driver: the system's are given explicitly.
os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_tools"))

import setup_cells  # noqa: E402

#: every HTML page of the book, relative to the site root ("" is the root, which redirects)
PAGES = (["", "index.html", "book/intro.html"] + [f"book/{p.stem}.html" for p in setup_cells.chapters()]
         + ["book/bibliography.html", "genindex.html", "search.html"])
#: where the root and index.html (book/_extra/index.html) send the reader: the root of _toc.yml
HOME = yaml.safe_load((ROOT / "_toc.yml").read_text())["root"] + ".html"
EXPLORER_PAGE = "book/07_saliency.html"
CONTROLS = ("model", "method", "band", "subject", "state")
#: the controls the test operates, in this order
OPERATED = ("method", "band", "model", "state", "subject")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built_book):
    """The built book served on a free port of 127.0.0.1; its base URL (ends with /)."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with its console log kept (goog:loggingPrefs)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--window-size=1280,1000", "--disable-dev-shm-usage",  # containers have a small /dev/shm
                # every host but the local server is unreachable, with or without a network: the
                # pages' CDN scripts (MathJax, Thebe) fail the same way on every machine
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def console_errors(driver, site: str) -> tuple[list[str], list[str]]:
    """The SEVERE console entries since the last call, as (own, external): an entry is external
    when the URL it starts with is not on our server (a CDN that could not be reached)."""
    own, external = [], []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        message = entry["message"]
        first = message.split(maxsplit=1)[0] if message.strip() else ""
        is_external = first.startswith(("http://", "https://")) and not first.startswith(site)
        (external if is_external else own).append(f"[{entry['source']}] {message}")
    return own, external


def listing(lines: list[str]) -> str:
    """One line each, repeats counted."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return "".join(f"\n  {line}" + (f" (x{n})" if n > 1 else "") for line, n in counts.items())


def visit(driver, url: str, *, lands_on: str | None = None, settle: float = 0.25) -> None:
    """Open url with an empty console log (and, with lands_on, wait until it redirects there);
    return when the page and its images have loaded."""
    driver.get_log("browser")
    driver.get(url)
    if lands_on is not None:
        try:
            WebDriverWait(driver, 10).until(lambda d: d.current_url == lands_on)
        except TimeoutException:
            pytest.fail(f"{url} did not redirect to {lands_on} (at {driver.current_url})", pytrace=False)
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.execute_script("for (const i of document.images) if (i.loading === 'lazy') i.loading = 'eager';")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
    time.sleep(settle)  # handlers that run just after the load event


def broken_images(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src') || i.outerHTML.slice(0, 200));")


def test_every_page_of_the_build_is_visited(built_book):
    found = {p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
             if not {"_static", "_sources", "_images", "reports"} & set(p.relative_to(built_book).parts)}
    assert found <= set(PAGES), f"pages this test does not visit: {sorted(found - set(PAGES))}"
    assert set(PAGES) - {""} <= found, f"pages missing from the build: {sorted(set(PAGES) - {''} - found)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p or "root")
def test_page_loads_its_images_without_console_errors(browser, site, page):
    visit(browser, site + page, lands_on=site + HOME if page in ("", "index.html") else None)
    assert browser.title, f"/{page}: the page has no title"
    bad = broken_images(browser)
    own, external = console_errors(browser, site)
    problems = [f"broken image: {src}" for src in bad] + [f"console error: {e}" for e in own]
    assert not problems, f"/{page}:{listing(problems)}\n({len(external)} failures of external URLs not counted)"


_STATE_JS = """
const root = arguments[0];
const controls = {};
for (const s of root.querySelectorAll('select[data-control]')) controls[s.dataset.control] = s.value;
const caption = root.querySelector('[data-view="caption"]');
return {
  selection: root.getAttribute('data-selection'),
  controls: controls,
  fills: Array.from(root.querySelectorAll('svg[data-view="topomap"] circle[data-channel]'))
              .map(c => [c.getAttribute('data-channel'), getComputedStyle(c).fill]),
  bars: Array.from(root.querySelectorAll('svg[data-view="bars"] rect[data-band]'))
             .map(r => [r.getAttribute('data-band'), Math.round(r.height.baseVal.value * 1000) / 1000]),
  caption: caption ? caption.textContent.trim() : null,
};
"""


def explorer_state(driver, root) -> dict:
    """What a reader sees of one explorer: its data-selection, controls, circle fills, bar heights, caption."""
    return driver.execute_script(_STATE_JS, root)


def explorer_structure_problems(state: dict) -> list[str]:
    problems = []
    missing = [c for c in CONTROLS if c not in state["controls"]]
    if missing:
        problems.append(f"no select[data-control] for {missing} (has {sorted(state['controls'])})")
    channels = [c for c, _ in state["fills"]]
    if len(channels) != 32 or len(set(channels)) != 32:
        problems.append(f"the topomap has {len(channels)} circles ({len(set(channels))} channels), expected 32")
    if any(f in ("", "none") for _, f in state["fills"]):
        problems.append("circles without a fill")
    if not state["bars"]:
        problems.append("no bars (rect[data-band])")
    if not state["caption"]:
        problems.append("no caption ([data-view=caption])")
    expected = "|".join(state["controls"].get(c, "?") for c in CONTROLS)
    if state["selection"] != expected:
        problems.append(f"data-selection={state['selection']!r} does not match the selects ({expected!r})")
    return problems


def choose(driver, root, control: str, value: str, before: dict, timeout: float = 5) -> dict | None:
    """Choose value in the explorer's control like a reader (the change event fires); the new state,
    or None when data-selection did not change within timeout."""
    Select(root.find_element(By.CSS_SELECTOR, f'select[data-control="{control}"]')).select_by_value(value)
    try:
        WebDriverWait(driver, timeout).until(lambda d: explorer_state(d, root)["selection"] != before["selection"])
    except TimeoutException:
        return None
    return explorer_state(driver, root)


def operate_explorer(driver, root) -> list[str]:
    """Operate each control of one explorer (another option, then the first one back); the problems seen."""
    first = explorer_state(driver, root)
    problems = explorer_structure_problems(first)
    if problems:
        return problems
    for control in OPERATED:
        select = Select(root.find_element(By.CSS_SELECTOR, f'select[data-control="{control}"]'))
        values = [o.get_attribute("value") for o in select.options]
        original = first["controls"][control]
        other = next((v for v in values if v != original), None)
        if other is None:
            problems.append(f"{control}: a single option {values}, nothing to choose")
            continue
        what = f"{control}: {original} -> {other}"
        after = choose(driver, root, control, other, first)
        if after is None:
            problems.append(f"{what}: data-selection did not change ({first['selection']!r})")
            continue
        expected = "|".join(after["controls"][c] for c in CONTROLS)
        if after["controls"][control] != other or after["selection"] != expected:
            problems.append(f"{what}: data-selection={after['selection']!r}, the selects say {expected!r}")
        if after["fills"] == first["fills"] and after["bars"] == first["bars"]:
            problems.append(f"{what}: neither a circle's fill nor a bar's height changed")
        if after["caption"] == first["caption"]:
            problems.append(f"{what}: the caption did not change ({first['caption']!r})")
        back = choose(driver, root, control, original, after)
        if back != first:
            problems.append(f"{what} -> {original}: the first view is not restored")
            return problems
    return problems


def test_saliency_explorer_responds_to_its_controls(browser, site):
    visit(browser, site + EXPLORER_PAGE)
    roots = browser.find_elements(By.CSS_SELECTOR, "div.emokd-explorer")
    if not roots:
        pytest.fail(f"{EXPLORER_PAGE} has no static explorer (div.emokd-explorer): the saliency chapter must "
                    "display emokd.saliency.explorer.explorer_html(...) so that readers can use it without a kernel",
                    pytrace=False)
    console_errors(browser, site)  # the page's own load is checked by the test above
    others = [explorer_state(browser, r) for r in roots[1:]]
    problems = operate_explorer(browser, roots[0])
    if [explorer_state(browser, r) for r in roots[1:]] != others:
        problems.append("operating the first explorer changed another one on the page")
    own, _ = console_errors(browser, site)
    problems += [f"console error: {e}" for e in own]
    assert not problems, f"{EXPLORER_PAGE}, explorer #{roots[0].get_attribute('id')}:{listing(problems)}"


# ------------------------------------------------------------------ offline assets and formulas

_EXTERNAL_JS = """
const here = location.origin;
const urls = [];
for (const e of document.querySelectorAll('script[src], link[href], img[src], source[src], iframe[src]')) {
  const rel = (e.getAttribute('rel') || '').toLowerCase();
  if (e.tagName === 'LINK' && !/stylesheet|preload|icon|modulepreload/.test(rel)) continue;
  const u = new URL(e.getAttribute('src') || e.getAttribute('href'), location.href);
  if (/^https?:$/.test(u.protocol) && u.origin !== here) urls.push(e.tagName.toLowerCase() + ' ' + u.href);
}
for (const r of performance.getEntriesByType('resource')) {
  if (/^https?:/.test(r.name) && new URL(r.name).origin !== here) urls.push('requested ' + r.name);
}
return urls;
"""

_MATH_JS = """
const maths = Array.from(document.querySelectorAll('.math'));
return {n: maths.length,
        typeset: maths.filter(m => m.querySelector('mjx-container')).length,
        raw: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80)),
        leftover: Array.from(document.querySelectorAll('article, main, body')).slice(0, 1)
                       .map(e => e.innerText).join('').match(/\\\\\\(|\\\\\\[/g) || []};
"""

MATH_PAGES = [p for p in PAGES if p.startswith("book/0")]


@pytest.mark.parametrize("page", [p for p in PAGES if p], ids=lambda p: p)
def test_page_loads_nothing_from_another_host(browser, site, page):
    visit(browser, site + page)
    external = browser.execute_script(_EXTERNAL_JS)
    assert not external, f"/{page} needs the network:{listing(external)}"


@pytest.mark.parametrize("page", MATH_PAGES, ids=lambda p: p)
def test_formulas_render_without_a_network(browser, site, page):
    visit(browser, site + page)
    state = browser.execute_script(_MATH_JS)
    if state["n"] == 0:
        pytest.skip(f"/{page} has no formula")
    try:
        WebDriverWait(browser, 30).until(
            lambda d: (s := d.execute_script(_MATH_JS))["typeset"] == s["n"] and not s["leftover"])
    except TimeoutException:
        state = browser.execute_script(_MATH_JS)
        own, external = console_errors(browser, site)
        pytest.fail(f"/{page}: {state['typeset']} of {state['n']} formulas typeset by MathJax; raw LaTeX: "
                    f"{state['raw'][:3] + state['leftover'][:3]}; console:{listing(own + external)}", pytrace=False)
    own, _ = console_errors(browser, site)
    assert not own, f"/{page}:{listing(own)}"


# ----------------------------------------------------------------------------- the playgrounds

PLAYGROUNDS = {"ccc": "book/04_teacher.html", "bandpower": "book/03_band_power.html",
               "kdstudy": "book/05b_when_teachers_help.html",
               "scarcelabels": "book/05c_where_teachers_pay.html"}

_PG_STATE_JS = """
const root = arguments[0];
return {
  selection: root.getAttribute('data-selection'),
  // [name, value] pairs in document order (an object's keys may come back sorted)
  controls: Array.from(root.querySelectorAll('[data-control]')).map(c => [c.dataset.control, c.value]),
  caption: (root.querySelector('[data-view="caption"]') || {}).textContent,
  svg: Array.from(root.querySelectorAll('svg[data-view]')).map(s => s.innerHTML.length + ':' +
       Array.from(s.querySelectorAll('polyline, circle, rect')).map(e => e.getAttribute('points') ||
       (e.getAttribute('cx') || e.getAttribute('x')) + ',' + (e.getAttribute('cy') || e.getAttribute('y')) +
       ',' + e.getAttribute('width')).join(';')).join('|'),
  metrics: Object.fromEntries(Array.from(root.querySelectorAll('[data-metric]'))
                              .map(e => [e.dataset.metric, e.textContent])),
};
"""

_SET_RANGE_JS = """
const input = arguments[0];
input.value = arguments[1];
input.dispatchEvent(new Event('input', {bubbles: true}));
"""


def playground(driver, site, kind):
    visit(driver, site + PLAYGROUNDS[kind])
    roots = driver.find_elements(By.CSS_SELECTOR, f'div.emokd-playground[data-playground="{kind}"]')
    if not roots:
        pytest.fail(f"{PLAYGROUNDS[kind]} has no static {kind} playground (div.emokd-playground)", pytrace=False)
    console_errors(driver, site)
    return roots[0]


def set_control(driver, root, name, value):
    el = root.find_element(By.CSS_SELECTOR, f'[data-control="{name}"]')
    if el.tag_name == "select":
        Select(el).select_by_value(value)
    else:
        driver.execute_script(_SET_RANGE_JS, el, value)


@pytest.mark.parametrize("kind", list(PLAYGROUNDS))
def test_playground_answers_every_control(browser, site, kind):
    root = playground(browser, site, kind)
    first = browser.execute_script(_PG_STATE_JS, root)
    problems = []
    if first["selection"] != "|".join(v for _, v in first["controls"]):
        problems.append(f"data-selection {first['selection']!r} does not match the controls {first['controls']}")
    for name, value in first["controls"]:
        el = root.find_element(By.CSS_SELECTOR, f'[data-control="{name}"]')
        if el.tag_name == "select":
            options = [o.get_attribute("value") for o in Select(el).options]
            other = next((o for o in options if o != value), None)
        else:
            other = el.get_attribute("max") if value != el.get_attribute("max") else el.get_attribute("min")
        if other is None:
            continue  # a single option (e.g. one KD weight in the study): nothing to choose
        set_control(browser, root, name, other)
        after = browser.execute_script(_PG_STATE_JS, root)
        what = f"{name}: {value} -> {other}"
        if after["selection"] == first["selection"]:
            problems.append(f"{what}: data-selection did not change")
        if after["caption"] == first["caption"] and after["svg"] == first["svg"]:
            problems.append(f"{what}: neither the caption nor the picture changed")
        set_control(browser, root, name, value)
        if browser.execute_script(_PG_STATE_JS, root) != first:
            problems.append(f"{what} -> {value}: the first view is not restored")
    own, _ = console_errors(browser, site)
    problems += [f"console error: {e}" for e in own]
    assert not problems, f"{PLAYGROUNDS[kind]}, {kind} playground:{listing(problems)}"


def test_ccc_playground_shows_what_python_computes(browser, site):
    import json

    import numpy as np

    from emokd.teaching.playgrounds import distort, playground_scores

    root = playground(browser, site, "ccc")
    data = json.loads(root.find_element(By.CSS_SELECTOR, 'script[data-role="emokd-data"]')
                      .get_attribute("textContent"))
    y, z = np.array(data["y"]), np.array(data["z"])
    for values in ({"offset": "1", "scale": "1", "noise": "0", "lag": "0"},
                   {"offset": "-0.5", "scale": "2.5", "noise": "0.7", "lag": "3.5"},
                   {"offset": "0", "scale": "0", "noise": "0", "lag": "0"}):
        for name, v in values.items():
            set_control(browser, root, name, v)
        shown = browser.execute_script(_PG_STATE_JS, root)["metrics"]
        s = playground_scores(y, distort(y, offset=float(values["offset"]), scale=float(values["scale"]),
                                         noise=float(values["noise"]), lag_s=float(values["lag"]), z=z))
        expected = {k: "n/a" if not np.isfinite(v) else f"{v:.3f}" for k, v in s.items()}
        assert shown == expected, f"sliders {values}: the page shows {shown}, Python computes {expected}"


def test_scarce_labels_playground_shows_what_python_computes(browser, site):
    """Chapter 05c's playground refits its ridge regressions in the page: for several selections the
    scores it shows are emokd.teaching.scarce_labels.linear_distillation's on the data it embeds."""
    import json

    from emokd.teaching.scarce_labels import linear_distillation

    root = playground(browser, site, "scarcelabels")
    data = json.loads(root.find_element(By.CSS_SELECTOR, 'script[data-role="emokd-data"]')
                      .get_attribute("textContent"))
    ks = [str(k) for k in range(1, data["k_max"] + 1)]
    for k, w in ((ks[0], "0"), (ks[-1], "4"), (ks[len(ks) // 2], "0.5"), (ks[0], "1")):
        set_control(browser, root, "k", k)
        set_control(browser, root, "w", w)
        shown = browser.execute_script(_PG_STATE_JS, root)["metrics"]
        s = linear_distillation(data, int(k), float(w))
        expected = {f"{m}-{scheme}": f"{v[scheme]:.3f}" for m, v in s.items() for scheme in ("per_trial", "concatenated")}
        assert shown == expected, f"k={k}, w={w}: the page shows {shown}, Python computes {expected}"


# ------------------------------------------------------------------ figures, column and legends

#: the smallest share of its natural width a figure may be shown at (emokd.core.style draws at 100 dpi: text of
#: 9 pt is 12.5 px at natural size, 7.5 px at this scale)
MIN_FIGURE_SCALE = 0.6
#: a figure narrower than its natural width is given at least this many pixels
MIN_FIGURE_PX = 600
CHAPTER_PAGES = [p for p in PAGES if p.startswith("book/") and p[5:7].isdigit()]

#: folded outputs (hide-output, dropdowns) are opened first: a reader who opens them sees them at this size
_OPEN_FOLDS_JS = "for (const d of document.querySelectorAll('details')) d.open = true;"

_FIGURES_JS = _OPEN_FOLDS_JS + """
const article = document.querySelector('article.bd-article') || document.querySelector('main');
return Array.from(article.querySelectorAll('div.cell_output img')).filter(i => i.naturalWidth > 0).map(i => ({
  src: (i.getAttribute('src') || '').split('/').pop(), natural: i.naturalWidth,
  rendered: i.getBoundingClientRect().width}));
"""

_OVERFLOW_JS = _OPEN_FOLDS_JS + """
const article = document.querySelector('article.bd-article') || document.querySelector('main');
const cs = getComputedStyle(article), box = article.getBoundingClientRect();
const right = box.right - parseFloat(cs.paddingRight) + 1;
const boxed = e => /auto|scroll|hidden|clip/.test(getComputedStyle(e).overflowX)
                   && e.getBoundingClientRect().right <= right;
const out = [];
for (const e of article.querySelectorAll('*')) {
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.right <= right) continue;
  let a = e.parentElement, held = false;
  for (; a && a !== article; a = a.parentElement) if (boxed(a)) { held = true; break; }
  if (!held) out.push(e.tagName.toLowerCase() + (typeof e.className === 'string' && e.className ?
                      '.' + e.className.trim().split(/\\s+/)[0] : '') + ' by ' + Math.round(r.right - right) + ' px');
}
const doc = document.documentElement;
return {overflowing: out, page: [doc.scrollWidth, doc.clientWidth]};
"""

_LEGENDS_JS = """
const probe = document.createElement('span');
document.body.appendChild(probe);
const rgb = c => { probe.style.color = ''; probe.style.color = c; return getComputedStyle(probe).color; };
const out = [];
for (const root of document.querySelectorAll('div.emokd-playground, div.emokd-explorer')) {
  const kind = root.dataset.playground || 'explorer';
  for (const g of root.querySelectorAll('[data-legend]')) {
    const want = rgb(g.dataset.colour);
    const painted = Array.from(g.querySelectorAll('rect, circle, text, line, polyline'))
                         .map(e => [e.tagName.toLowerCase(), getComputedStyle(e).fill]);
    out.push({kind: kind, name: g.dataset.legend, want: want, painted: painted});
  }
}
probe.remove();
return out;
"""

#: the playgrounds whose figures have a legend of models, and how many entries each must have
LEGENDS = {"kdstudy": 3, "scarcelabels": 3}


@pytest.mark.parametrize("page", CHAPTER_PAGES, ids=lambda p: p)
def test_figures_are_shown_at_a_readable_size(browser, site, page):
    visit(browser, site + page)
    assert browser.execute_script("return window.innerWidth") >= 1264, "the test reads the book at 1280 px"
    small = [f"{f['src']}: {f['rendered']:.0f} px of its {f['natural']} px ({f['rendered'] / f['natural']:.0%})"
             for f in browser.execute_script(_FIGURES_JS)
             if f["rendered"] < min(f["natural"], MIN_FIGURE_PX) - 0.5
             or f["rendered"] < MIN_FIGURE_SCALE * f["natural"]]
    assert not small, (f"/{page}: figures shown too small to read (draw them to fit the column: "
                       f"emokd.core.style.figsize, style.grid for small multiples):{listing(small)}")


@pytest.mark.parametrize("page", CHAPTER_PAGES, ids=lambda p: p)
def test_nothing_overflows_the_main_column(browser, site, page):
    visit(browser, site + page)
    state = browser.execute_script(_OVERFLOW_JS)
    problems = list(state["overflowing"])
    if state["page"][0] > state["page"][1]:
        problems.append(f"the page scrolls sideways: {state['page'][0]} px wide in a {state['page'][1]} px window")
    assert not problems, f"/{page}: wider than the main column and in no scrolling box of its own:{listing(problems)}"


def _legend_problems(entries) -> list[str]:
    problems = []
    for e in entries:
        if not e["painted"]:
            problems.append(f"{e['kind']} legend {e['name']!r}: nothing painted")
        for tag, fill in e["painted"]:
            if fill != e["want"]:
                problems.append(f"{e['kind']} legend {e['name']!r}: its {tag} is painted {fill}, not {e['want']}")
    return problems


def test_every_legend_keeps_its_colours(browser, site):
    problems, found = [], {}
    for page in CHAPTER_PAGES:
        visit(browser, site + page)
        entries = browser.execute_script(_LEGENDS_JS)
        for e in entries:
            found[e["kind"]] = found.get(e["kind"], 0) + 1
        problems += [f"/{page}: {p}" for p in _legend_problems(entries)]
    for kind, n in LEGENDS.items():
        if found.get(kind, 0) < n:
            problems.append(f"the {kind} playground shows {found.get(kind, 0)} legend entries (g[data-legend]), "
                            f"expected {n}")
    assert not problems, listing(problems)


def test_the_legend_check_sees_a_legend_painted_in_the_text_colour():
    """The check itself: a legend whose text is painted in the page's colour (black), as `fill: currentColor`
    did, is reported; one painted in its colour is not."""
    red = "rgb(178, 24, 43)"
    good = [{"kind": "kdstudy", "name": "student_kd", "want": red, "painted": [["rect", red], ["text", red]]}]
    bad = [{"kind": "kdstudy", "name": "student_kd", "want": red, "painted": [["rect", red], ["text", "rgb(0, 0, 0)"]]}]
    assert _legend_problems(good) == []
    assert _legend_problems(bad) == ["kdstudy legend 'student_kd': its text is painted rgb(0, 0, 0), not " + red]
