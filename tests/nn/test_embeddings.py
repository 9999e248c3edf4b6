"""The embedding cache of a frozen backbone: equal to the backbone on the frames, reused, rebuilt."""

import dataclasses
import os
import shutil

import numpy as np
import pytest
import torch

from emokd.training.pretraining import FacePretrainConfig, pretrain_face_backbone, save_backbone
from emokd.core.config import ModelConfig, experiment_config
from emokd.training.datasets import WindowSet, sample_embeddings
from emokd.nn.embeddings import cached_embeddings, load_embeddings
from emokd.errors import EmokdError
from emokd.nn.models import build_model, freeze
from emokd.io.prepare import load_prepared
from emokd.training.train import extract_knowledge, predict

TEACHER = ModelConfig(arch="teacher", backbone="frozen", cnn_width=8)


@pytest.fixture
def prepared_copy(smoke_prepared, tmp_path):
    dst = tmp_path / "prepared"
    shutil.copytree(smoke_prepared[0], dst)
    return dst


@pytest.mark.slow
def test_cached_embedding_teacher_equals_the_backbone_on_frames(smoke_prepared):
    prepared = smoke_prepared[0]
    emb = load_embeddings(cached_embeddings(prepared, TEACHER))
    torch.manual_seed(0)
    teacher = freeze(build_model(TEACHER))
    trials = load_prepared(prepared)
    for t in trials:
        t["emb"] = emb[t["key"]]
        n, k = t["frames"].shape[:2]
        assert t["emb"].shape == (n, 2, k, 64)
    on_frames = WindowSet(trials, "frames", window_steps=96, hop_steps=32)
    on_emb = WindowSet(trials, "emb", window_steps=96, hop_steps=32)
    p_frames, p_emb = predict(teacher, on_frames), predict(teacher, on_emb)
    for key in p_frames:
        np.testing.assert_allclose(p_emb[key], p_frames[key], rtol=0, atol=1e-5)
    k_frames, k_emb = extract_knowledge(teacher, on_frames), extract_knowledge(teacher, on_emb)
    for key in k_frames:
        np.testing.assert_allclose(k_emb[key], k_frames[key], rtol=0, atol=1e-5)


def test_flipped_view_is_the_backbone_on_mirrored_frames(smoke_prepared):
    from emokd.nn.embeddings import embed_trial

    teacher = freeze(build_model(TEACHER))
    (t,) = load_prepared(smoke_prepared[0], keys=[load_prepared(smoke_prepared[0], frames=False)[0]["key"]])
    frames = t["frames"][:10]
    emb = embed_trial(teacher, frames, views=("centre", "flip"))
    mirrored = embed_trial(teacher, np.ascontiguousarray(frames[..., ::-1]), views=("centre",))
    np.testing.assert_allclose(emb[:, 1], mirrored[:, 0], atol=1e-5)


@pytest.mark.slow
def test_cache_reused_when_nothing_changed_rebuilt_when_data_or_backbone_change(prepared_copy, tmp_path):
    first = cached_embeddings(prepared_copy, TEACHER)
    stamp = first.stat().st_mtime_ns
    assert cached_embeddings(prepared_copy, TEACHER) == first and first.stat().st_mtime_ns == stamp
    # another backbone (a different file, so a different SHA-256): another cache
    cfg = FacePretrainConfig(n_identities=1, n_heldout=1, clips_per_identity=1, clip_s=5.0, epochs=1)
    other = tmp_path / "other.pt"
    save_backbone(pretrain_face_backbone(cfg), other)
    second = cached_embeddings(prepared_copy, dataclasses.replace(TEACHER, cnn_weights=str(other)))
    assert second != first
    # a changed trial (re-prepared with other frames): another cache, with that trial's new embeddings
    (t,) = load_prepared(prepared_copy, keys=[load_prepared(prepared_copy, frames=False)[0]["key"]])
    path = prepared_copy / f"{t['key']}.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["frames"] = 255 - arrays["frames"]
    np.savez(path, **arrays)
    third = cached_embeddings(prepared_copy, TEACHER)
    assert third not in (first, second)
    old, new = load_embeddings(first), load_embeddings(third)
    assert not np.allclose(old[t["key"]], new[t["key"]])
    unchanged = [k for k in old if k != t["key"]]
    assert all(np.array_equal(old[k], new[k]) for k in unchanged)


