"""Attribution of a student's valence trace to its band-power inputs, with Captum.

The student maps z-scored band power ``x`` (n_steps, n_features), flattened
band-major (feature ``32 * b + c`` is band ``b`` of channel ``c``; see
:func:`emokd.training.datasets.student_inputs`), to a valence trace. For one trial and the
scalar ``f(x) = sum_t pred_t``, four attributions, each (n_steps, n_features):

* ``gradient`` -- ``|df/dx|`` (Simonyan et al. 2014; ``captum.attr.Saliency``);
* ``grad_x_input`` -- ``|x * df/dx|`` (Shrikumar et al. 2016; ``InputXGradient``);
* ``integrated_gradients`` -- ``|x * mean_k df/dx(alpha_k x)|``, baseline 0 (the
  training mean after z-scoring), ``alpha_k = (k + 0.5) / 32``, k = 0..31 (the Riemann
  midpoint rule; Sundararajan et al. 2017; ``IntegratedGradients``, ``riemann_middle``);
  signed, the attributions sum to ``f(x) - f(0)``;
* ``occlusion`` -- model-agnostic: feature j set to the baseline 0 over the whole
  trial; row t is ``|pred_t - pred_t(x with j occluded)|`` (Zeiler & Fergus 2014;
  ``FeatureAblation``). Band-level (all channels of a band) and channel-level (all
  bands of a channel) occlusion, by a feature mask, are kept as a check. For the
  TCN student emokd computes it without Captum, the same numbers at about 60 % of
  the operations: the first block is linear in the input, so it is computed once
  and each occluded group's contribution subtracted (:func:`_occlusion_tcn`).

Rows of the gradient methods are input steps, rows of occlusion output steps.
emokd's own implementations of the four, which Captum replaced, are kept in the
tests as the independent reference (``tests/saliency/test_attribution.py``).

**Windowing.** The student is evaluated as :func:`emokd.training.train.predict` evaluates
it: windows of 96 steps every 32 (plus one aligned to the end), outputs averaged
where windows overlap by the same :func:`emokd.training.datasets.overlap_average`. A
full-length pass differs: the causal TCN sees zeros before each window's start, so
the first 12 steps of every later window differ (for a 2-epoch smoke student by up to
0.29, about 1.5 SD of its prediction), and the BiLSTM student is not causal at all.
So ``f`` here is the scored prediction exactly (checked against the run's
``predictions.npz``); ``window_steps=None`` gives one full-length pass instead.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import torch

from ..core.constants import EEG_CHANNELS
from ..training.datasets import overlap_average, window_starts
from ..errors import EmokdError
from ..nn.models import Student

METHODS: tuple[str, ...] = ("gradient", "grad_x_input", "integrated_gradients", "occlusion")
#: the methods that differentiate the model: one backward pass per trial (gradient, grad_x_input) or per
#: interpolation point (integrated gradients); occlusion needs a forward pass per occluded feature or group
#: instead (192 + 6 + 32 per trial: benchmarks/bench_saliency_methods.py measures what each costs)
GRADIENT_METHODS: tuple[str, ...] = METHODS[:3]
N_ALPHAS = 32  # integrated gradients: interpolation points between the baseline and x
N_CHANS = len(EEG_CHANNELS)
_MAX_WINDOWS = 256  # windows per forward pass (memory)
# windows per pass that is differentiated: its activations are kept for the backward pass. IG on the
# four test trials of a book fold: 0.5 GB more memory at 256 windows, 0.17 GB at 64, in the same time
_MAX_GRAD_WINDOWS = 64


# ----------------------------------------------------------- the model as f(x)


@functools.lru_cache(maxsize=8)  # one per trial length: IG and occlusion call it for every batch
def _overlap_matrix(starts: tuple[int, ...], window_steps: int, n_steps: int) -> torch.Tensor:
    """:func:`~emokd.training.datasets.overlap_average` as a matrix M, (n_steps, n_windows * window_steps).

    ``M @ outputs.reshape(-1)`` is the overlap average of the window outputs: the rule is
    predict's own, applied to unit windows, so the differentiable trace averages as predict does.
    """
    unit = np.eye(len(starts) * window_steps).reshape(len(starts), window_steps, -1)
    return torch.from_numpy(overlap_average(unit, starts, n_steps))


def model_trace(model, x: torch.Tensor, *, window_steps: int | None = 96, hop_steps: int = 32,
                max_windows: int = _MAX_WINDOWS) -> torch.Tensor:
    """The model's valence trace, differentiable: x (B, T, F) -> (B, T).

    With ``window_steps``: windows as :func:`emokd.training.train.predict` (zero-padded when
    T < window_steps), overlapping outputs averaged; None: one full-length pass.
    At most ``max_windows`` windows per forward pass (memory).
    """
    b, n, f = x.shape
    if window_steps is None:
        return model(x)[0][..., 0]
    starts = window_starts(n, window_steps, hop_steps)
    if n < window_steps:
        x = torch.nn.functional.pad(x, (0, 0, 0, window_steps - n))  # (B, W, F), zeros after the end
    w = torch.stack([x[:, s:s + window_steps] for s in starts], dim=1)  # (B, n_win, W, F)
    w = w.reshape(b * len(starts), window_steps, f)  # (B * n_win, W, F)
    out = torch.cat([model(w[i:i + max_windows])[0][..., 0] for i in range(0, len(w), max_windows)])
    out = out.reshape(b, len(starts) * window_steps)  # (B, n_win * W)
    return out @ _overlap_matrix(tuple(starts), window_steps, n).to(out).T  # (B, n_win * W) @ (n_win * W, T) -> (B, T)


def as_tensor(x, device) -> torch.Tensor:
    """A trial's inputs (n_steps, n_features) as a float32 tensor on ``device``."""
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise EmokdError(f"x must be (n_steps, n_features), got shape {x.shape}")
    return torch.from_numpy(x).to(device)


