"""Give the memory a finished fold has freed back to the system.

glibc's ``malloc`` keeps memory that a process has freed for its own later use, and
returns only what sits at the top of its heap. A joblib worker that has trained a
fold, or computed a fold's saliency, so keeps a few hundred MB it no longer uses, and
a container's memory limit (Binder's 2 GB) counts them as in use. On the book preset
a saliency worker held 0.52 GB after one fold's four test trials, and 0.30 GB after
``release_memory`` (``gc.collect`` then ``malloc_trim(0)``, which unmaps the free pages
anywhere in the heap). The experiment and the saliency call it in their workers
after every fold, and :func:`emokd.nn.embeddings.cached_embeddings` once it has written
its cache. Elsewhere than glibc (macOS, Windows, musl) it only collects garbage.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import sys


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_memory() -> bool:
    """Collect garbage, then give the C library's free memory back to the system.

    Returns True when ``malloc_trim`` gave memory back, False when there was none to
    give or the C library has no ``malloc_trim``. Changes no computation.
    """
    gc.collect()
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


def call_and_release(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, then :func:`release_memory` once its locals are gone: how a
    worker runs one fold."""
    try:
        return fn(*args, **kwargs)
    finally:
        release_memory()
