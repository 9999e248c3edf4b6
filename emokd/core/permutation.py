"""Label traces permuted among each subject's trials: the one permutation of a chance level (issue 34).

Two users share it: :func:`emokd.evaluation.stats.permutation_null` (a score's distribution over many
draws) and a run with ``ExperimentConfig.permute_labels`` (one draw, made before anything reads the
labels: :func:`emokd.training.folddata.permute_trial_labels`). It sits in the bottom layer so that both
can import it (numpy only).
"""

from __future__ import annotations

import numpy as np

from ..errors import EmokdError
from .config import check_choice


def label_traces(labels) -> dict:
    """``labels`` checked and converted: subject -> list of 1-D float arrays (each trial's trace).

    EmokdError unless ``labels`` is a non-empty mapping of subject -> a non-empty sequence of non-empty
    1-D traces (lengths may differ)."""
    if not hasattr(labels, "items") or not labels:
        raise EmokdError("labels: expected a non-empty mapping of subject -> list of per-trial label traces")
    traces = {}
    for subject, trials in labels.items():
        trials = [np.asarray(t, dtype=float) for t in trials]
        for i, t in enumerate(trials):
            if t.ndim != 1 or t.size == 0:
                raise EmokdError(f"labels[{subject!r}][{i}]: expected a non-empty 1-D trace, got shape {t.shape}")
        if not trials:
            raise EmokdError(f"labels[{subject!r}]: no trials")
        traces[subject] = trials
    return traces


def permute_within_subjects(labels, rng, *, align: str = "interp") -> dict:
    """Each subject's label traces shuffled among its own trials (one draw).

    For each subject, in the order of ``labels``, one ``rng.permutation`` of its trials: trial i receives
    the trace of trial pi(i), pi uniform over the permutations (the identity included, so a subject with
    one trial keeps its own trace); a trace never moves to another subject. ``align="interp"`` resamples a
    trace linearly onto the receiving trial's length (``np.interp`` on [0, 1]; an unchanged copy where the
    lengths are equal); ``"none"`` passes it as it is.

    Parameters
    ----------
    labels : mapping of subject -> sequence of array_like, each shape (n_times_i,)
    rng : numpy.random.Generator or int or None
        The random source (an int seeds ``numpy.random.default_rng``).
    align : {"interp", "none"}

    Returns
    -------
    dict
        subject -> list of 1-D float64 arrays, trial by trial: the structure of ``labels``.
    """
    check_choice("align", align, ("interp", "none"))
    traces = label_traces(labels)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def moved(donor: np.ndarray, n_times: int) -> np.ndarray:
        if align == "none" or donor.size == n_times:
            return donor.copy()
        return np.interp(np.linspace(0, 1, n_times), np.linspace(0, 1, donor.size), donor)

    permuted = {}
    for subject, trials in traces.items():
        order = gen.permutation(len(trials))
        permuted[subject] = [moved(trials[j], trials[i].size) for i, j in enumerate(order)]
    return permuted
