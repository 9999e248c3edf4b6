"""emokd.core.permutation: one draw of labels permuted among each subject's trials (the chance level's
permutation, shared by emokd.evaluation.stats.permutation_null and a run's permute_labels)."""

import itertools

import numpy as np
import pytest

from emokd.core.permutation import label_traces, permute_within_subjects
from emokd.errors import EmokdError


def test_each_subject_keeps_its_traces_resampled_onto_the_receiving_trials():
    labels = {"a": [np.arange(4.0), np.arange(10.0, 16.0), np.arange(20.0, 23.0)], "b": [np.array([7.0, 8.0])]}
    seen = set()
    gen = np.random.default_rng(0)
    for _ in range(300):
        p = permute_within_subjects(labels, gen)
        assert list(p) == ["a", "b"] and [len(v) for v in p.values()] == [3, 1]
        np.testing.assert_array_equal(p["b"][0], [7.0, 8.0])  # one trial: its own trace
        donors = []
        for i, trace in enumerate(p["a"]):
            n = labels["a"][i].size
            assert trace.shape == (n,) and trace.dtype == np.float64
            # a donor's trace on this trial's length: linear from its first value to its last
            first = int(trace[0]) // 10
            donor = labels["a"][first]
            np.testing.assert_allclose(trace, np.interp(np.linspace(0, 1, n), np.linspace(0, 1, donor.size), donor))
            donors.append(first)
        assert sorted(donors) == [0, 1, 2]
        seen.add(tuple(donors))
    assert seen == set(itertools.permutations(range(3)))  # every permutation, the identity too


def test_the_seed_decides_and_align_none_passes_traces_as_they_are():
    labels = {s: [np.random.default_rng(s).standard_normal(n) for n in (5, 9, 7, 6)] for s in range(4)}
    one, two = permute_within_subjects(labels, 3), permute_within_subjects(labels, 3)
    assert all(np.array_equal(a, b) for s in labels for a, b in zip(one[s], two[s]))
    other = permute_within_subjects(labels, 4)
    assert not all(np.array_equal(a, b) for s in labels for a, b in zip(one[s], other[s]))
    raw = permute_within_subjects(labels, 3, align="none")  # the same draw, the traces as they are
    for s in labels:
        for a, b in zip(raw[s], one[s]):
            assert any(np.array_equal(a, t) for t in labels[s])
            assert b.size in {t.size for t in labels[s]}


def test_bad_labels_are_named():
    with pytest.raises(EmokdError, match="non-empty mapping"):
        label_traces({})
    with pytest.raises(EmokdError, match=r"labels\['s'\]\[1\]"):
        label_traces({"s": [[1.0], []]})
    with pytest.raises(EmokdError, match=r"labels\['s'\]: no trials"):
        permute_within_subjects({"s": []}, 0)
    with pytest.raises(EmokdError, match="align='crop'"):
        permute_within_subjects({"s": [[1.0]]}, 0, align="crop")
