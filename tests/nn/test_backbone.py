"""The pretrained face backbone: reserved identities, its targets, its file, the frozen teacher."""

import json

import numpy as np
import pytest
import torch

from emokd.synth import faces
from emokd.training.pretraining import (
    RESERVED_FACE_SEED,
    FacePretrainConfig,
    identity_seed,
    pretrain_face_backbone,
    render_identities,
    save_backbone,
)
from emokd.nn.backbone import card_path, load_backbone, read_card
from emokd.core.config import PRESETS, ModelConfig, synth_config
from emokd.errors import EmokdError
from emokd.nn.models import FrameCNN, build_model
from emokd.synth.synthetic import plan


def test_pretraining_identities_are_in_no_preset_or_seed():
    """Every data set's faces come from face seeds below the reserved space, and none of the
    pretraining identities (the recipe's training and held-out ones) equals any data set's face."""
    cfg = FacePretrainConfig()
    pretrain = {faces.make_identity(np.random.default_rng(identity_seed(i)))
                for i in range(cfg.n_identities + cfg.n_heldout)}
    assert len(pretrain) == cfg.n_identities + cfg.n_heldout  # all distinct
    n_checked = 0
    for preset in PRESETS:
        for seed in range(5):
            for subject in plan(synth_config(preset), seed=seed)["subjects"].values():
                assert 0 <= subject["face_seed"] < RESERVED_FACE_SEED
                assert faces.make_identity(np.random.default_rng(subject["face_seed"])) not in pretrain
                n_checked += 1
    assert n_checked == 5 * (3 + 8 + 24)


def test_frame_targets_follow_the_renderer():
    identity = faces.make_identity(np.random.default_rng(3))
    e = np.linspace(-2, 2, 20)
    tg = faces.frame_targets(e, identity=identity, frames_per_step=4, blink_times_s=[1.0])
    assert tg["valence"].shape == (80,)
    assert tg["valence"][::4] == pytest.approx(e)  # frame 4k is at step k
    assert tg["valence"][2] == pytest.approx((e[0] + e[1]) / 2)  # halfway between steps 0 and 1
    s = 1.25 * np.tanh((identity.baseline_offset + identity.expressivity * tg["valence"]) / 1.25)
    assert tg["expression"] == pytest.approx(s)
    assert tg["eye_closure"][16] == 1.0 and tg["eye_closure"][0] == 0.0  # 1.0 s is frame 16 at 16 fps


def test_render_identities_shapes_and_determinism():
    cfg = FacePretrainConfig(clips_per_identity=1, clip_s=5.0, frames_per_step=2)
    f1, t1, i1 = render_identities(2, 2, cfg)
    f2, t2, _ = render_identities(2, 2, cfg)
    assert f1.shape == (2 * 20 * 2, 48, 48) and f1.dtype == np.uint8 and t1.shape == (80, 3)
    assert set(i1) == {2, 3}
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(t1, t2)


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    cfg = FacePretrainConfig(n_identities=2, n_heldout=1, clips_per_identity=1, clip_s=10.0, epochs=1,
                             cnn_width=4, cnn_features=8)
    path = tmp_path_factory.mktemp("backbone") / "tiny.pt"
    return path, save_backbone(pretrain_face_backbone(cfg), path)


def test_backbone_file_and_card(tiny_backbone):
    path, card = tiny_backbone
    assert read_card(str(path)) == json.loads(path.with_suffix(".json").read_text()) == card
    assert set(card["heldout"]) == {"valence", "expression", "eye_closure"}
    cnn, head = FrameCNN(40, 4, 8), torch.nn.Linear(8, 3)
    assert load_backbone(cnn, str(path), head=head) is cnn
    saved = torch.load(path, weights_only=True)
    assert all(torch.equal(v, saved["state_dict"][k]) for k, v in cnn.state_dict().items())
    assert all(torch.equal(v, saved["head"][k]) for k, v in head.state_dict().items())
    with pytest.raises(EmokdError, match="cnn_width=4"):
        load_backbone(FrameCNN(40, 16, 8), str(path))


def test_damaged_backbone_is_refused(tiny_backbone, tmp_path):
    path, _ = tiny_backbone
    bad = tmp_path / "tiny.pt"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    bad.with_suffix(".json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(EmokdError, match="SHA-256"):
        read_card(str(bad))


def test_weights_named_like_their_card_are_refused_before_anything_is_written(tmp_path):
    """``--out w.json``: the card (``w.json``) was written over the weights, which were lost."""
    assert card_path(tmp_path / "w.pt") == tmp_path / "w.json"
    with pytest.raises(EmokdError, match="the card w.json written beside the weights would overwrite them"):
        save_backbone({}, tmp_path / "sub" / "w.json")
    assert not (tmp_path / "sub").exists()


def test_a_negative_pretraining_seed_is_named():
    """``--seed -5`` ended in numpy's traceback inside the rendering."""
    with pytest.raises(EmokdError, match=r"seed=-5: need an integer >= 0"):
        FacePretrainConfig(seed=-5)


def test_packaged_backbone_loads_and_is_frozen():
    card = read_card()
    assert card["config"]["n_identities"] >= 64 and card["heldout"]["valence"] > 0.5
    teacher = build_model(ModelConfig(arch="teacher", backbone="frozen", cnn_width=8))
    assert not any(p.requires_grad for p in teacher.cnn.parameters())
    assert all(p.requires_grad for p in teacher.tcn.parameters())
    teacher.train()
    assert teacher.tcn.training and not any(m.training for m in teacher.cnn.modules())


@pytest.mark.slow
def test_frozen_backbone_does_not_move_in_training():
    from emokd.core.config import TrainConfig
    from emokd.training.datasets import WindowSet
    from emokd.training.train import fit

    rng = np.random.default_rng(0)
    trials = [{"key": f"t{i}", "valence": rng.normal(0, 0.1, 40).astype(np.float32),
               "frames": rng.integers(0, 255, (40, 2, 48, 48), dtype=np.uint8)} for i in range(3)]
    teacher = build_model(ModelConfig(arch="teacher", backbone="frozen", cnn_width=8))
    before = {k: v.clone() for k, v in teacher.cnn.state_dict().items()}
    tcn_before = teacher.tcn.blocks[0].conv1.conv.parametrizations.weight.original1.clone()
    cfg = TrainConfig(lr=1e-2, batch_size=2, max_epochs=2, window_steps=16, hop_steps=8)
    fit(teacher, WindowSet(trials[:2], "frames", window_steps=16, hop_steps=8),
        WindowSet(trials[2:], "frames", window_steps=16, hop_steps=8), cfg, seed=0)
    for k, v in teacher.cnn.state_dict().items():  # weights and batch-norm statistics
        assert torch.equal(v, before[k]), k
    assert not torch.equal(teacher.tcn.blocks[0].conv1.conv.parametrizations.weight.original1, tcn_before)


def test_pretrain_face_help(capsys):
    from emokd.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["pretrain-face", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "--out" in out and "2**31" in out  # names the reserved identity space
