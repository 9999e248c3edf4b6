"""Windows, overlap averaging, frame sampling, partitions (leakage) and normalisation."""

import numpy as np
import pytest

from emokd.training.datasets import (
    Normaliser,
    WindowSet,
    make_folds,
    overlap_average,
    sample_frames,
    student_inputs,
    window_starts,
)
from emokd.errors import EmokdError
from emokd.training.folddata import fold_inputs


@pytest.mark.parametrize("n, starts", [
    (200, [0, 32, 64, 96, 104]),  # grid + one window aligned to the end
    (192, [0, 32, 64, 96]),  # the grid already ends at the end
    (128, [0, 32]),
    (96, [0]),
    (50, [0]),  # shorter than a window: one padded window
])
def test_window_starts(n, starts):
    assert window_starts(n, 96, 32) == starts


def test_overlap_average_round_trip_and_known_average():
    rng = np.random.default_rng(0)
    trace = rng.normal(size=(200, 3))
    starts = window_starts(200)
    windows = np.stack([trace[s:s + 96] for s in starts])
    np.testing.assert_allclose(overlap_average(windows, starts, 200), trace, rtol=1e-6)
    # window i predicts the constant i: each step gets the mean of the windows covering it
    const = np.stack([np.full(96, float(i)) for i in range(len(starts))])
    avg = overlap_average(const, starts, 200)
    for t in (0, 40, 100, 150, 199):
        covering = [i for i, s in enumerate(starts) if s <= t < s + 96]
        assert avg[t] == pytest.approx(np.mean(covering))
    # a short trial: only the first n steps of the padded window count
    assert overlap_average(np.arange(96.0)[None], [0], 50).tolist() == list(range(50))


def test_student_inputs_band_major():
    bp = np.arange(5 * 6 * 32, dtype=np.float32).reshape(5, 6, 32)
    x = student_inputs(bp)
    assert x.shape == (5, 192)
    assert x[2, 32 * 4 + 7] == bp[2, 4, 7]  # band 4, channel 7
    with pytest.raises(EmokdError, match="shape"):
        student_inputs(bp[0])


def test_sample_frames_eval_is_middle_frame_centre_crop_and_train_is_a_crop_of_some_frame():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, size=(6, 4, 48, 48), dtype=np.uint8)
    ev = sample_frames(frames, crop=40, train=False, rng=None)
    np.testing.assert_allclose(ev, (frames[:, 2, 4:44, 4:44] / 255.0 - 0.5) / 0.5, atol=1e-6)  # float32
    tr = sample_frames(frames, crop=40, train=True, rng=np.random.default_rng(2))
    assert tr.shape == (6, 40, 40) and tr.dtype == np.float32
    for t in range(6):  # brute force: some frame, offset and flip explains each output
        pix = np.rint((tr[t] * 0.5 + 0.5) * 255).astype(np.uint8)
        found = any(np.array_equal(pix, c[:, ::-1] if flip else c)
                    for k in range(4) for oy in range(9) for ox in range(9) for flip in (False, True)
                    for c in [frames[t, k, oy:oy + 40, ox:ox + 40]])
        assert found, t


def test_window_set_batches_pad_and_mask():
    trials = [{"key": "A", "valence": np.arange(200, dtype=np.float32), "x": np.ones((200, 192), np.float32)},
              {"key": "B", "valence": np.ones(50, np.float32), "x": np.ones((50, 192), np.float32)}]
    ws = WindowSet(trials, "x")
    assert len(ws) == 5 + 1
    b = ws.batch([4, 5])
    assert b["x"].shape == (2, 96, 192) and b["y"].shape == (2, 96) and b["mask"].shape == (2, 96)
    assert b["y"][0, 0] == 104  # the end-aligned window of A
    assert b["mask"][1].sum() == 50 and not b["x"][1, 50:].any()
    with pytest.raises(EmokdError, match="no 'frames' input"):
        WindowSet(trials, "frames")
    with pytest.raises(EmokdError, match="knowledge for trial"):
        WindowSet(trials, "x", knowledge={"A": np.zeros((5, 96, 8))})


def _subjects(n_subjects=5, per=4):
    return {f"P{s:02d}_T{t:02d}": s for s in range(1, n_subjects + 1) for t in range(1, per + 1)}


