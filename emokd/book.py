"""What the book's chapters share: the preset switch, the data, one cached experiment.

A chapter starts with::

    from emokd import book
    PRESET = book.preset()        # $EMOKD_PRESET: "book" (default), "smoke" (tests) or "paper"

and then asks for what it needs; everything is made once and reused by later
chapters (and later builds):

- :func:`synthetic_data` -- the preset's synthetic MAHNOB-HCI-like recordings
  and their prepared band power (``emokd synth`` + ``emokd prepare``);
- :func:`experiment` -- one LOSO experiment on them (``emokd run``): every
  fold's teacher, student and KD student, their training logs, predictions
  and ``results.json``.

Where: ``$EMOKD_CACHE`` if set, else ``emokd-runs/`` at the root of the book
(the folder with ``_toc.yml``, found from the working directory upwards), else
``./emokd-runs``. One folder per preset, so a smoke build never reuses a
book-preset run or the reverse.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import PRESETS, PrepareConfig, experiment_config, preset_from_env, synth_config
from .errors import EmokdError

#: seed of the book's dataset and experiment
SEED = 0


def preset() -> str:
    """The book's preset: ``$EMOKD_PRESET`` or ``"book"``."""
    return preset_from_env("book")


def cache_dir() -> Path:
    """The root folder of everything the book computes (see the module docstring)."""
    if os.environ.get("EMOKD_CACHE"):
        return Path(os.environ["EMOKD_CACHE"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file():
            return folder / "emokd-runs"
    return here / "emokd-runs"


def _preset(name: str | None) -> str:
    name = name or preset()
    if name not in PRESETS:
        raise EmokdError(f"preset {name!r} is not one of {', '.join(PRESETS)}")
    return name


def synthetic_data(preset_name: str | None = None, *, progress: bool = False) -> tuple[Path, Path]:
    """The preset's synthetic dataset, generated and prepared once.

    Returns ``(raw, prepared)``: the MAHNOB-HCI-layout folder (BDF files,
    ``session.xml``, frames, label file, ``ground_truth.json``) and the prepared
    folder (one ``.npz`` per trial and ``manifest.json``).
    """
    from .prepare import prepare_dataset
    from .synthetic import ensure_generated

    name = _preset(preset_name)
    raw = cache_dir() / f"book-{name}" / "data"
    ensure_generated(raw, synth_config(name), seed=SEED, progress=progress)
    prepare_dataset(raw, raw / "prepared", PrepareConfig(), progress=progress)
    return raw, raw / "prepared"


def experiment(preset_name: str | None = None, *, protocol: str = "loso", n_jobs: int = 2,
               progress: bool = False) -> tuple[Path, dict]:
    """One experiment of the preset on its synthetic data, run once and then reused.

    ``n_jobs=2``: two folds at a time (Binder and Colab have 2 cores). The folds read
    the frozen backbone's cached embeddings, not the frames, so two of them fit in
    Binder's 2 GB. Returns the run folder and its results (``results.json``).
    """
    from .experiment import run_experiment

    name = _preset(preset_name)
    _, prepared = synthetic_data(name, progress=progress)
    out = cache_dir() / f"book-{name}" / f"{protocol}_seed{SEED}"
    cfg = experiment_config(name, protocol, SEED)
    results = run_experiment(prepared, cfg, out, n_jobs=n_jobs, progress=progress, resume=True)
    return out, results
