"""The shuffled teacher: the real windows, each with another trial."""

import numpy as np
import pytest

from emokd.errors import EmokdError
from emokd.training.handover import shuffle_knowledge


def _knowledge(counts, seed=0, w=5, c=3):
    rng = np.random.default_rng(seed)
    return {f"T{i}": rng.normal(size=(n, w, c)).astype(np.float32) for i, n in enumerate(counts)}


@pytest.mark.parametrize("counts", [[3, 1, 4, 1, 5, 9, 2, 6], [2, 2], [6, 1, 1, 1, 1, 1, 1]])  # the last: exactly twice the longest
def test_every_window_goes_to_another_trial_and_the_statistics_stay(counts):
    real = _knowledge(counts)
    shuffled = shuffle_knowledge(real, real, np.random.default_rng(1))
    assert {k: len(v) for k, v in shuffled.items()} == {k: len(v) for k, v in real.items()}
    owner = {real[k][i].tobytes(): k for k in real for i in range(len(real[k]))}  # windows are unique
    for k, windows in shuffled.items():
        assert all(owner[w.tobytes()] != k for w in windows)
    a, b = (np.concatenate(list(d.values())) for d in (real, shuffled))
    assert sorted(map(bytes, a.reshape(len(a), -1))) == sorted(map(bytes, b.reshape(len(b), -1)))  # a permutation
    # hence every statistic over windows, e.g. each feature's mean and SD (sums in another order: to rounding)
    assert np.allclose(a.mean(axis=(0, 1)), b.mean(axis=(0, 1)), rtol=0, atol=1e-6)
    assert np.allclose(a.std(axis=(0, 1)), b.std(axis=(0, 1)), rtol=0, atol=1e-6)


def test_one_trial_with_most_windows_cannot_be_shuffled():
    with pytest.raises(EmokdError, match="twice the longest"):
        shuffle_knowledge(_knowledge([9, 1, 1]), ["T0", "T1", "T2"], np.random.default_rng(0))
    with pytest.raises(EmokdError, match="at least 2 training trials"):
        shuffle_knowledge(_knowledge([3]), ["T0"], np.random.default_rng(0))
