"""Shared fixtures: a smoke-preset synthetic dataset (generated once per session), the book built once
per session on the smoke preset, and the real feature release; the `slow` marker for every test that
needs one of the fixtures in SLOW_FIXTURES."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from emokd.core.config import synth_config
from emokd.io.prepare import prepare_dataset
from emokd.synth.synthetic import generate


@pytest.fixture(scope="session")
def smoke_dir(tmp_path_factory):
    """A read-only smoke dataset (3 subjects x 2 trials), generated once."""
    out = tmp_path_factory.mktemp("smoke") / "data"
    generate(out, synth_config("smoke"), seed=0, progress=False)
    return out


@pytest.fixture(scope="session")
def smoke_prepared(smoke_dir, tmp_path_factory):
    """The smoke dataset prepared once: (prepared folder, manifest)."""
    out = tmp_path_factory.mktemp("prepared")
    return out, prepare_dataset(smoke_dir, out, progress=False)


#: paired sessions without labels per subject in the ``smoke_unlabelled_*`` fixtures (issue 33 item 1 (a))
N_UNLABELLED = 2


@pytest.fixture(scope="session")
def n_unlabelled():
    """Sessions without a label row per subject in ``smoke_unlabelled_dir`` (a fixture: a test module cannot
    import this conftest by name, which another folder's conftest.py may hold in the whole suite)."""
    return N_UNLABELLED


@pytest.fixture(scope="session")
def smoke_unlabelled_dir(tmp_path_factory):
    """A read-only smoke dataset with N_UNLABELLED more sessions per subject that have no label row."""
    out = tmp_path_factory.mktemp("smoke_unlabelled") / "data"
    generate(out, synth_config("smoke", unlabelled_per_subject=N_UNLABELLED), seed=0, progress=False)
    return out


@pytest.fixture(scope="session")
def smoke_unlabelled_prepared(smoke_unlabelled_dir, tmp_path_factory):
    """That dataset prepared once with its sessions without labels: (prepared folder, manifest)."""
    out = tmp_path_factory.mktemp("prepared_unlabelled")
    return out, prepare_dataset(smoke_unlabelled_dir, out, progress=False, unlabelled=True)


@pytest.fixture
def smoke_copy(smoke_dir, tmp_path):
    """A private, writable copy of the smoke dataset (for tests that damage it)."""
    dst = tmp_path / "data"
    shutil.copytree(smoke_dir, dst)
    return dst


ROOT = Path(__file__).resolve().parents[1]

#: fixtures that build the book or run a whole experiment (tens of seconds to minutes): a test that
#: needs one, directly or through another fixture, is marked `slow` (pyproject.toml), like the tests
#: marked by hand (subprocess runs, a Dask cluster, a fresh virtual environment, long trainings)
SLOW_FIXTURES = {"built_book", "loso_run", "smoke_run", "study", "tiny_backbone"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """The book built once per session on the smoke preset, from a fresh cache, warnings as errors:
    its HTML folder (tests/book/test_jupyter_book_build.py reads the files, tests/book/test_browser.py serves them)."""
    tmp = tmp_path_factory.mktemp("book")
    env = dict(os.environ, EMOKD_PRESET="smoke", EMOKD_CACHE=str(tmp / "cache"))
    jb = shutil.which("jupyter-book")
    assert jb, "jupyter-book is not installed (requirements.txt)"
    proc = subprocess.run([jb, "build", str(ROOT), "--path-output", str(tmp / "out"), "-W", "-n", "--keep-going"],
                          check=False, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    html_dir = tmp / "out" / "_build" / "html"
    reports = {p.name: p.read_text() for p in (html_dir / "reports").rglob("*.log")} if html_dir.exists() else {}
    assert proc.returncode == 0, (proc.stdout[-6000:], proc.stderr[-6000:], reports)
    return html_dir


def find_release():
    """The local copy of the MAHNOB-HCI feature release, or None (tests never use the network)."""
    candidates = [os.environ.get("EMOKD_MAHNOB_FEATURES"),
                  ROOT.parent / "shared" / "data" / "mahnob-hci"]
    for c in candidates:
        if c and (Path(c) / "lable_continous_Mahnob.mat").is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def release():
    """Every trial of the real feature release (skips when there is no local copy)."""
    from emokd.io.features import load_feature_release

    root = find_release()
    if root is None:
        pytest.skip("the local copy of the MAHNOB-HCI feature release (../shared/data/mahnob-hci or "
                    "$EMOKD_MAHNOB_FEATURES) is not here")
    return load_feature_release(root)