def test_loso_no_subject_in_two_partitions():
    subject_of = _subjects()
    folds = make_folds(subject_of, "loso", seed=0)
    assert len(folds) == 5
    tested = []
    for f in folds:
        test_subj = {subject_of[k] for k in f.test}
        assert len(test_subj) == 1
        assert not test_subj & {subject_of[k] for k in f.train + f.validation}
        assert not set(f.train) & set(f.validation)
        assert sorted(f.train + f.validation + f.test) == sorted(subject_of)
        assert len(f.validation) == round(0.2 * 16)
        tested += f.test
    assert sorted(tested) == sorted(subject_of)


def test_trs_no_trial_in_two_partitions_and_shuffled():
    subject_of = _subjects(6, 5)
    folds = make_folds(subject_of, "trs", seed=3, n_folds=10)
    tested = []
    for f in folds:
        parts = [set(f.train), set(f.validation), set(f.test)]
        assert sum(map(len, parts)) == len(set().union(*parts)) == 30
        tested += f.test
    assert sorted(tested) == sorted(subject_of)
    # not contiguous blocks of the sorted trials (the released code's TRS)
    keys = sorted(subject_of)
    assert any(list(f.test) != keys[3 * i:3 * i + 3] for i, f in enumerate(folds))
    assert make_folds(subject_of, "trs", seed=3, n_folds=10) == folds
    assert make_folds(subject_of, "trs", seed=4, n_folds=10) != folds


@pytest.mark.parametrize("kwargs, match", [
    ({"protocol": "kfold"}, "protocol"),
    ({"protocol": "trs", "n_folds": 100}, "n_folds"),
])
def test_bad_partitions(kwargs, match):
    with pytest.raises(EmokdError, match=match):
        make_folds(_subjects(), seed=0, **kwargs)
    with pytest.raises(EmokdError, match="2 subjects"):
        make_folds({"a": 1, "b": 1}, "loso", seed=0)


def test_normalisation_from_training_trials_only():
    rng = np.random.default_rng(5)
    subject_of = _subjects(4, 3)
    trials = {k: {"key": k, "subject": s, "valence": np.zeros(10), "x": rng.normal(size=(10, 192)) + s}
              for k, s in subject_of.items()}
    fold = make_folds(subject_of, "loso", seed=0)[1]
    inputs = fold_inputs(trials, fold)
    parts, norm = inputs.parts, inputs.normaliser
    train_x = np.concatenate([trials[k]["x"] for k in fold.train])
    np.testing.assert_allclose(norm.mean, train_x.mean(0))
    np.testing.assert_allclose(norm.std, train_x.std(0))
    # changing validation and test trials changes nothing about the statistics
    changed = {k: dict(t, x=t["x"] * 100 + 7) if k not in fold.train else t for k, t in trials.items()}
    norm2 = fold_inputs(changed, fold).normaliser
    np.testing.assert_array_equal(norm.mean, norm2.mean)
    np.testing.assert_allclose(np.concatenate([t["x"] for t in parts["train"]]).mean(0), 0, atol=1e-5)
    assert Normaliser.fit([np.ones((4, 2))]).std.tolist() == [1.0, 1.0]  # constant features stay finite


def _feature_trials(seed=5, n_subjects=4, per=3):
    rng = np.random.default_rng(seed)
    subject_of = _subjects(n_subjects, per)
    return subject_of, {k: {"key": k, "subject": s, "valence": rng.normal(size=10),
                            "x": rng.normal(size=(10, 6)) * s + s, "face": rng.normal(size=(10, 4)) - s}
                        for k, s in subject_of.items()}


def _inputs(parts, field="x"):
    return {t["key"]: t[field] for p in parts.values() for t in p}


@pytest.mark.parametrize("how", ["none", "train", "subject"])
def test_normalisation_never_reads_labels(how):
    subject_of, trials = _feature_trials()
    fold = make_folds(subject_of, "loso", seed=0)[2]
    parts = fold_inputs(trials, fold, normalisation=how, face_normalisation=how).parts
    relabelled = {k: dict(t, valence=t["valence"] * -3 + 1) for k, t in trials.items()}
    parts2 = fold_inputs(relabelled, fold, normalisation=how, face_normalisation=how).parts
    for field in ("x", "face"):
        a, b = _inputs(parts, field), _inputs(parts2, field)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_train_normalisation_never_reads_the_test_subject():
    """Under ``train`` (and ``subject``) another test subject's features do not change the training inputs."""
    subject_of, trials = _feature_trials()
    fold = make_folds(subject_of, "loso", seed=0)[0]
    changed = {k: dict(t, x=t["x"] * 50 - 9, face=t["face"] + 4) if k in fold.test else t
               for k, t in trials.items()}
    for how in ("train", "subject"):
        a = _inputs(fold_inputs(trials, fold, normalisation=how, face_normalisation=how).parts)
        b = _inputs(fold_inputs(changed, fold, normalisation=how, face_normalisation=how).parts)
        for k in fold.train + fold.validation:
            np.testing.assert_array_equal(a[k], b[k])
        assert not np.array_equal(a[fold.test[0]], b[fold.test[0]]) or how == "subject"


