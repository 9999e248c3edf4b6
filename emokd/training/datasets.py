"""From prepared trials to training batches: partitions, normalisation, windows.

* :func:`make_folds` -- LOSO (one subject per test fold) or TRS (``n_folds`` folds
  of trials shuffled with the seed, or, as the released code, contiguous blocks
  of trials in subject order). The remaining trials of a fold are shuffled with
  the seed and split 80/20 into training and validation.
* :class:`Normaliser` -- z-scores of features; :func:`fit_normalisers` -- one per
  trial under ``none`` / ``train`` (the fold's training trials pooled) /
  ``subject`` (each subject's own trials).
* :func:`window_starts` and :class:`WindowSet` -- windows of 96 label steps every
  32 steps plus one aligned to the end of the trial; short trials zero-padded
  (and masked); one face frame per step (random frame, random 40x40 crop and
  horizontal flip in training; middle frame and centre crop at evaluation;
  normalised to mean 0.5, SD 0.5 as the paper). A window set is a map-style
  dataset (``len``, indexing) for :class:`torch.utils.data.DataLoader`, with
  :func:`collate_windows`; :class:`AugmentedWindows` gives its training input.
* :func:`overlap_average` -- window predictions back into one trace per trial.

Random choices take an explicit ``numpy.random.Generator``; nothing global.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.constants import FRAME_MEAN, FRAME_STD
from ..errors import EmokdError


def student_inputs(eeg_bp: np.ndarray) -> np.ndarray:
    """Band power (n_steps, n_bands, n_chans) -> features (n_steps, n_bands * n_chans),
    flattened band-major (all channels of band 0, then band 1, ...), float32."""
    eeg_bp = np.asarray(eeg_bp)
    if eeg_bp.ndim != 3:
        raise EmokdError(f"eeg_bp must be (n_steps, n_bands, n_chans), got shape {eeg_bp.shape}")
    return eeg_bp.reshape(eeg_bp.shape[0], -1).astype(np.float32)


# ------------------------------------------------------------------ partitions


@dataclass(frozen=True)
class Fold:
    """Trial keys of one fold's partitions.

    ``train``: the labelled training trials; ``validation``: labelled, for early stopping and model
    choice; ``test``: scored. Two partitions whose labels are never read (:mod:`emokd.training.regimes`):
    ``unlabelled``, training trials whose labels are withheld (scarce labels) or that have none in the
    data (sessions prepared with ``prepare --unlabelled``), and ``calibration``, trials of the test subject
    with face and EEG but no label (a new person's calibration session); the teacher's knowledge
    reaches the students on both. ``unlabelled_data`` is not a partition: it names the trials of
    ``unlabelled`` and ``calibration`` that have no label in the data at all (the rest had theirs
    withheld by the regime).
    """

    fold: int
    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]
    unlabelled: tuple[str, ...] = ()
    calibration: tuple[str, ...] = ()
    unlabelled_data: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """Every trial the fold reads, partition by partition."""
        return self.train + self.validation + self.test + self.unlabelled + self.calibration

    @property
    def pool(self) -> tuple[str, ...]:
        """The training pool whose inputs the fold's ``train`` normalisation is fitted on: the training
        trials, labelled or not, sorted (the same pool whatever share is labelled); never calibration
        or test trials."""
        return tuple(sorted(self.train + self.unlabelled))

    def describe(self, subject_of: dict[str, int]) -> dict:
        """JSON-ready ``{part: {"subjects": [...], "trials": [...]}}`` (``unlabelled``, ``calibration`` and
        ``unlabelled_data``, the trials of those two without a label in the data, only when the fold has
        them; ``unlabelled_data`` also says how many: ``n_trials``)."""
        parts = [("train", self.train), ("validation", self.validation), ("test", self.test)]
        parts += [(name, keys) for name, keys in (("unlabelled", self.unlabelled), ("calibration", self.calibration),
                                                  ("unlabelled_data", self.unlabelled_data)) if keys]
        out = {part: {"subjects": sorted({subject_of[k] for k in keys}), "trials": list(keys)} for part, keys in parts}
        if self.unlabelled_data:
            out["unlabelled_data"]["n_trials"] = len(self.unlabelled_data)
        return out


def _split_train_val(keys: list[str], val_fraction: float, rng: np.random.Generator) -> tuple[tuple, tuple]:
    if len(keys) < 2:
        raise EmokdError(f"only {len(keys)} trial(s) left for training and validation; need at least 2")
    order = rng.permutation(len(keys))
    n_val = min(len(keys) - 1, max(1, int(round(val_fraction * len(keys)))))
    val = tuple(sorted(keys[i] for i in order[:n_val]))
    train = tuple(sorted(keys[i] for i in order[n_val:]))
    return train, val


def make_folds(subject_of: dict[str, int], protocol: str, *, seed: int, n_folds: int = 10,
               val_fraction: float = 0.2, trs_folds: str = "shuffled") -> list[Fold]:
    """Partition trials into folds.

    Parameters
    ----------
    subject_of : dict
        trial key -> subject id.
    protocol : {"loso", "trs"}
        ``loso``: fold k tests the k-th subject (in increasing id order).
        ``trs``: the trials, shuffled with ``seed``, are cut into ``n_folds``
        near-equal folds.
    trs_folds : {"shuffled", "contiguous"}
        ``contiguous``: the released code's TRS -- the trials in subject order
        (then trial number; trial keys sort so) cut into ``n_folds`` contiguous
        near-equal blocks, without a shuffle; a subject's trials then mostly sit
        in one or two test folds and in the training data of the others.
    seed : int
        The TRS shuffle uses ``default_rng([seed, 0])``; the training/validation
        split of fold k uses ``default_rng([seed, 1, k])``.

    Returns
    -------
    folds : list of Fold
    """
    keys = sorted(subject_of)
    if protocol == "loso":
        subjects = sorted(set(subject_of.values()))
        if len(subjects) < 2:
            raise EmokdError(f"LOSO needs at least 2 subjects, the data has {len(subjects)}")
        tests = [tuple(k for k in keys if subject_of[k] == s) for s in subjects]
    elif protocol == "trs":
        if not 2 <= n_folds <= len(keys):
            raise EmokdError(f"TRS with n_folds={n_folds}: need 2 <= n_folds <= {len(keys)} trials")
        if trs_folds == "shuffled":
            order = np.random.default_rng([seed, 0]).permutation(len(keys))
        elif trs_folds == "contiguous":
            order = np.array(sorted(range(len(keys)), key=lambda i: (subject_of[keys[i]], keys[i])))
        else:
            raise EmokdError(f"trs_folds={trs_folds!r}: choose 'shuffled' or 'contiguous'")
        tests = [tuple(sorted(keys[i] for i in part)) for part in np.array_split(order, n_folds)]
    else:
        raise EmokdError(f"protocol={protocol!r}: choose 'loso' or 'trs'")
    folds = []
    for k, test in enumerate(tests):
        rest = [key for key in keys if key not in set(test)]
        train, val = _split_train_val(rest, val_fraction, np.random.default_rng([seed, 1, k]))
        folds.append(Fold(k, train, val, test))
    return folds


# --------------------------------------------------------------- normalisation


@dataclass(frozen=True)
class Normaliser:
    """Per-feature z-scoring: ``(x - mean) / std``; fit on training trials only.

    ``mean``, ``std`` : ndarray, shape (n_features,)
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, arrays: list[np.ndarray]) -> "Normaliser":
        """Statistics over every step of ``arrays`` (each (n_steps, n_features))."""
        if not arrays:
            raise EmokdError("cannot fit a normaliser on no trials")
        x = np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays])
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def fit_normalisers(trials: dict[str, dict], field: str, train_keys, how: str, *, unseen=()) -> dict:
    """One normalising function per trial of ``trials`` for the input ``field``.

    Parameters
    ----------
    trials : dict
        trial key -> trial dict with ``subject`` and ``field`` (n_steps, n_features).
    field : str, e.g. ``"x"`` (the student's input) or ``"face"``
    train_keys : the fold's training trials
    how : {"none", "train", "subject"}
        ``none``: the features as they are (float32). ``train``: z-scored with the
        statistics of ``train_keys`` pooled (no validation or test trial enters
        them). ``subject``: every trial z-scored with the statistics of all the
        trials of its own subject in ``trials`` -- for a test subject these are its
        test recordings (a calibration on unlabelled data of the new subject).
        Only features are read, never labels.
    unseen : trial keys whose features enter no statistics (``subject``): a new person's evaluation
        trials when their calibration trials stand for them (:mod:`emokd.training.regimes`)

    Returns
    -------
    normalisers : dict, trial key -> callable ``(n_steps, n_features) -> float32 array``
    """
    if how == "none":
        return {k: _identity for k in trials}
    if how == "train":
        norm = Normaliser.fit([trials[k][field] for k in train_keys])
        return {k: norm for k in trials}
    if how == "subject":
        by_subject, unseen = {}, set(unseen)
        for k in sorted(trials):
            if k not in unseen:
                by_subject.setdefault(trials[k]["subject"], []).append(k)
        per = {s: Normaliser.fit([trials[k][field] for k in keys]) for s, keys in by_subject.items()}
        return {k: per[trials[k]["subject"]] for k in trials}
    raise EmokdError(f"normalisation {how!r}: choose 'none', 'train' or 'subject'")


