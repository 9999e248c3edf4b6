"""emokd.saliency.attribution (Captum) against emokd's own implementations (tests/saliency/_attribution_reference.py).

Same model, same input, same windowing: the two must agree to float32 rounding.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from emokd.saliency import attribution
from emokd.core.config import ModelConfig
from emokd.training.datasets import window_starts
from emokd.errors import EmokdError
from emokd.nn.models import build_model

sys.path.insert(0, str(Path(__file__).parent))
import _attribution_reference as ref  # noqa: E402

F = 192


@pytest.fixture(scope="module", params=["tcn", "bilstm"])
def student(request):
    torch.manual_seed(0)
    return build_model(ModelConfig(arch=request.param)).eval()


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(7).standard_normal((170, F)).astype(np.float32)  # 3 overlapping windows


def _close(got, want, rtol=1e-4):
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= rtol * scale + 1e-7, np.abs(got - want).max() / scale


@pytest.mark.parametrize("window", [{}, {"window_steps": None}, {"window_steps": 40, "hop_steps": 15}])
def test_trace_equals_the_loop_average(student, x, window):
    xt = torch.from_numpy(x)[None].repeat(2, 1, 1)
    with torch.no_grad():
        got = attribution.model_trace(student, xt, **window)
        want = ref.model_trace(student, xt, **window)
    assert got.shape == (2, 170)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_trace_of_a_trial_shorter_than_a_window(student):
    xt = torch.from_numpy(np.random.default_rng(1).standard_normal((1, 50, F)).astype(np.float32))
    with torch.no_grad():
        np.testing.assert_allclose(attribution.model_trace(student, xt).numpy(), ref.model_trace(student, xt).numpy(),
                                   atol=1e-5)


def test_gradient_and_input_x_gradient(student, x):
    g = attribution.gradient(student, x)
    _close(g, ref.gradient(student, x))
    _close(attribution.input_x_gradient(student, x), ref.gradient(student, x) * x)


def test_grad_x_input_from_the_one_gradient_is_captums_to_the_bit(student, x):
    # attributions() multiplies x by the gradient it already has instead of asking Captum's InputXGradient
    # for a second backward pass: the same float32 product, so the same numbers to the last bit
    got = attribution.attributions(student, x, methods=("gradient", "grad_x_input"))
    want = np.abs(attribution.input_x_gradient(student, x))
    assert got["grad_x_input"].dtype == want.dtype and np.array_equal(got["grad_x_input"], want)
    alone = attribution.attributions(student, x, methods=("grad_x_input",))
    assert np.array_equal(alone["grad_x_input"], want) and set(alone) == {"grad_x_input"}


@pytest.mark.parametrize("n_alphas", [32, 7])
def test_integrated_gradients(student, x, n_alphas):
    _close(attribution.integrated_gradients(student, x, n_alphas=n_alphas), ref.integrated_gradients(student, x,
                                                                                                      n_steps=n_alphas))


def test_integrated_gradients_keeps_few_windows_per_differentiated_pass(x):
    """Its scaled copies go through the model in passes of at most _MAX_GRAD_WINDOWS windows (their
    activations are kept for the backward pass), every (copy, window) once."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="tcn")).eval()
    sizes = []
    hook = model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    try:
        attribution.integrated_gradients(model, x, n_alphas=32)
    finally:
        hook.remove()
    assert len(sizes) > 1 and max(sizes) <= attribution._MAX_GRAD_WINDOWS
    assert sum(sizes) == 32 * len(window_starts(len(x)))  # 32 copies of the trial, each window once


def test_integrated_gradients_old_keyword_still_works(student, x):
    with pytest.warns(DeprecationWarning, match="n_alphas"):
        old = attribution.integrated_gradients(student, x[:60], n_steps=4)
    np.testing.assert_array_equal(old, attribution.integrated_gradients(student, x[:60], n_alphas=4))
    with pytest.raises(EmokdError, match="n_alphas=0"):
        attribution.integrated_gradients(student, x, n_alphas=0)


@pytest.mark.slow
def test_occlusion_features_bands_channels(student, x):
    feats = np.arange(F).reshape(6, 32)
    for groups in (None, list(feats), list(feats.T), [5, [100, 7], np.arange(64, 96)]):
        _close(attribution.occlusion(student, x, groups, max_copies=5), ref.occlusion(student, x, groups))


@pytest.mark.parametrize("window", [{}, {"window_steps": None}, {"window_steps": 40, "hop_steps": 15}])
@pytest.mark.slow
def test_tcn_occlusion_by_the_linear_first_block_equals_occluding_the_input(x, window, monkeypatch):
    """The TCN student's occlusion subtracts each group's first-block contribution instead of running
    the occluded input: the same numbers as the reference, which occludes the input; Captum is not called."""
    torch.manual_seed(0)
    tcn = build_model(ModelConfig(arch="tcn")).eval()

    def no_captum(*a, **k):
        raise AssertionError("Captum called for the TCN student")

    monkeypatch.setattr(attribution, "_captum", no_captum)
    feats = np.arange(F).reshape(6, 32)
    for xx in (x, x[:50]):  # a trial longer than a window, and one shorter
        for groups in (None, list(feats), [5, [100, 7], np.arange(64, 96)]):
            _close(attribution.occlusion(tcn, xx, groups, max_copies=7, **window),
                   ref.occlusion(tcn, xx, groups, **window))
    with pytest.raises(AssertionError, match="Captum called"):  # engine="captum" still asks Captum
        attribution.occlusion(tcn, x, engine="captum")
    with pytest.raises(EmokdError, match="engine"):
        attribution.occlusion(tcn, x, engine="fast")


def test_occlusion_refuses_overlapping_groups(student, x):
    with pytest.raises(EmokdError, match="disjoint"):
        attribution.occlusion(student, x, [[1, 2], [2, 3]])


@pytest.mark.slow
def test_max_abs_differences_are_float_rounding(student, x, capsys):
    """The numbers the report quotes: Captum vs emokd's own, max |difference| / max |value|."""
    pairs = {"gradient": (attribution.gradient(student, x), ref.gradient(student, x)),
             "integrated_gradients": (attribution.integrated_gradients(student, x), ref.integrated_gradients(student, x)),
             "occlusion": (attribution.occlusion(student, x), ref.occlusion(student, x))}
    with capsys.disabled():
        for name, (got, want) in pairs.items():
            print(f"\n{type(student).__name__} {name}: max abs diff {np.abs(got - want).max():.2e} "
                  f"(max abs value {np.abs(want).max():.2e})", end="")
    for got, want in pairs.values():
        _close(got, want)