def test_subject_normalisation_by_a_plain_loop():
    subject_of, trials = _feature_trials()
    fold = make_folds(subject_of, "loso", seed=0)[1]
    inputs = fold_inputs(trials, fold, normalisation="subject", face_normalisation="subject")
    parts, norms = inputs.parts, inputs.normaliser
    got, got_face = _inputs(parts), _inputs(parts, "face")
    for s in sorted(set(subject_of.values())):
        keys = [k for k in sorted(trials) if trials[k]["subject"] == s]
        for field, out in (("x", got), ("face", got_face)):
            pooled = np.concatenate([trials[k][field] for k in keys])
            mean, sd = pooled.mean(0), pooled.std(0)
            for k in keys:
                np.testing.assert_allclose(out[k], (trials[k][field] - mean) / sd, rtol=1e-5, atol=1e-5)
            # each subject's own trials, pooled, are z-scored
            z = np.concatenate([out[k] for k in keys])
            np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
            np.testing.assert_allclose(z.std(0), 1, atol=1e-5)
    none = fold_inputs(trials, fold, normalisation="none", face_normalisation="train").parts
    for k, x in _inputs(none).items():
        np.testing.assert_array_equal(x, trials[k]["x"].astype(np.float32))
    with pytest.raises(EmokdError, match="'zscore'"):
        fold_inputs(trials, fold, normalisation="zscore")


def test_trs_contiguous_blocks_in_subject_order():
    subject_of = _subjects(6, 5)
    folds = make_folds(subject_of, "trs", seed=3, n_folds=10, trs_folds="contiguous")
    keys = sorted(subject_of, key=lambda k: (subject_of[k], k))
    assert [list(f.test) for f in folds] == [keys[3 * i:3 * i + 3] for i in range(10)]
    # the seed changes only the training/validation split, never the test blocks
    assert [f.test for f in make_folds(subject_of, "trs", seed=4, n_folds=10, trs_folds="contiguous")] == \
        [f.test for f in folds]
    for f in folds:
        assert sorted(f.train + f.validation + f.test) == sorted(subject_of)
    with pytest.raises(EmokdError, match="'blocks'"):
        make_folds(subject_of, "trs", seed=0, trs_folds="blocks")


# ------------------------------------------------- a map-style dataset for DataLoader


def _window_sets():
    """A frames set, an embeddings set and a features set with knowledge; trials of 200 and 50 steps."""
    rng = np.random.default_rng(3)
    trials = []
    for key, n in (("A", 200), ("B", 50)):
        trials.append({"key": key, "valence": rng.normal(size=n).astype(np.float32),
                       "x": rng.normal(size=(n, 12)).astype(np.float32),
                       "frames": rng.integers(0, 256, size=(n, 4, 48, 48), dtype=np.uint8),
                       "emb": rng.normal(size=(n, 2, 4, 8)).astype(np.float32)})
    starts = {"A": 5, "B": 1}  # windows per trial
    knowledge = {k: rng.normal(size=(m, 96, 5)) for k, m in starts.items()}  # float64: cast like batch
    return {"frames": WindowSet(trials, "frames"), "emb": WindowSet(trials, "emb"),
            "x": WindowSet(trials, "x", knowledge=knowledge)}


@pytest.mark.parametrize("field", ["frames", "emb", "x"])
def test_dataloader_with_collate_windows_gives_what_batch_gives(field):
    import torch
    from torch.utils.data import DataLoader

    from emokd.training.datasets import collate_windows

    ws = _window_sets()[field]
    order = [5, 0, 4, 2, 3]  # a sampler over these windows, batches of 2 (the last one short)
    loader = DataLoader(ws, batch_size=2, sampler=order, collate_fn=collate_windows)
    batches = list(loader)
    assert len(batches) == 3
    for got, items in zip(batches, [order[0:2], order[2:4], order[4:]]):
        want = ws.batch(items)
        assert got.keys() == want.keys()
        for k in want:
            assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), k
    # the DataLoader's own collate: the same values as tensors
    for got, items in zip(DataLoader(ws, batch_size=2, sampler=order), [order[0:2], order[2:4], order[4:]]):
        want = ws.batch(items)
        for k in want:
            assert isinstance(got[k], torch.Tensor) and np.array_equal(got[k].numpy(), want[k]), k


