"""emokd.core.memory: freed memory goes back to the system (glibc), and nothing else changes."""

import numpy as np
import psutil
import pytest

from emokd.core import memory


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


@pytest.mark.skipif(memory._malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_a_fragmented_heap_is_given_back():
    # 4000 blocks of 48 kB (below glibc's mmap threshold: they come from the heap); keeping every
    # 20th pins the heap, so free() alone cannot return the ~180 MB freed between them
    blocks = [np.ones(6000) for _ in range(4000)]
    keep = blocks[::20]
    del blocks
    before = _rss_mb()
    assert memory.release_memory() is True
    after = _rss_mb()
    assert before - after > 100, (before, after)
    assert all(float(b.sum()) == 6000.0 for b in keep)  # what is still in use is untouched


def test_call_and_release_returns_the_result_and_releases_even_on_error(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_memory", lambda: calls.append("released") or True)
    assert memory.call_and_release(lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        memory.call_and_release(lambda: 1 / 0)
    assert calls == ["released", "released"]