def _copies_per_pass(n_steps: int, window: dict, max_windows: int = _MAX_WINDOWS) -> int:
    """Copies of a trial per forward pass so that a pass holds about ``max_windows`` windows (memory)."""
    w = window.get("window_steps", 96) or n_steps  # model_trace's default, or one full-length pass
    return max(1, max_windows // len(window_starts(n_steps, w, window.get("hop_steps", 32))))


def _summed(model, window: dict):
    """f(x) = sum_t pred_t per example: (copies, T, F) -> (copies,), Captum's forward function."""
    return lambda x: model_trace(model, x, **window).sum(dim=1)


def _captum(cls, forward):
    from captum import attr

    return getattr(attr, cls)(forward)


def _numpy(a: torch.Tensor) -> np.ndarray:
    """Captum's attribution of the one trial, (1, T, F) -> (T, F) float64."""
    return a.detach()[0].double().cpu().numpy()


def gradient(model, x, *, device="cpu", **window) -> np.ndarray:
    """d sum_t pred_t / dx, signed; x (T, F) -> (T, F) float64 (``captum.attr.Saliency``).

    ``window``: ``window_steps``, ``hop_steps`` of :func:`model_trace`. Only the
    input's gradient is computed (nothing is accumulated in the model's parameters).
    """
    xt = as_tensor(x, device)[None].requires_grad_(True)  # (1, T, F)
    return _numpy(_captum("Saliency", _summed(model, window)).attribute(xt, abs=False))


def input_x_gradient(model, x, *, device="cpu", **window) -> np.ndarray:
    """x * d sum_t pred_t / dx, signed; x (T, F) -> (T, F) float64 (``captum.attr.InputXGradient``)."""
    xt = as_tensor(x, device)[None].requires_grad_(True)  # (1, T, F)
    return _numpy(_captum("InputXGradient", _summed(model, window)).attribute(xt))


def integrated_gradients(model, x, *, n_alphas: int = N_ALPHAS, device="cpu", n_steps: int | None = None,
                         **window) -> np.ndarray:
    """Integrated gradients from baseline 0, signed; x (T, F) -> (T, F) float64.

    ``x * mean_k grad f(alpha_k x)`` with ``alpha_k = (k + 0.5) / n_alphas``
    (``captum.attr.IntegratedGradients``, ``method="riemann_middle"``): the scaled copies go
    through the model in batches (they do not interact in eval mode). ``n_steps`` is the
    former name of ``n_alphas`` (deprecated: next to a trial's ``n_steps`` it misled).
    """
    if n_steps is not None:
        warnings.warn("integrated_gradients(n_steps=...) is now n_alphas=...", DeprecationWarning, stacklevel=2)
        n_alphas = n_steps
    if not isinstance(n_alphas, int) or n_alphas < 1:
        raise EmokdError(f"n_alphas={n_alphas!r}: need an integer >= 1")
    xt = as_tensor(x, device)[None].requires_grad_(True)  # (1, T, F)
    ig = _captum("IntegratedGradients", _summed(model, window))
    a = ig.attribute(xt, baselines=0.0, n_steps=n_alphas, method="riemann_middle",
                     internal_batch_size=_copies_per_pass(xt.shape[1], window, _MAX_GRAD_WINDOWS))
    return _numpy(a)


@torch.no_grad()
def occlusion(model, x, groups=None, *, device="cpu", max_copies: int | None = None, engine: str = "auto",
              **window) -> np.ndarray:
    """|pred - pred with a group of features set to 0 over the whole trial|, per step.

    ``captum.attr.FeatureAblation`` with one feature-mask id per group. Captum scores one
    output per example, and occlusion has one per step: the trial's steps are Captum's
    examples (forward (copies * T, F) -> (copies * T,)), so the group is set to 0 on every
    step at once, as here it must be.

    Parameters
    ----------
    x : ndarray, shape (n_steps, n_features), z-scored
    groups : list of index arrays, optional; default one group per feature (disjoint)
    max_copies : int, optional, occluded copies per forward pass (default: ~256 windows)
    engine : ``"auto"`` (the TCN student's linear first block, :func:`_occlusion_tcn`, where it
        applies; else Captum) or ``"captum"`` (always Captum's ``FeatureAblation``)

    Returns
    -------
    delta : ndarray, shape (n_steps, n_groups), float64
    """
    if engine not in ("auto", "captum"):
        raise EmokdError(f"engine={engine!r}: choose 'auto' or 'captum'")
    xt = as_tensor(x, device)  # (T, F): T "examples" for Captum
    n, f = xt.shape
    groups = [np.atleast_1d(g) for g in (groups if groups is not None else range(f))]
    mask = torch.full((1, f), -1, dtype=torch.long, device=xt.device)
    for i, g in enumerate(groups):
        idx = torch.as_tensor(g, dtype=torch.long)
        if (mask[0, idx] >= 0).any():
            raise EmokdError(f"occlusion: group {i} shares features with an earlier group; groups must be disjoint")
        mask[0, idx] = i
    if engine == "auto" and _first_block_linear(model):  # the TCN student: 40 % fewer operations, same numbers
        return _occlusion_tcn(model, xt, groups, max_copies=max_copies, **window).abs().double().cpu().numpy()
    first = [int(np.min(g)) for g in groups]  # each group's attribution stands at all its features
    mask[mask < 0] = len(groups)  # features in no group (if any): one more group, never reported

    def forward(rows):  # (copies * T, F) -> (copies * T,)
        return model_trace(model, rows.reshape(-1, n, f), **window).reshape(-1)

    fa = _captum("FeatureAblation", forward)
    per = max_copies or _copies_per_pass(n, window)
    a = fa.attribute(xt, baselines=0.0, feature_mask=mask, perturbations_per_eval=per)  # (T, F)
    return a.detach()[:, first].abs().double().cpu().numpy()  # (T, n_groups)


def _first_block_linear(model) -> bool:
    """Whether ``model`` is the TCN student, whose first block is linear in its input up to
    :meth:`emokd.nn.models.Student.from_first_linear_parts`."""
    return isinstance(model, Student)


def _occlusion_tcn(model, xt: torch.Tensor, groups, *, window_steps: int | None = 96, hop_steps: int = 32,
                   max_copies: int | None = None) -> torch.Tensor:
    """Occlusion of a TCN student, signed: pred - pred with group g set to 0; xt (T, F) -> (T, n_groups).

    The first block's convolution and residual path are linear in the input, so for each group
    they are computed once for the intact windows, minus what the group's features contributed
    (:meth:`emokd.nn.models.TemporalBlock.linear_parts_of`, at |g| / F of the cost); only the rest of
    the network runs once per group. Windowing as :func:`model_trace`. Equal to occluding the
    input and running the model (:func:`model_trace`) up to float32 rounding.
    """
    n, f = xt.shape
    block = model.tcn.blocks[0]
    if window_steps is None:  # one full-length pass
        starts, wins = None, xt.T[None]  # (1, F, T)
    else:
        starts = window_starts(n, window_steps, hop_steps)
        x = xt if n >= window_steps else torch.nn.functional.pad(xt, (0, 0, 0, window_steps - n))
        wins = torch.stack([x[s:s + window_steps] for s in starts]).transpose(1, 2)  # (n_win, F, W)
    pre, res = block.linear_parts(wins)  # (n_win, C, W) each

    def trace(p, r):  # (k * n_win, C, W) each -> (k, T)
        out = model.from_first_linear_parts(p, r)[0][..., 0]  # (k * n_win, W)
        out = out.reshape(-1, len(wins) * out.shape[-1])  # (k, n_win * W)
        return out if starts is None else out @ _overlap_matrix(tuple(starts), window_steps, n).to(out).T

    base = trace(pre, res)  # (1, T)
    per = max_copies or max(1, _MAX_WINDOWS // len(wins))
    idx = [torch.as_tensor(g, dtype=torch.long) for g in groups]
    deltas = []
    for lo in range(0, len(idx), per):
        parts = [block.linear_parts_of(wins[:, g], g) for g in idx[lo:lo + per]]
        occluded = trace(torch.cat([pre - dp for dp, _ in parts]), torch.cat([res - dr for _, dr in parts]))
        deltas.append(base - occluded)  # (k, T)
    return torch.cat(deltas).T  # (T, n_groups)


def attributions(model, x, *, methods=METHODS, device="cpu", **window) -> dict[str, np.ndarray]:
    """Absolute per-step attributions of one trial: method -> (n_steps, n_features) float64.

    ``x`` (n_steps, n_features) z-scored, band-major; ``window`` as :func:`model_trace`.
    Also ``occlusion_band`` (n_steps, n_bands) and ``occlusion_channel`` (n_steps, 32)
    when ``occlusion`` is asked for. Puts ``model`` in eval mode (no dropout).
    """
    check_methods(methods)
    model.eval()
    x = np.asarray(x, np.float32)
    out = {}
    if "gradient" in methods or "grad_x_input" in methods:
        g = gradient(model, x, device=device, **window)
        out["gradient"] = np.abs(g)
        if "grad_x_input" in methods:
            # Captum's InputXGradient is this product of the same float32 gradient with x (one backward pass
            # for both methods; tests/saliency/test_attribution.py compares it with input_x_gradient)
            out["grad_x_input"] = np.abs(x * g.astype(np.float32)).astype(np.float64)
    if "integrated_gradients" in methods:
        out["integrated_gradients"] = np.abs(integrated_gradients(model, x, device=device, **window))
    if "occlusion" in methods:
        feats = np.arange(x.shape[1]).reshape(n_bands(x.shape[1]), N_CHANS)  # band-major
        out["occlusion"] = occlusion(model, x, device=device, **window)
        out["occlusion_band"] = occlusion(model, x, list(feats), device=device, **window)
        out["occlusion_channel"] = occlusion(model, x, list(feats.T), device=device, **window)
    return {k: v for k, v in out.items() if k in methods or k.startswith("occlusion")}


def check_methods(methods) -> None:
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise EmokdError(f"methods {list(methods)!r}: choose from {', '.join(METHODS)}")


def n_bands(n_features: int) -> int:
    """Bands in a band-major feature vector of ``n_features`` (n_bands x 32 channels)."""
    if n_features % N_CHANS or n_features == 0:
        raise EmokdError(f"{n_features} features are not n_bands x {N_CHANS} channels")
    return n_features // N_CHANS