def test_sample_embeddings_eval_middle_frame_train_some_frame():
    emb = np.arange(5 * 2 * 3 * 1, dtype=np.float32).reshape(5, 2, 3, 1)
    np.testing.assert_array_equal(sample_embeddings(emb, augment="frame+flip", train=False, rng=None),
                                  emb[:, 0, 1])
    np.testing.assert_array_equal(sample_embeddings(emb, augment="none", train=True, rng=None), emb[:, 0, 1])
    rng = np.random.default_rng(0)
    views = set()
    for _ in range(20):
        x = sample_embeddings(emb, augment="frame+flip", train=True, rng=rng)[:, 0]
        view = {int(v // 3 % 2) for v in x}
        assert len(view) == 1  # one flip for the whole sequence
        views |= view
        assert all(v in emb[i].ravel() for i, v in enumerate(x))
    assert views == {0, 1}
    with pytest.raises(EmokdError, match="flip"):
        sample_embeddings(emb[:, :1], augment="frame+flip", train=True, rng=rng)


@pytest.mark.slow
def test_trials_embedded_side_by_side_give_the_same_file(smoke_prepared, prepared_copy):
    """``n_jobs=2`` (one trial a joblib worker, each with the folds' one thread) writes the arrays of the
    kernel's own loop bit for bit, in the manifest's order, and names the file the same."""
    one = cached_embeddings(smoke_prepared[0], TEACHER)
    shutil.rmtree(prepared_copy / "embeddings", ignore_errors=True)  # copied from a fixture another test cached
    two = cached_embeddings(prepared_copy, TEACHER, n_jobs=2)
    assert two.parent == prepared_copy / "embeddings"
    assert one.name == two.name
    a, b = load_embeddings(one), load_embeddings(two)
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(b[key], a[key])


def test_prepared_without_frames_is_refused(smoke_dir, tmp_path):
    from emokd.io.prepare import prepare_dataset

    raw = tmp_path / "raw"
    shutil.copytree(smoke_dir, raw)
    for p in raw.glob("Sessions/*/face_frames.npz"):
        os.remove(p)
    prepare_dataset(raw, raw / "prepared", progress=False)
    with pytest.raises(EmokdError, match="no face frames"):
        cached_embeddings(raw / "prepared", TEACHER)
    with pytest.raises(EmokdError, match="no face frames"):  # raised in a worker, the same line in the caller
        cached_embeddings(raw / "prepared", TEACHER, n_jobs=2)


@pytest.mark.slow
def test_end_to_end_teacher_option_still_runs(smoke_prepared, tmp_path):
    from emokd.evaluation.experiment import run_experiment

    cfg = experiment_config("smoke", "loso", 0, backbone="train")
    fast = dataclasses.replace(cfg.student_train, max_epochs=1)
    cfg = dataclasses.replace(cfg, teacher_train=fast, student_train=fast)
    assert cfg.teacher.backbone == "train" and cfg.teacher.cnn_width == 8
    res = run_experiment(smoke_prepared[0], cfg, tmp_path / "run", progress=False)
    assert res["config"]["teacher"]["backbone"] == "train"
    assert np.isfinite(res["summary"]["teacher"]["ccc"]["mean"])


@pytest.mark.slow
def test_a_truncated_or_foreign_cache_file_is_computed_again(prepared_copy):
    first = cached_embeddings(prepared_copy, TEACHER)
    good = load_embeddings(first)
    whole = first.read_bytes()
    first.write_bytes(whole[: len(whole) // 2])  # truncated (a copy cut short)
    assert cached_embeddings(prepared_copy, TEACHER) == first
    assert all(np.array_equal(a, good[k]) for k, a in load_embeddings(first).items())
    np.savez(first, other=np.zeros(3))  # a foreign npz under the cache's name
    assert cached_embeddings(prepared_copy, TEACHER) == first and sorted(load_embeddings(first)) == sorted(good)
    # read directly, either is one line naming the file
    first.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(EmokdError, match=rf"{first.name}: cannot read the embedding cache .*delete it"):
        load_embeddings(first)
    np.savez(first, other=np.zeros(3))
    with pytest.raises(EmokdError, match=rf"{first.name}: arrays other \(3,\) are not float32 \(n_steps, n_views, "
                                         r"k, E\) embeddings"):
        load_embeddings(first)
