"""What the book's chapters share: the preset switch, the data, one cached experiment.

A chapter starts with::

    from emokd.teaching import book
    PRESET = book.preset()        # $EMOKD_PRESET: "book" (default), "smoke" (tests) or "paper"

and then asks for what it needs; everything is made once and reused by later
chapters (and later builds):

- :func:`synthetic_data` -- the preset's synthetic MAHNOB-HCI-like recordings
  and their prepared band power (``emokd synth`` + ``emokd prepare``);
- :func:`experiment` -- one LOSO experiment on them (``emokd run``): every
  fold's teacher, student and KD student, their training logs, predictions
  and ``results.json``;
- :func:`glue` -- a number or a verdict a cell computed, for the prose around it
  (``{glue:text}`name:.3f```), so that the chapter never types a result.

Where: ``$EMOKD_CACHE`` if set, else ``emokd-runs/`` at the root of the book
(the folder with ``_toc.yml``, found from the working directory upwards), else
``./emokd-runs``. One folder per preset, so a smoke build never reuses a
book-preset run or the reverse.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from ..core.config import PRESETS, PrepareConfig, experiment_config, preset_from_env, synth_config
from ..core.locks import LockBusy, file_lock
from ..errors import EmokdError
from ..io.prepare import is_labelled, prepare_dataset, read_manifest
from ..synth.synthetic import ensure_generated

# emokd.evaluation.experiment and emokd.training are imported where they are used: a chapter that only
# reads the data or committed results does not import torch (a second or two of every kernel's start)

#: seed of the book's dataset and experiment
SEED = 0
#: seconds a chapter waits silently for another chapter's hold on the cache (a cached run is checked in
#: about a second) before it says that it waits (the data or the experiment being made)
QUIET_WAIT_S = 10.0


def preset() -> str:
    """The book's preset: ``$EMOKD_PRESET`` or ``"book"``."""
    return preset_from_env("book")


def glue(name: str, value) -> None:
    """Store ``value`` under ``name`` for the page's ``{glue:text}`name:fmt``` roles; shows nothing.

    myst-nb's glue, with numpy scalars turned into Python numbers first (the role reads the
    value back from its text form, and ``np.float64(0.5)`` is not a number there). Without
    myst-nb (a Colab runtime without the ``book`` extra) it stores nothing: the notebook then
    shows the role as written, and the number in the cell's output.
    """
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # a numpy scalar
        value = value.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=False)


def repo_root() -> Path:
    """The repository's root: the nearest folder at or above the working directory that holds ``_toc.yml``
    (chapters run in ``book/``, in the build as in Colab), else the working directory. Chapters read the
    committed ``results/`` and ``benchmarks/results/`` from there."""
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / "_toc.yml").is_file()), here)


def cache_dir() -> Path:
    """The root folder of everything the book computes (see the module docstring)."""
    if os.environ.get("EMOKD_CACHE"):
        return Path(os.environ["EMOKD_CACHE"])
    return repo_root() / "emokd-runs"


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
    name = _preset(preset_name)
    raw = cache_dir() / f"book-{name}" / "data"
    with _one_chapter_at_a_time(name):
        # two sessions at a time (Binder and Colab have 2 cores): the same files as one at a time
        ensure_generated(raw, synth_config(name), seed=SEED, progress=progress, n_jobs=2)
        prepare_dataset(raw, raw / "prepared", PrepareConfig(), progress=progress)
    return raw, raw / "prepared"


@contextlib.contextmanager
def _one_chapter_at_a_time(name: str):
    """Hold the preset's cache for one chapter's kernel while it makes or reads the data or the experiment.

    Two kernels may ask at once: two chapters open in Jupyter, or the build executing chapters side
    by side (``book/_ext/execute_side_by_side.py``). ``emokd prepare`` and ``emokd run`` refuse a
    folder another process holds; here the second chapter waits for the first and then reuses
    what it made. A wait of up to :data:`QUIET_WAIT_S` (another chapter checking its cached run) is
    silent, so that no page of the build shows it; a longer one (another chapter making the data or
    training the experiment) says so in one line. Re-entrant: :func:`experiment` may ask for the data
    inside its own hold.
    """
    folder = cache_dir() / f"book-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".book.lock"
    deadline = time.monotonic() + QUIET_WAIT_S
    with contextlib.ExitStack() as held:
        while True:
            try:
                held.enter_context(file_lock(lock))
                break
            except LockBusy as busy:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                print(f"another chapter (process {busy.pid}) is making the book's {name} data or experiment: "
                      "waiting for it, then reusing what it made", flush=True)
                held.enter_context(file_lock(lock, wait=True))
                break
        yield


def experiment(preset_name: str | None = None, *, protocol: str = "loso", n_jobs: int = 2,
               progress: bool = True) -> tuple[Path, dict]:
    """One experiment of the preset on its synthetic data, run once and then reused.

    ``n_jobs=2``: two folds at a time (Binder and Colab have 2 cores). The folds read
    the frozen backbone's cached embeddings, not the frames, so two of them fit in
    Binder's 2 GB. Returns the run folder and its results (``results.json``).

    ``progress``: while it trains, a progress bar (``tqdm.auto``: a widget in Jupyter
    and Colab, text in a terminal) counts the trained models of all folds (teacher,
    student, KD student, ...), read from the model files the folds write; nothing is
    shown when the run is already in the cache.
    """
    from ..evaluation.experiment import run_experiment

    name = _preset(preset_name)
    _, prepared = synthetic_data(name)
    out = cache_dir() / f"book-{name}" / f"{protocol}_seed{SEED}"
    cfg = experiment_config(name, protocol, SEED)
    with _one_chapter_at_a_time(name):
        bar = _model_bar(out, prepared, cfg) if progress and not (out / "results.json").is_file() else None
        with bar or contextlib.nullcontext():
            return out, run_experiment(prepared, cfg, out, n_jobs=n_jobs, progress=False, resume=True)


def _n_models(prepared: Path, cfg) -> int:
    """How many models the experiment trains: folds x models per fold."""
    from ..training.datasets import make_folds
    from ..training.fold import model_names

    subject_of = {k: int(t["subject"]) for k, t in read_manifest(prepared)["trials"].items() if is_labelled(t)}
    folds = make_folds(subject_of, cfg.protocol, seed=cfg.seed, n_folds=cfg.n_folds,
                       val_fraction=cfg.val_fraction, trs_folds=cfg.trs_folds)
    return len(folds) * len([m for m in model_names(cfg) if m != "student_kd_selected"])


@contextlib.contextmanager
def _model_bar(out: Path, prepared: Path, cfg, every_s: float = 1.0):
    """A tqdm.auto bar over the experiment's models, advanced by a thread that counts the
    ``folds/fold_*/*.pt`` files (each written once a model has finished training)."""
    from tqdm.auto import tqdm

    total = _n_models(prepared, cfg)

    def done() -> int:
        return min(total, sum(1 for _ in (out / "folds").glob("fold_*/*.pt")))

    bar = tqdm(total=total, desc=f"training {cfg.protocol} ({total} models)", unit="model")
    stop = threading.Event()

    def poll():
        while not stop.wait(every_s):
            bar.update(done() - bar.n)

    bar.update(done())
    thread = threading.Thread(target=poll, name="emokd-progress", daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join()
        bar.update(done() - bar.n)
        bar.close()
