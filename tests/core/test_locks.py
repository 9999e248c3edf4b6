"""Advisory file locks: who may hold them together, and what a refused caller learns."""

import fcntl
import os

import pytest

from emokd.core.locks import LockBusy, LockUnavailable, file_lock


def _other_holder(path, mode):
    """A lock held through another open file description: to flock, another process."""
    f = open(path, "a+")
    fcntl.flock(f.fileno(), mode | fcntl.LOCK_NB)
    return f


def test_an_exclusive_holder_writes_its_pid_and_keeps_everyone_out(tmp_path):
    path = tmp_path / ".lock"
    with file_lock(path):
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(BlockingIOError):
            _other_holder(path, fcntl.LOCK_SH)
    _other_holder(path, fcntl.LOCK_EX).close()  # released when the block ends


def test_readers_share_and_a_writer_is_told_who_holds_it(tmp_path):
    path = tmp_path / ".lock"
    path.write_text("4242\n")
    other = _other_holder(path, fcntl.LOCK_SH)
    try:
        with file_lock(path, shared=True):  # a second reader: fine
            pass
        with pytest.raises(LockBusy) as busy:
            with file_lock(path):
                pass
        assert busy.value.pid == "4242" and not busy.value.here
    finally:
        other.close()


def test_reentrant_in_one_process_but_no_writer_inside_a_reader(tmp_path):
    path = tmp_path / ".lock"
    with file_lock(path):
        with file_lock(path, shared=True):
            pass
    with file_lock(path, shared=True):
        with pytest.raises(LockBusy) as busy:
            with file_lock(path):
                pass
        assert busy.value.here


def test_a_lock_file_that_cannot_be_made_is_named(tmp_path):
    with pytest.raises(LockUnavailable) as err:
        with file_lock(tmp_path / "no-such-folder" / ".lock"):
            pass
    assert err.value.filename == str(tmp_path / "no-such-folder" / ".lock")


def test_a_waiting_caller_gets_the_lock_when_the_holder_lets_go(tmp_path):
    """``wait=True`` blocks until the other holder closes (a timer thread closes it after 0.3 s),
    where the default refuses at once."""
    import threading
    import time

    path = tmp_path / ".lock"
    other = _other_holder(path, fcntl.LOCK_EX)
    with pytest.raises(LockBusy):
        with file_lock(path):
            pass
    threading.Timer(0.3, other.close).start()
    t0 = time.perf_counter()
    with file_lock(path, wait=True):
        waited = time.perf_counter() - t0
        assert path.read_text() == f"{os.getpid()}\n"
    assert waited >= 0.25
