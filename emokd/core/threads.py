"""The one number of CPU threads every model of every fold is computed with, wherever it runs.

Why a fixed number, and why 1. Floating-point addition is not associative, and PyTorch's CPU
kernels split some sums into as many parts as there are intra-op threads: oneDNN's
convolutions (the TCN's, forward and backward) and full reductions such as the gradient of a
one-parameter PReLU (a sum over batch x channels x steps). Measured on the smoke preset
(CHANGELOG.md): the same fold trained with 1 and with 2 torch threads differs by 9e-8 in its
first forward pass and by up to 1.2e-4 in its test predictions after training, enough to move
a fold's CCC in the fourth decimal and a KD gain on the book data between +0.016 and 0.000.
Before this module a fold took ``cores // n_jobs`` threads, so ``--n-jobs 1`` and
``--n-jobs 2`` (or a notebook's kernel and a joblib worker, or a 2-core laptop and a 64-core
node) gave different numbers for one configuration.

Every fold now computes with :data:`FOLD_THREADS` torch threads, set in the thread that
computes (:func:`fold_threads`), whatever the scheduler (in process, joblib's loky workers,
a Dask worker), the BLAS/OpenMP environment variables or the machine's core count. One thread,
not more: the models are small (batches of 2-8 windows), so the second thread bought little
(``benchmarks/bench_threads.py`` measures what it costs), and parallelism comes from running
folds side by side (``n_jobs``), which does not change a fold's arithmetic.

What the numbers still depend on, recorded by :func:`compute_record` in every fold and run:
the device (CUDA and MPS kernels are not bit-identical to the CPU's), and the CPU's
instruction set through the kernels PyTorch dispatches to (the same wheel on another CPU
generation may pick other vectorised kernels). A fold is resumed or reused only on the
device it was computed on.
"""

from __future__ import annotations

import contextlib
import threading

from .device import resolve_device

#: torch intra-op threads of every fold (training, knowledge, prediction) and of the frozen
#: backbone's embeddings
FOLD_THREADS = 1


@contextlib.contextmanager
def fold_threads(n_threads: int | None = None):
    """Compute with ``n_threads`` (default :data:`FOLD_THREADS`) torch CPU threads inside the block;
    the caller's setting after.

    One block at a time per process (other threads wait): the folds share torch's default random
    generator. Processes, not threads, run folds side by side: joblib's default (loky) does, and a
    Dask worker should have one thread (``dask worker --nthreads 1 --nworkers N``). NumPy's BLAS
    is limited to the same thread count while a block is open.
    """
    import torch
    from threadpoolctl import threadpool_limits

    n = FOLD_THREADS if n_threads is None else n_threads
    with _one_fold_at_a_time:
        old = torch.get_num_threads()
        torch.set_num_threads(n)
        # NumPy's BLAS (OpenBLAS, MKL) splits its sums by thread count too (the ridge references
        # differ in the 12th digit between OPENBLAS_NUM_THREADS=1 and 2); its count is one per
        # process, and the lock above keeps any other fold of this process out while it is changed
        try:
            with threadpool_limits(limits=n, user_api="blas"):
                yield
        finally:
            torch.set_num_threads(old)


#: torch's default random generator (dropout masks, initial weights) is one per process: two folds
#: computed by two threads of one process (a Dask worker with --nthreads 2, joblib's threading
#: backend) would interleave their draws and both get other numbers. They take turns instead.
_one_fold_at_a_time = threading.RLock()


def compute_record(device="auto") -> dict:
    """What a fold's numbers depend on besides its configuration and data: ``{"device": "cpu",
    "torch_threads": 1}``. ``device``: a config's device (``"auto"`` is resolved as a run resolves
    it, :func:`emokd.core.device.resolve_device`) or a torch device; recorded without its index."""
    return {"device": resolve_device(device).type, "torch_threads": FOLD_THREADS}
