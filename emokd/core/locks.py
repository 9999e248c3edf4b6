"""Advisory locks on files (``fcntl.flock``), re-entrant within a process.

Two folders are locked: a run folder while one run writes it (``.emokd.lock``, exclusive:
:func:`emokd.training.runfolder.run_lock`) and a prepared folder while runs read it and ``prepare``
writes it (``.prepare.lock``, shared for the readers, exclusive for the writer:
:func:`emokd.io.prepare.prepared_lock`). A lock is the kernel's, so a killed process holds none;
the file stays when its holder is done (removing it would race with the next holder). Where
``fcntl`` is not available (Windows) nothing is locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_held: dict[str, list] = {}  # resolved lock file -> [open file, depth, shared]


class LockBusy(Exception):
    """Another holder has the lock: ``pid`` (the process that wrote its id into the file, or "?")
    and ``here`` (True when it is this process: an exclusive lock asked for inside a shared one)."""

    def __init__(self, pid: str, here: bool = False):
        super().__init__(pid)
        self.pid, self.here = pid, here


class LockUnavailable(OSError):
    """The lock file cannot be made or the file system does not lock (``OSError`` of the attempt)."""


@contextlib.contextmanager
def file_lock(path, *, shared: bool = False, wait: bool = False):
    """Hold ``path`` locked (exclusive, or ``shared``) for the ``with`` block; waits only when asked.

    Raises :class:`LockBusy` at once when a conflicting lock is held (with ``wait``: blocks until
    the holder lets go instead), and :class:`LockUnavailable` when the lock file cannot be opened
    or locked for another reason. An exclusive holder writes its process id into the file, for the
    message of the next one refused.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    key = str(Path(path).resolve())
    if key in _held:
        if _held[key][2] and not shared:
            raise LockBusy(str(os.getpid()), here=True)
        _held[key][1] += 1
        try:
            yield
        finally:
            _held[key][1] -= 1
        return
    try:
        f = open(path, "a+")
    except OSError as err:
        raise LockUnavailable(err.errno, err.strerror, str(path)) from None
    try:
        fcntl.flock(f.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        f.seek(0)
        pid = f.read().strip() or "?"
        f.close()
        raise LockBusy(pid) from None
    except OSError as err:  # a file system without locks
        f.close()
        raise LockUnavailable(err.errno, err.strerror, str(path)) from None
    if not shared:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
    _held[key] = [f, 1, shared]
    try:
        yield
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            del _held[key]
            f.close()  # closing releases the lock
