"""Tests of the networks (emokd.nn.models): one contract, causality, parity with numpy."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from emokd.core.config import ModelConfig
from emokd.errors import EmokdError
from emokd.nn.models import (
    TCN,
    BiLSTMStudent,
    FeatureProjection,
    FrameCNN,
    Student,
    Teacher,
    TemporalBlock,
    build_model,
    freeze,
)
from emokd.nn.backbone import load_backbone, load_state, read_weights
from emokd.nn.ir50 import IR50Backbone

# Small sizes keep the whole file fast; the architecture is the same as the default.
SMALL = {"n_inputs": 10, "tcn_channels": (16, 16), "cnn_width": 8, "cnn_features": 12, "lstm_hidden": 6,
         "frame_size": 40}


def _cfg(arch: str, **overrides) -> ModelConfig:
    return ModelConfig(arch=arch, **{**SMALL, **overrides})


@pytest.fixture(scope="module")
def ir50_teacher():
    """One IR-50 teacher (random weights; 44 M parameters), built once."""
    torch.manual_seed(0)
    return build_model(_cfg("teacher", cnn="ir50"))


# name -> (model factory, input shape, n_features); the ir50 teacher gets 3 frames (it is big)
CASES = {
    "teacher": (lambda ir50: build_model(_cfg("teacher")), (2, 7, 40, 40), 16),
    "teacher_ir50": (lambda ir50: ir50, (1, 3, 40, 40), 16),
    "tcn": (lambda ir50: build_model(_cfg("tcn")), (2, 20, 10), 16),
    "bilstm": (lambda ir50: build_model(_cfg("bilstm")), (2, 20, 10), 12),
}


def _model_and_input(name, ir50_teacher):
    make, shape, n_features = CASES[name]
    torch.manual_seed(1)
    return make(ir50_teacher), torch.randn(shape), n_features


# --------------------------------------------------------------------------- #
# the model contract


@pytest.mark.parametrize("name", list(CASES))
def test_contract(name, ir50_teacher):
    model, x, n_features = _model_and_input(name, ir50_teacher)
    model.train()
    pred, feats = model(x)
    b, t = x.shape[:2]
    assert pred.shape == (b, t, 1) and feats.shape == (b, t, n_features)
    assert pred.dtype == feats.dtype == torch.float32
    assert model.n_features == n_features
    assert isinstance(model.final_layer, nn.Linear) and model.final_layer.out_features == 1


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "teacher_ir50" else n
                                  for n in CASES])
def test_gradients_reach_every_parameter(name, ir50_teacher):
    model, x, _ = _model_and_input(name, ir50_teacher)
    model.train()
    model.zero_grad(set_to_none=True)
    pred, feats = model(x)
    (pred.sum() + feats.sum()).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname
    model.zero_grad(set_to_none=True)  # the ir50 teacher is shared


def test_wrong_input_shape_raises():
    with pytest.raises(EmokdError, match=r"\(2, 5, 9\)"):
        build_model(_cfg("tcn"))(torch.zeros(2, 5, 9))
    with pytest.raises(EmokdError, match="40"):
        build_model(_cfg("teacher"))(torch.zeros(2, 5, 32, 32))


def test_build_model_dispatch_and_defaults():
    assert type(build_model(ModelConfig(arch="teacher"))) is Teacher
    student = build_model(ModelConfig())
    assert type(student) is Student and student.n_features == 128  # the paper's TCN
    assert type(build_model(ModelConfig(arch="bilstm", lstm_hidden=5))) is BiLSTMStudent
    assert build_model(ModelConfig(arch="bilstm", lstm_hidden=5)).n_features == 10
    with pytest.raises(EmokdError, match="ir50"):
        build_model(ModelConfig(arch="teacher", cnn="small", cnn_weights="w.pt"))


def test_ir50_without_weights_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="emokd.nn.models"):
        build_model(_cfg("teacher", cnn="ir50"))
    assert any("pretrained" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- #
# a frozen teacher, a student trained against its features


def test_frozen_teacher_gets_no_gradients():
    torch.manual_seed(0)
    teacher = freeze(build_model(_cfg("teacher")))
    student = build_model(_cfg("tcn"))
    assert not teacher.training and not any(m.training for m in teacher.modules())
    frames, eeg = torch.randn(2, 6, 40, 40), torch.randn(2, 6, 10)
    _, t_feats = teacher(frames)
    assert not t_feats.requires_grad
    pred, s_feats = student(eeg)
    (pred.sum() + (s_feats - t_feats).abs().mean()).backward()
    for p in teacher.parameters():
        assert p.grad is None and not p.requires_grad
    assert all(p.grad is not None for p in student.parameters())


# --------------------------------------------------------------------------- #
# causality and receptive field


@pytest.mark.parametrize("name, cut", [("tcn", 11), ("teacher", 4)])
def test_causal(name, cut):
    _, shape, _ = CASES[name]
    torch.manual_seed(2)
    model = build_model(_cfg(name)).eval()
    x = torch.randn(shape)
    x2 = x.clone()
    x2[:, cut:] = torch.randn_like(x2[:, cut:])  # new inputs from step `cut` on
    with torch.no_grad():
        (p1, f1), (p2, f2) = model(x), model(x2)
    torch.testing.assert_close(p1[:, :cut], p2[:, :cut], rtol=0, atol=1e-6)
    torch.testing.assert_close(f1[:, :cut], f2[:, :cut], rtol=0, atol=1e-6)
    assert not torch.allclose(p1[:, cut:], p2[:, cut:])  # the perturbation does reach later steps


def test_bilstm_is_not_causal():
    torch.manual_seed(2)
    model = build_model(_cfg("bilstm")).eval()
    x = torch.randn(2, 20, 10)
    x2 = x.clone()
    x2[:, 11:] = torch.randn_like(x2[:, 11:])
    with torch.no_grad():
        p1, p2 = model(x)[0], model(x2)[0]
    assert not torch.allclose(p1[:, :11], p2[:, :11])  # the backward LSTM sees the future


def test_receptive_field_is_13_steps():
    torch.manual_seed(3)
    tcn = TCN(3, channels=(4, 4), kernel_size=3).eval()
    assert tcn.receptive_field == 1 + 2 * (3 - 1) * (1 + 2) == 13
    x = torch.randn(1, 30, 3, requires_grad=True)
    t = 20
    (grad,) = torch.autograd.grad(tcn(x)[0, t].sum(), x)
    depends = grad[0].abs().sum(dim=1) > 0  # (T,)
    assert depends.nonzero().flatten().tolist() == list(range(t - 12, t + 1))


# --------------------------------------------------------------------------- #
# parity of the TCN with a straightforward numpy implementation


def _np_causal_conv(x, w, b, dilation):
    """x (C_in, T), w (C_out, C_in, K), b (C_out,) -> (C_out, T); zeros before step 0."""
    k = w.shape[2]
    y = np.tile(b[:, None], (1, x.shape[1])).astype(np.float64)
    for t in range(x.shape[1]):
        for j in range(k):
            src = t - (k - 1 - j) * dilation
            if src >= 0:
                y[:, t] += w[:, :, j] @ x[:, src]
    return y


def _np_weight(conv):
    """Effective weight of a weight-normed Conv1d: g * v / ||v|| (norm over all but dim 0)."""
    g = conv.parametrizations.weight.original0.detach().double().numpy()
    v = conv.parametrizations.weight.original1.detach().double().numpy()
    return g * v / np.sqrt((v**2).sum(axis=(1, 2), keepdims=True))


def _np_prelu(h, act):
    return np.where(h > 0, h, act.weight.item() * h)


def _np_tcn(tcn, x):
    """The TCN in eval mode, written out in numpy. x (T, C_in) -> (T, C)."""
    h = x.T.astype(np.float64)
    for level, block in enumerate(tcn.blocks):
        d = 2**level
        c1, c2 = block.conv1.conv, block.conv2.conv
        a = _np_prelu(_np_causal_conv(h, _np_weight(c1), c1.bias.detach().double().numpy(), d), block.act1)
        a = _np_prelu(_np_causal_conv(a, _np_weight(c2), c2.bias.detach().double().numpy(), d), block.act2)
        res = h
        if block.downsample is not None:
            w = block.downsample.weight.detach().double().numpy()[:, :, 0]
            res = w @ h + block.downsample.bias.detach().double().numpy()[:, None]
        h = _np_prelu(a + res, block.act)
    return h.T


def test_first_causal_conv_matches_numpy_loop():
    torch.manual_seed(4)
    tcn = TCN(3, channels=(5, 5), kernel_size=3)
    conv = tcn.blocks[0].conv1
    torch.testing.assert_close(conv.conv.weight.detach().double(), torch.from_numpy(_np_weight(conv.conv)))
    x = torch.randn(1, 3, 9)
    expected = _np_causal_conv(x[0].double().numpy(), _np_weight(conv.conv), conv.conv.bias.detach().double().numpy(), 1)
    np.testing.assert_allclose(conv(x)[0].detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_tcn_matches_numpy_implementation():
    torch.manual_seed(5)
    tcn = TCN(3, channels=(5, 4), kernel_size=3, dropout=0.3).eval()  # both levels resize: 1x1 convs
    with torch.no_grad():
        for block in tcn.blocks:  # PReLU slopes away from the default, to be sure they are used
            for act in (block.act1, block.act2, block.act):
                act.weight.uniform_(0.05, 0.5)
    x = torch.randn(1, 16, 3)
    with torch.no_grad():
        out = tcn(x)[0].numpy()
    np.testing.assert_allclose(out, _np_tcn(tcn, x[0].numpy()), rtol=1e-5, atol=1e-6)


def test_weight_norm_on_every_tcn_conv():
    tcn = build_model(_cfg("tcn")).tcn
    for block in tcn.blocks:
        for conv in (block.conv1.conv, block.conv2.conv):
            assert parametrize.is_parametrized(conv, "weight")
            names = {n for n, _ in conv.named_parameters()}
            assert names == {"bias", "parametrizations.weight.original0", "parametrizations.weight.original1"}


# --------------------------------------------------------------------------- #
# reproducibility, small parts


@pytest.mark.parametrize("name", ["teacher", "tcn", "bilstm"])
def test_same_seed_same_model(name):
    _, shape, _ = CASES[name]
    models, outputs = [], []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        models.append(build_model(_cfg(name)).eval())
    x = torch.randn(shape)
    with torch.no_grad():
        outputs = [m(x)[0] for m in models]
    sd0, sd1 = models[0].state_dict(), models[1].state_dict()
    assert all(torch.equal(sd0[k], sd1[k]) for k in sd0)
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])


def test_feature_projection_and_frame_cnn_shapes():
    proj = FeatureProjection(6, 16)
    x = torch.randn(2, 5, 6)
    y = proj(x)
    assert y.shape == (2, 5, 16) and proj.n_in == 6 and proj.n_out == 16
    torch.testing.assert_close(y[1, 3], proj.linear(x[1, 3]))  # the same map at every step
    assert FrameCNN(40, width=8, n_features=12)(torch.randn(3, 1, 40, 40)).shape == (3, 12)


def test_freeze_returns_the_model():
    model = build_model(_cfg("tcn"))
    assert freeze(model) is model and not model.training


# --------------------------------------------------------------------------- #
# backbone weights


@pytest.mark.slow
def test_backbone_weights_round_trip(ir50_teacher, tmp_path):
    path = tmp_path / "ir50.pt"
    torch.save(ir50_teacher.cnn.state_dict(), path)
    x = torch.randn(2, 3, 112, 112)
    fresh = load_backbone(IR50Backbone(), str(path)).eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), ir50_teacher.cnn.eval()(x), rtol=0, atol=0)
    loaded = build_model(_cfg("teacher", cnn="ir50", cnn_weights=str(path)))
    assert torch.equal(loaded.cnn.body[5].res_layer[1].weight, ir50_teacher.cnn.body[5].res_layer[1].weight)


def test_backbone_weights_errors_name_the_file(tmp_path):
    model = FrameCNN(40, width=4, n_features=5)
    state = model.state_dict()
    bad_key = tmp_path / "bad_key.pt"
    torch.save({**state, "head.weight": torch.zeros(3)}, bad_key)
    with pytest.raises(EmokdError, match=r"bad_key\.pt.*unexpected keys \(head\.weight\)"):
        load_state(model, read_weights(bad_key), bad_key)
    bad_shape = tmp_path / "bad_shape.pt"
    torch.save({**state, "fc.weight": torch.zeros(5, 3)}, bad_shape)
    with pytest.raises(EmokdError, match=r"bad_shape\.pt.*fc\.weight \(5, 3\) in file vs \(5, 16\)"):
        load_state(model, read_weights(bad_shape), bad_shape)
    small = tmp_path / "small.pt"
    torch.save({"input_layer.0.weight": torch.zeros(64, 1, 3, 3)}, small)
    with pytest.raises(EmokdError, match=r"small\.pt.*missing keys.*input_layer\.0\.weight"):
        load_backbone(IR50Backbone(), str(small))
    with pytest.raises(EmokdError, match="nowhere.pt"):
        read_weights(tmp_path / "nowhere.pt")
    # a DataParallel checkpoint wrapped in {"state_dict": ...} loads
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    assert load_state(FrameCNN(40, width=4, n_features=5), read_weights(wrapped), wrapped) is not None


@pytest.mark.parametrize("n_in", [6, 8])  # with a 1x1 residual convolution, and with the identity residual
def test_linear_parts_of_a_group_is_what_zeroing_it_removes(n_in):
    torch.manual_seed(3)
    block = TemporalBlock(n_in, 8, 3, 2, 0.1).eval()
    x = torch.randn(2, n_in, 20)
    idx = [1, 4, 5]
    zeroed = x.clone()
    zeroed[:, idx] = 0.0
    with torch.no_grad():
        full, without = block.linear_parts(x), block.linear_parts(zeroed)
        part = block.linear_parts_of(x[:, idx], idx)
        for a, b, p in zip(full, without, part):
            torch.testing.assert_close(a - b, p, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(block.from_linear_parts(*full), block(x))  # forward is the two halves


def test_student_from_first_linear_parts_is_its_forward():
    torch.manual_seed(4)
    student = build_model(ModelConfig(arch="tcn", n_inputs=6, tcn_channels=(8, 8))).eval()
    x = torch.randn(3, 20, 6)
    with torch.no_grad():
        want = student(x)
        got = student.from_first_linear_parts(*student.tcn.blocks[0].linear_parts(x.transpose(1, 2)))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
