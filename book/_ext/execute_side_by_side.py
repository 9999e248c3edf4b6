"""Execute the chapters that need it two at a time, before Sphinx reads them.

Jupyter Book 1.x (myst-nb's ``cache`` mode) executes each notebook when Sphinx reads it, one
after another. Most chapters keep one core busy (a kernel plotting, fitting a ridge, training one
fold), so on the 2 cores of our CI (and of a Binder or Colab machine building the book) one core
waited much of the time: 360 s for the whole book, 247 s two at a time (benchmarks/bench_book.py). This extension, on Sphinx's
``env-before-read-docs`` (the list of documents about to be read), executes those notebooks that
jupyter-cache does not already hold, ``emokd_execution_jobs`` at a time, exactly as myst-nb would
(jupyter-cache's ``single_nb_execution`` in the notebook's folder, with the build's timeout and
``allow_errors``), and caches each one that succeeds as myst-nb does. myst-nb then finds every
chapter in the cache and renders it as it would have rendered its own execution.

Order. ``emokd_execution_stages`` lists stages of docnames: a stage starts when the one before has
finished (``_config.yml``: the chapter that makes the synthetic data beside chapters that never read
it, then alone each chapter that computes on both cores); the notebooks no stage names follow, in
Sphinx's order, as many at a time as ``emokd_execution_jobs``. Two kernels asking for the book's data
or experiment at once wait for each other (``emokd.teaching.book``), so an order that does not fit
costs time, never a wrong result (a wait of more than a few seconds prints one line on the waiting
chapter's page: why the first stage pairs the data's maker only with chapters that never read it).

Threads. While chapters run side by side, each kernel computes with one thread
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to 1 for the kernels
started here, unless the build's environment sets them): two kernels with two threads each on two
cores slowed the chapter that trained in its kernel from 41 s to 75 s. The folds of a chapter compute
with one thread wherever they run in any case (``emokd.core.threads``); the chapters that start
worker processes (the shared experiment, chapter 07's saliency) run in a stage of their own.

Failures. A notebook that fails here is not cached; myst-nb executes it again in its turn and
reports the error as always (the build fails with ``-W``), so a failure costs its time twice and
hides nothing. ``emokd_execution_jobs: 1`` turns the extension off.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path, PurePosixPath

from sphinx.util import logging

logger = logging.getLogger(__name__)


def plan(docnames: list[str], stages: list[list[str]]) -> list[list[str]]:
    """``docnames`` (those to execute, in Sphinx's order) in stages: each configured stage's names that
    are in ``docnames``, then the rest in their order; empty stages left out."""
    named = {name for stage in stages for name in stage}
    planned = [[name for name in stage if name in docnames] for stage in stages]
    planned.append([name for name in docnames if name not in named])
    return [stage for stage in planned if stage]


def _stale_notebooks(env, cache, docnames) -> dict[str, tuple[Path, object]]:
    """docname -> (path, notebook) of each notebook Sphinx will read that ``cache`` does not hold."""
    import nbformat

    nb_cfg = env.mystnb_config
    stale = {}
    for name in docnames:
        path = Path(env.doc2path(name))
        if path.suffix != ".ipynb":
            continue
        if any(PurePosixPath(path.as_posix()).match(p) for p in nb_cfg.execution_excludepatterns or ()):
            continue
        nb = nbformat.read(path, as_version=4)
        if "mystnb" in nb.metadata:  # its own execution settings: left to myst-nb
            continue
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            stale[name] = (path, nb)
    return stale


def execute_side_by_side(app, env, docnames) -> None:
    cfg, nb_cfg = app.config, getattr(env, "mystnb_config", None)
    jobs = int(cfg.emokd_execution_jobs)
    if jobs < 2 or nb_cfg is None or nb_cfg.execution_mode != "cache" or nb_cfg.execution_in_temp:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache = get_cache(nb_cfg.execution_cache_path)  # myst-nb's, its path resolved at builder-inited
    stale = _stale_notebooks(env, cache, sorted(docnames))  # Sphinx reads them in this order
    if len(stale) < 2:
        return  # nothing to gain: myst-nb executes it in its turn
    stages = plan(list(stale), [list(s) for s in cfg.emokd_execution_stages])
    logger.info(f"[execute_side_by_side] {len(stale)} notebooks, {jobs} at a time, in {len(stages)} stage(s)")

    def execute(name):
        path, nb = stale[name]
        nb = copy.deepcopy(nb)
        result = single_nb_execution(nb, cwd=str(path.parent), timeout=nb_cfg.execution_timeout,
                                     allow_errors=nb_cfg.execution_allow_errors, meta_override=True)
        return nb, result

    t0 = time.perf_counter()
    with _kernel_threads(1), ThreadPoolExecutor(max_workers=jobs) as pool:  # each thread waits on a kernel
        for stage in stages:
            futures = {pool.submit(execute, name): name for name in stage}
            for future in as_completed(futures):
                name = futures[future]
                path = stale[name][0]
                try:
                    nb, result = future.result()
                except Exception as err:  # noqa: BLE001 - whatever went wrong here, myst-nb runs it as always
                    logger.info(f"[execute_side_by_side] {name}: {type(err).__name__}: {err}; left to myst-nb")
                    continue
                if result.err is not None:  # myst-nb executes it again in its turn and reports the error
                    logger.info(f"[execute_side_by_side] {name} failed ({type(result.err).__name__}); "
                                "left to myst-nb")
                    continue
                record = cache.add_nb_to_project(str(path))  # the database is written from this thread only
                cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": result.time}),
                                            check_validity=False, overwrite=True)
                logger.info(f"[execute_side_by_side] {name}: {result.time:.1f} s")
    logger.info(f"[execute_side_by_side] done in {time.perf_counter() - t0:.1f} s")


#: what limits a kernel's threads (torch's and NumPy's BLAS), read when the kernel's process starts
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _kernel_threads(n: int):
    """The kernels started inside the block compute with ``n`` threads, where the environment does not say."""
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    for k in THREAD_VARIABLES:
        os.environ.setdefault(k, str(n))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def setup(app):
    app.add_config_value("emokd_execution_jobs", 1, "env", [int])
    app.add_config_value("emokd_execution_stages", [], "env", [list])
    app.connect("env-before-read-docs", execute_side_by_side)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