# --------------------------------------------------------------------- windows


def window_starts(n_steps: int, window_steps: int = 96, hop_steps: int = 32) -> list[int]:
    """Start steps of the windows of a trial of ``n_steps``.

    Every ``hop_steps`` while the window fits, plus one window aligned to the end
    of the trial when the regular grid misses it. A trial shorter than a window
    gets one window at 0 (zero-padded).
    """
    if n_steps < 1 or window_steps < 1 or hop_steps < 1:
        raise EmokdError(f"n_steps={n_steps}, window_steps={window_steps}, hop_steps={hop_steps}: need >= 1")
    if n_steps <= window_steps:
        return [0]
    starts = list(range(0, n_steps - window_steps + 1, hop_steps))
    if starts[-1] != n_steps - window_steps:
        starts.append(n_steps - window_steps)
    return starts


def overlap_average(windows: np.ndarray, starts: list[int], n_steps: int) -> np.ndarray:
    """Average overlapping window outputs back into one trace.

    Parameters
    ----------
    windows : ndarray, shape (n_windows, window_steps, ...)
    starts : list of int, the start step of each window
    n_steps : int, length of the trial

    Returns
    -------
    trace : ndarray, shape (n_steps, ...)
    """
    windows = np.asarray(windows, dtype=np.float64)
    total = np.zeros((n_steps,) + windows.shape[2:])
    count = np.zeros(n_steps)
    for w, s in zip(windows, starts):
        stop = min(s + windows.shape[1], n_steps)
        total[s:stop] += w[: stop - s]
        count[s:stop] += 1
    if (count == 0).any():
        raise EmokdError("windows do not cover every step of the trial")
    return (total / count.reshape((-1,) + (1,) * (total.ndim - 1))).astype(np.float32)


