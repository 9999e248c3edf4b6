"""Shared fixtures: a smoke-preset synthetic dataset, generated once per test session."""

from __future__ import annotations

import shutil

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
