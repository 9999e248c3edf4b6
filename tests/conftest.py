"""Shared fixtures: a smoke-preset synthetic dataset (generated once per session) and the real feature release."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from emokd.config import synth_config
from emokd.prepare import prepare_dataset
from emokd.synthetic import generate


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


@pytest.fixture
def smoke_copy(smoke_dir, tmp_path):
    """A private, writable copy of the smoke dataset (for tests that damage it)."""
    dst = tmp_path / "data"
    shutil.copytree(smoke_dir, dst)
    return dst


def find_release():
    """The local copy of the MAHNOB-HCI feature release, or None (tests never use the network)."""
    candidates = [os.environ.get("EMOKD_MAHNOB_FEATURES"),
                  Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mahnob-hci",
                  "/work/shared/data/mahnob-hci"]
    for c in candidates:
        if c and (Path(c) / "lable_continous_Mahnob.mat").is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def release():
    """Every trial of the real feature release (skips when there is no local copy)."""
    from emokd.features import load_feature_release

    root = find_release()
    if root is None:
        pytest.skip("the local copy of the MAHNOB-HCI feature release (../shared/data/mahnob-hci or "
                    "$EMOKD_MAHNOB_FEATURES) is not here")
    return load_feature_release(root)