def sample_frames(frames: np.ndarray, *, crop: int, train: bool, rng: np.random.Generator | None) -> np.ndarray:
    """One normalised face crop per label step.

    Parameters
    ----------
    frames : ndarray, uint8, shape (n_steps, k, H, W)
    crop : int, side of the square crop
    train : bool
        True: a random frame of the k per step, and one random crop and one random
        horizontal flip for the whole sequence (needs ``rng``): the same crop for
        every step, as video clips are augmented, because independent crops per
        step add a jitter that looks like head motion and hides the expression.
        False: the middle frame, centre crop.

    Returns
    -------
    x : ndarray, float32, shape (n_steps, crop, crop), ``(pixel / 255 - 0.5) / 0.5``
    """
    n, k, h, w = frames.shape
    if crop > min(h, w):
        raise EmokdError(f"crop {crop} is larger than the {h}x{w} frames")
    steps = np.arange(n)
    if train:
        which = rng.integers(0, k, n)
        oy = np.full(n, rng.integers(0, h - crop + 1))
        ox = np.full(n, rng.integers(0, w - crop + 1))
        flip = np.full(n, rng.random() < 0.5)
    else:
        which = np.full(n, k // 2)
        oy = np.full(n, (h - crop) // 2)
        ox = np.full(n, (w - crop) // 2)
        flip = np.zeros(n, bool)
    rows = oy[:, None] + np.arange(crop)  # (n, crop)
    cols = ox[:, None] + np.arange(crop)
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    x = frames[steps[:, None, None], which[:, None, None], rows[:, :, None], cols[:, None, :]]
    return ((x.astype(np.float32) / 255.0 - FRAME_MEAN) / FRAME_STD).astype(np.float32)


def sample_embeddings(emb: np.ndarray, *, augment: str, train: bool, rng: np.random.Generator | None) -> np.ndarray:
    """One cached frame embedding per label step (the frozen-backbone teacher's input).

    Parameters
    ----------
    emb : ndarray, float32, shape (n_steps, n_views, k, E)
        Embeddings of every frame of each step (:mod:`emokd.nn.embeddings`); view 0
        is the centre crop, view 1 (when present) its horizontal mirror.
    augment : {"none", "frame", "frame+flip"}
        In training: ``"frame"`` draws a random frame of each step, as
        :func:`sample_frames` does; ``"frame+flip"`` also draws one flip for the
        whole sequence; ``"none"`` takes the evaluation input. At evaluation
        (``train=False``) always the middle frame of the centre view.

    Returns
    -------
    x : ndarray, float32, shape (n_steps, E)
    """
    n, n_views, k, _ = emb.shape
    which, view = np.full(n, k // 2), 0
    if train and augment != "none":
        which = rng.integers(0, k, n)
        if augment == "frame+flip":
            if n_views < 2:
                raise EmokdError("frame_augment='frame+flip' needs cached flipped embeddings (n_views 2)")
            view = int(rng.random() < 0.5)
    return emb[np.arange(n), view, which]


class WindowSet:
    """The windows of a list of trials, ready to batch for one model.

    Parameters
    ----------
    trials : list of dict
        Each with ``key``, ``valence`` (n_steps,) and the model input under ``field``.
    field : str
        The input: ``"frames"``, face frames (n_steps, k, H, W) uint8, one sampled
        per step (:func:`sample_frames`); ``"emb"``, cached frame embeddings
        (n_steps, n_views, k, E), one sampled per step (:func:`sample_embeddings`);
        any other name, features (n_steps, n_features) float32 -- ``"x"``, the
        student's band power, by default.
    window_steps, hop_steps : int
    crop : int, the teacher's face crop
    augment : str, how ``"emb"`` is sampled in training (``frame_augment``)
    knowledge : dict, optional
        trial key -> teacher features per window, (n_windows, window_steps, n_features)
        (from :func:`emokd.training.train.extract_knowledge`), for distillation.
    targets : dict, optional
        trial key -> a predicted valence per window, (n_windows, window_steps) (a teacher's or the
        student's own: :func:`emokd.training.train.window_predictions`), for output distillation.

    A trial with ``labelled=False`` (its label withheld: :mod:`emokd.training.regimes`) gives
    windows whose ``y`` is 0 and whose ``labelled`` is 0; when any trial is unlabelled every batch
    carries ``labelled`` (B,), and the label term ignores those windows.
    """

    def __init__(self, trials: list[dict], field: str = "x", *, window_steps: int = 96, hop_steps: int = 32,
                 crop: int = 40, knowledge: dict | None = None, augment: str = "frame+flip",
                 targets: dict | None = None):
        for t in trials:
            if t.get(field) is None:
                hint = (" (prepared without face frames: the visual teacher needs Sessions/<id>/face_frames.npz, which "
                        "`python -m emokd prepare` makes from the session's camera with the 'video' extra)"
                        if field == "frames" else "")
                raise EmokdError(f"trial {t['key']} has no {field!r} input{hint}")
        self.trials, self.field, self.crop, self.augment = trials, field, crop, augment
        self.window_steps, self.hop_steps = window_steps, hop_steps
        self.starts = {t["key"]: window_starts(len(t["valence"]), window_steps, hop_steps) for t in trials}
        self.index = [(i, j) for i, t in enumerate(trials) for j in range(len(self.starts[t["key"]]))]
        self.knowledge, self.targets = knowledge, targets
        self.has_unlabelled = any(t.get("labelled", True) is False for t in trials)
        self._stacked = None  # every window at once (features; embeddings at evaluation), made on first use
        for name, per_trial in (("knowledge", knowledge), ("targets", targets)):
            for t in trials if per_trial is not None else ():
                got = per_trial.get(t["key"])
                if got is None or np.shape(got)[:2] != (len(self.starts[t["key"]]), window_steps):
                    raise EmokdError(f"{name} for trial {t['key']} is missing or does not match its windows")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict:
        """Window ``item`` (0 <= item < ``len(self)``) as numpy arrays, at its evaluation input.

        A map-style dataset for :class:`torch.utils.data.DataLoader`: with
        ``collate_fn=collate_windows`` a batch of indices is exactly what
        :meth:`batch` gives for them (numpy arrays); with the DataLoader's default
        collate, the same as tensors.

        Indexing draws nothing at random: face frames are the middle frame of each
        step, centre-cropped, and cached embeddings the middle frame of the centre
        view, as at evaluation (``batch(..., train=False)``). For training-time
        sampling, deterministic per index, see :class:`AugmentedWindows`.

        Returns ``x`` (W, n_features) or (W, crop, crop), ``y`` (W,), ``mask`` (W,)
        (1 = real step, 0 = padding) and, with knowledge, ``knowledge`` (W, n_features).
        """
        if not -len(self) <= item < len(self):
            raise IndexError(f"window {item} of a set of {len(self)}")
        return self._window(item % len(self), train=False, rng=None)

    def _window(self, item: int, *, train: bool, rng: np.random.Generator | None) -> dict:
        """One window's arrays, padded to ``window_steps`` (see :meth:`__getitem__`)."""
        W = self.window_steps
        i, j = self.index[item]
        t = self.trials[i]
        s = self.starts[t["key"]][j]
        labelled = t.get("labelled", True) is not False
        y = np.asarray(t["valence"][s:s + W], dtype=np.float32)
        n = y.size
        if not labelled:  # a withheld label is never used: the window's target is 0 and it is marked
            y = np.zeros(n, np.float32)
        if self.field == "frames":
            x = sample_frames(t["frames"][s:s + n], crop=self.crop, train=train, rng=rng)
        elif self.field == "emb":
            x = sample_embeddings(t["emb"][s:s + n], augment=self.augment, train=train, rng=rng)
        else:
            x = t[self.field][s:s + n]
        pad = W - n
        out = {"x": np.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)), "y": np.pad(y, (0, pad)),
               "mask": np.pad(np.ones(n, np.float32), (0, pad))}
        if self.knowledge is not None:
            out["knowledge"] = np.asarray(self.knowledge[t["key"]][j], dtype=np.float32)
        if self.targets is not None:
            out["target"] = np.asarray(self.targets[t["key"]][j], dtype=np.float32)
        if self.has_unlabelled:
            out["labelled"] = np.float32(labelled)
        return out

    def batch(self, items, *, train: bool = False, rng: np.random.Generator | None = None) -> dict:
        """Collate windows ``items`` (indices into the set) into numpy arrays.

        Returns ``x`` (B, W, n_features) or (B, W, crop, crop), ``y`` (B, W),
        ``mask`` (B, W) (1 = real step, 0 = padding) and, with knowledge,
        ``knowledge`` (B, W, n_features). With ``train=True`` the random frames,
        crops and flips are drawn from ``rng`` window after window, in the order
        of ``items`` (this is the batching :func:`emokd.training.train.fit` uses).
        """
        idx = np.asarray(items, dtype=np.intp)
        if idx.size and (self.field not in ("frames", "emb") or (self.field == "emb" and not train)):
            # nothing is drawn at random: the windows are stacked once and batches are taken from them
            if self._stacked is None:
                self._stacked = collate_windows([self._window(i, train=False, rng=None) for i in range(len(self))])
            return {k: v[idx] for k, v in self._stacked.items()}
        return collate_windows([self._window(item, train=train, rng=rng) for item in items])


def collate_windows(items: list[dict]) -> dict:
    """Stack windows (items of :class:`WindowSet` or :class:`AugmentedWindows`) into a batch.

    The ``collate_fn`` for a :class:`torch.utils.data.DataLoader` over a window set:
    each field stacked on a new first axis, ``x`` (B, W, ...), ``y`` (B, W),
    ``mask`` (B, W) and ``knowledge`` (B, W, n_features) when the items have it;
    numpy arrays, as :meth:`WindowSet.batch` returns.
    """
    if not items:
        raise EmokdError("cannot collate an empty list of windows")
    return {k: np.stack([it[k] for it in items]) for k in items[0]}


class AugmentedWindows:
    """A :class:`WindowSet` at its training input, for a DataLoader: random, but fixed per index.

    Item ``i`` samples its frames (random frame per step, one random crop and flip
    per window; for ``"emb"``, the set's ``augment``) from
    ``numpy.random.default_rng([seed, epoch, i])``: the same item whatever the
    order, the batch or the DataLoader worker that asks for it, and other draws
    in another epoch (:meth:`set_epoch`, before iterating). These draws are not
    those of :func:`emokd.training.train.fit`, which draws from one generator batch after
    batch (:meth:`WindowSet.batch` with ``train=True``); emokd's training uses
    that, which is what makes a resumed run exact.
    """

    def __init__(self, windows: WindowSet, *, seed: int, epoch: int = 0):
        self.windows, self.seed, self.epoch = windows, seed, epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, item: int) -> dict:
        if not -len(self) <= item < len(self):
            raise IndexError(f"window {item} of a set of {len(self)}")
        item %= len(self)
        rng = np.random.default_rng([self.seed, self.epoch, item])
        return self.windows._window(item, train=True, rng=rng)
