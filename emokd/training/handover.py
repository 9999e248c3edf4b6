"""What a teacher hands over to a student, and the controls that tell hand-overs apart.

A fold's students (:mod:`emokd.training.fold`) differ only in the target of their second term:

* ``student_kd`` -- the teacher's temporal features, the paper's L1 term (the fold's knowledge);
* ``student_kd_output`` -- the teacher's predicted valence per window, through the task's own loss
  (:func:`emokd.nn.losses.kd_objective` with ``teacher_output``): output distillation;
* ``student_kd_shuffled`` -- :func:`shuffle_knowledge`: every window gets a window of *another*
  trial's features; the same windows, so exactly the same statistics, none of the pairing. A gain
  that survives it is not knowledge about the trial;
* ``student_self`` -- the plain student's own predictions as the target (self-training): the
  unlabelled trials used without any teacher.
"""

from __future__ import annotations

import numpy as np

from ..errors import EmokdError

#: numpy.random.default_rng([seed, 6, fold]) draws the shuffled teacher's trial order
SHUFFLE_STREAM = 6


def shuffle_knowledge(knowledge: dict[str, np.ndarray], keys, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The windows of ``keys``' knowledge dealt out again so that no window stays with its own trial.

    Parameters
    ----------
    knowledge : dict, trial key -> (n_windows, W, C) teacher features per window
    keys : the trials to shuffle among (a fold's training pool)
    rng : draws the order of the trials

    Returns
    -------
    dict, key -> (n_windows, W, C), each trial as many windows as before, every one from another
    trial. The trials, in an order drawn from ``rng``, are laid end to end and the sequence of
    windows is rotated by the longest trial's window count: a trial's windows then all land in other
    trials, and the multiset of windows (so every statistic over windows) is exactly the real one's.
    """
    keys = sorted(keys)
    if len(keys) < 2:
        raise EmokdError(f"a shuffled teacher needs at least 2 training trials, the fold has {len(keys)}")
    order = [keys[i] for i in rng.permutation(len(keys))]
    counts = [len(knowledge[k]) for k in order]
    stacked = np.concatenate([knowledge[k] for k in order])  # (N, W, C)
    n, longest = len(stacked), max(counts)
    if n < 2 * longest:
        raise EmokdError(f"a shuffled teacher needs the training windows ({n}) to be at least twice the longest "
                         f"trial's ({longest}): one trial holds most of them")
    rotated = np.roll(stacked, longest, axis=0)
    out, lo = {}, 0
    for k, c in zip(order, counts):
        out[k] = rotated[lo:lo + c]
        lo += c
    return out