def test_window_items_shapes_and_evaluation_input():
    sets = _window_sets()
    item = sets["frames"][5]  # trial B, 50 steps padded to 96
    assert item["x"].shape == (96, 40, 40) and item["y"].shape == (96,) and item["mask"].sum() == 50
    frames = sets["frames"].trials[1]["frames"]
    np.testing.assert_array_equal(item["x"][:50], sample_frames(frames, crop=40, train=False, rng=None))
    assert np.array_equal(sets["emb"][0]["x"], sets["emb"].trials[0]["emb"][:96, 0, 2])  # middle frame, centre view
    assert sets["x"][1]["knowledge"].dtype == np.float32 and sets["x"][1]["x"].shape == (96, 12)
    assert np.array_equal(sets["x"][-1]["y"], sets["x"][5]["y"])
    for bad in (6, -7):
        with pytest.raises(IndexError, match=f"window {bad} of a set of 6"):
            sets["x"][bad]
    from emokd.training.datasets import collate_windows

    with pytest.raises(EmokdError, match="empty"):
        collate_windows([])


def test_training_batches_are_a_plain_loop_over_the_generator():
    """batch(train=True): per window in the order given, sample_frames from one generator, then padding."""
    ws = _window_sets()["frames"]
    items = [5, 2, 0]
    got = ws.batch(items, train=True, rng=np.random.default_rng(9))
    rng, xs = np.random.default_rng(9), []
    for i in items:
        t = ws.trials[0] if i < 5 else ws.trials[1]
        s = [0, 32, 64, 96, 104][i] if i < 5 else 0
        n = min(96, len(t["valence"]) - s)
        x = sample_frames(t["frames"][s:s + n], crop=40, train=True, rng=rng)
        xs.append(np.concatenate([x, np.zeros((96 - n, 40, 40), np.float32)]))
    np.testing.assert_array_equal(got["x"], np.stack(xs))


def test_feature_batches_equal_a_plain_loop_in_training_too():
    """Features (and embeddings at evaluation) are stacked once; a batch is then the same arrays as
    collating the windows one by one, in training as at evaluation, and owns its memory."""
    from emokd.training.datasets import collate_windows

    sets = _window_sets()
    for field, train in (("x", True), ("x", False), ("emb", False)):
        ws = sets[field]
        for items in ([5, 0, 5, 3], [1], list(range(len(ws)))):
            got = ws.batch(items, train=train, rng=np.random.default_rng(1))
            want = collate_windows([ws[i] for i in items])
            assert got.keys() == want.keys()
            for k in want:
                assert got[k].dtype == want[k].dtype and np.array_equal(got[k], want[k]), (field, k)
        got["x"][:] = 7  # a batch is a copy: the next batch is unchanged
        assert not np.array_equal(ws.batch([0])["x"], np.full_like(got["x"][:1], 7))
    with pytest.raises(EmokdError, match="empty"):  # as collating nothing
        sets["x"].batch([])
    # training embeddings are still drawn at random, window after window
    emb = sets["emb"]
    a = emb.batch([0, 1], train=True, rng=np.random.default_rng(3))
    b = emb.batch([0, 1], train=True, rng=np.random.default_rng(4))
    assert not np.array_equal(a["x"], b["x"])


def test_augmented_windows_are_fixed_per_index_and_epoch():
    from torch.utils.data import DataLoader

    from emokd.training.datasets import AugmentedWindows, collate_windows

    ws = _window_sets()["frames"]
    aug = AugmentedWindows(ws, seed=4)
    one = aug[3]["x"]
    assert np.array_equal(aug[3]["x"], one)  # asked again: the same draw
    forward = collate_windows([aug[i] for i in range(len(aug))])["x"]
    backward = np.concatenate([b["x"] for b in DataLoader(aug, batch_size=3, sampler=range(5, -1, -1),
                                                          collate_fn=collate_windows)])
    np.testing.assert_array_equal(backward, forward[::-1])  # order and batching do not matter
    assert not np.array_equal(forward[3], ws[3]["x"])  # a random crop or frame, not the evaluation input
    aug.set_epoch(1)
    assert not np.array_equal(aug[3]["x"], one)  # another epoch, other draws
    assert np.array_equal(AugmentedWindows(ws, seed=4, epoch=1)[3]["x"], aug[3]["x"])
