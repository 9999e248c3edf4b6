"""Folds on a Dask cluster named by its scheduler, from the command line or a study script.

``emokd run --scheduler tcp://host:8786`` (or ``--scheduler scheduler.json``, the file that
``dask scheduler --scheduler-file`` and dask-jobqueue write) connects a
``dask.distributed.Client`` for the length of the run; joblib's ``dask`` backend then hands
each fold to the cluster as one task. A fold writes its own record (``folds/fold_XX/``), so a
fold finished on the cluster is reused when the run is repeated, and a run whose workers died
resumes from the folds' checkpoints. The numbers are the run's in one process: every fold
computes with :data:`emokd.core.threads.FOLD_THREADS` threads wherever it runs.

The workers read the prepared data and write the run folder at the same paths as the command:
a shared file system. :func:`scheduler_client` checks that every worker sees them before any
fold starts, so a worker on a node without the share is named instead of failing folds.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from ..errors import EmokdError

#: seconds to wait for the scheduler to answer, and for its first worker
CONNECT_TIMEOUT_S = 30.0


def _sees(path: str, write: bool) -> bool:
    """Run on a worker: is ``path`` a folder it can read (and write, with ``write``)?"""
    return os.path.isdir(path) and os.access(path, os.R_OK | (os.W_OK if write else 0))


@contextlib.contextmanager
def scheduler_client(scheduler: str, *, read=(), write=(), timeout_s: float = CONNECT_TIMEOUT_S,
                     option: str = "--scheduler"):
    """A ``dask.distributed.Client`` of ``scheduler``, the default client inside the block; closed after.

    Parameters
    ----------
    scheduler : str, the scheduler's address (``tcp://host:8786``) or its scheduler file (JSON)
    read, write : iterables of paths, absolute: folders every worker must read (the prepared data)
        or write (the run folder); EmokdError naming the workers that cannot
    timeout_s : float, how long to wait for the scheduler and for its first worker
    option : str, how the caller's user named the scheduler (for the messages)
    """
    try:
        from distributed import Client
    except ImportError:
        raise EmokdError(f"{option} {scheduler}: needs dask.distributed (pip install 'emokd[dask]')") from None
    if Path(scheduler).is_file():
        where = {"scheduler_file": str(scheduler)}
    elif ":" in scheduler:  # tcp://host:8786, host:8786
        where = {"address": scheduler}
    else:
        raise EmokdError(f"{option} {scheduler}: neither a scheduler address (tcp://host:8786) nor a scheduler "
                         "file that exists")
    try:
        client = Client(**where, timeout=f"{timeout_s:g}s", set_as_default=True)
    except (OSError, TimeoutError, ValueError) as err:
        raise EmokdError(f"{option} {scheduler}: no Dask scheduler answered within {timeout_s:g} s "
                         f"({type(err).__name__}: {err})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except TimeoutError:
            raise EmokdError(f"{option} {scheduler}: the scheduler has no worker after {timeout_s:g} s; start "
                             f"some (dask worker {client.scheduler.address})") from None
        for paths, can_write in ((read, False), (write, True)):
            for path in paths:
                seen = client.run(_sees, str(path), can_write)  # worker address -> bool
                if blind := sorted(w for w, ok in seen.items() if not ok):
                    raise EmokdError(f"{option} {scheduler}: worker(s) {', '.join(blind)} cannot "
                                     f"{'write' if can_write else 'read'} {path}: the workers must see the data "
                                     "and run folders at the same paths (a shared file system)")
        yield client
    finally:
        client.close()
