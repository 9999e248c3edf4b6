"""The package as pip installs it: its wheel in a clean virtual environment with nothing but the
core dependencies of pyproject.toml imports every module of every subpackage and runs `python -m emokd --help`.

A clean environment, not --system-site-packages: that would hide a missing dependency. To avoid
downloading a multi-GB torch, torch is installed first from a wheel already on this machine (pip's
find-links folders, or $EMOKD_TORCH_WHEEL); the other dependencies come from the package index as
pip is configured here. Skipped, with the reason, without such a wheel or without a network."""

from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: every module and subpackage, dotted below emokd: "__main__", "core", "core.config", ...
MODULES = sorted(".".join(p.relative_to(ROOT / "emokd").with_suffix("").parts).removesuffix(".__init__")
                 for p in (ROOT / "emokd").rglob("*.py") if p.relative_to(ROOT / "emokd") != Path("__init__.py"))
#: what emokd imports only for a feature of an extra (pyproject.toml): viz, dask, notebooks (scikit-image's
#: photograph for the video clips; the video extra's av and cv2 are imported by name, through
#: emokd.io.extras, so that a missing one is named with the extra, and mediapipe, installed --no-deps beside
#: the extra, after them), book (myst_nb: emokd.teaching.book.glue does nothing without it), notebooks (seaborn:
#: emokd.core.style takes its theme when it is installed, and draws without it)
EXTRAS_ONLY = {"nilearn", "ipywidgets", "IPython", "distributed", "dask", "skimage", "mediapipe", "myst_nb",
               "seaborn"}
# what pip prints when it cannot reach an index: the test is skipped, not failed
OFFLINE = re.compile(r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
                     r"resolution|Network is unreachable|ConnectTimeoutError|Max retries exceeded|ProxyError")


def _find_links() -> list[Path]:
    """Folders pip looks in for wheels on this machine (PIP_FIND_LINKS and pip's configuration)."""
    text = os.environ.get("PIP_FIND_LINKS", "")
    conf = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    text += " " + " ".join(m.group(1) for m in re.finditer(r"find-links='([^']*)'", conf))
    return [Path(p) for p in text.split() if p and not p.startswith(("http:", "https:")) and Path(p).is_dir()]


def _local_torch_wheel() -> Path | None:
    """A wheel of the torch installed here (same version), if one lies on this machine."""
    if os.environ.get("EMOKD_TORCH_WHEEL"):
        return Path(os.environ["EMOKD_TORCH_WHEEL"])
    import torch

    for folder in _find_links():
        for wheel in sorted(folder.glob(f"torch-{torch.__version__}-*.whl")):
            return wheel
    return None


def _run(cmd, *, env, what, cwd):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=900, cwd=cwd)
    if proc.returncode != 0 and OFFLINE.search(proc.stdout + proc.stderr):
        pytest.skip(f"offline: pip could not reach the package index ({what})")
    assert proc.returncode == 0, (what, proc.stdout[-4000:], proc.stderr[-4000:])
    return proc


def _imported_packages() -> set[str]:
    """Every top-level package that emokd's modules import, at module level or inside a function."""
    names = set()
    for path in (ROOT / "emokd").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"emokd"}


def _package_data() -> list[str]:
    """The files of emokd that are no Python module (``emokd/data/*``, ``emokd/<sub>/static/*``), as wheel paths."""
    return sorted(p.relative_to(ROOT).as_posix() for pattern in ("data/*", "*/static/*")
                  for p in (ROOT / "emokd").glob(pattern) if p.is_file())


def test_package_data_lists_every_static_file():
    """pyproject.toml's package-data names every data file (the wheel test checks the wheel holds them)."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["emokd"]
    found = _package_data()
    assert any(p.startswith("emokd/teaching/static/") for p in found)
    assert any(p.startswith("emokd/saliency/static/") for p in found)
    missed = [p for p in found if not any(fnmatch.fnmatch(p.removeprefix("emokd/"), g) for g in globs)]
    assert not missed, f"not in pyproject.toml's package-data: {missed}"


def _clean_env() -> dict:
    """This process's environment without what would let the venv see another emokd or site-packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    return dict(env, PYTHONNOUSERSITE="1", MPLBACKEND="Agg")


@pytest.mark.slow
def test_wheel_in_a_clean_venv_imports_every_module(tmp_path):
    torch_wheel = _local_torch_wheel()
    if torch_wheel is None:
        pytest.skip("no wheel of the installed torch on this machine (pip's find-links folders); set "
                    "EMOKD_TORCH_WHEEL to one, so that the test does not download a multi-GB torch")
    env = _clean_env()
    # the wheel, built from a copy of the sources (a build leaves build/ and *.egg-info beside them)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    shutil.copytree(ROOT / "emokd", src / "emokd", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    try:  # the installed setuptools, when it is recent enough: no download
        import setuptools

        isolation = [] if int(setuptools.__version__.split(".")[0]) < 68 else ["--no-build-isolation"]
    except ImportError:
        isolation = []
    run = functools.partial(_run, env=env, cwd=tmp_path)  # not in the repository: `import emokd` is the wheel's
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", tmp_path / "dist", src],
        what="build the wheel")
    (wheel,) = (tmp_path / "dist").glob("emokd-*.whl")
    with zipfile.ZipFile(wheel) as zf:  # the package data: weights, and the HTML fragments' CSS and JavaScript
        assert set(_package_data()) <= set(zf.namelist()), sorted(set(_package_data()) - set(zf.namelist()))

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], what="create the venv")
    py = venv / "bin" / "python"
    pip = [py, "-m", "pip", "install", "--no-compile", "--disable-pip-version-check"]
    run([*pip, torch_wheel], what="torch from the local wheel")
    run([*pip, wheel], what="emokd and its core dependencies")

    listed = run([py, "-m", "pip", "list", "--format=freeze"], what="pip list").stdout.lower()
    for extra in ("nilearn", "ipywidgets", "seaborn", "dask", "jupyter-book", "pytest", "scikit-learn", "statsmodels"):
        assert f"\n{extra}==" not in f"\n{listed}", f"{extra} is not a core dependency"
    # every module, and every package a function imports later (mne, tqdm, joblib, pooch are imported
    # only where they are used: importing the modules alone would not miss them)
    lazy = sorted(_imported_packages() - EXTRAS_ONLY)
    assert {"numpy", "scipy", "torch", "mne", "matplotlib", "tqdm", "joblib", "pooch", "pandas", "captum", "edfio"} <= set(lazy)
    script = ("import importlib, importlib.resources, sys\n"
              f"for m in {MODULES!r}:\n"
              "    importlib.import_module('emokd.' + m)\n"
              f"for m in {lazy!r}:\n"
              "    importlib.import_module(m)\n"
              "import emokd\n"
              "assert 'site-packages' in emokd.__file__, emokd.__file__\n"
              "assert (importlib.resources.files('emokd') / 'data' / 'face_backbone.pt').is_file()\n")
    run([py, "-c", script], what="import every module")
    helped = run([py, "-m", "emokd", "--help"], what="python -m emokd --help")
    assert helped.stdout.startswith("usage: python -m emokd")
    version = run([py, "-m", "emokd", "--version"], what="python -m emokd --version")
    import emokd

    assert version.stdout.strip() == f"emokd {emokd.__version__}"
