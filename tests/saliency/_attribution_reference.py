"""emokd's own attribution methods, before Captum: the independent reference of tests/saliency/test_attribution.py.

Written from the formulas (Simonyan et al. 2014; Shrikumar et al. 2016; Sundararajan et al.
2017, Riemann midpoints; Zeiler & Fergus 2014), with their own windowed trace whose overlap
average is a plain loop (not emokd.training.datasets.overlap_average).
"""

import numpy as np
import torch

from emokd.training.datasets import window_starts


def model_trace(model, x: torch.Tensor, *, window_steps: int | None = 96, hop_steps: int = 32,
                max_windows: int = 256) -> torch.Tensor:
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
    out = out.reshape(b, len(starts), window_steps)  # (B, n_win, W)
    total = x.new_zeros(b, max(n, window_steps))
    count = x.new_zeros(max(n, window_steps))
    for j, s in enumerate(starts):
        total[:, s:s + window_steps] += out[:, j]
        count[s:s + window_steps] += 1
    return (total / count)[:, :n]  # (B, T)


def as_tensor(x, device) -> torch.Tensor:
    x = np.asarray(x, np.float32)
    assert x.ndim == 2, x.shape
    return torch.from_numpy(x).to(device)


def _copies_per_pass(n_steps: int, window: dict) -> int:
    """Copies of a trial per forward pass so that a pass holds about 256 windows (memory)."""
    w = window.get("window_steps", 96) or n_steps  # model_trace's default, or one full-length pass
    return max(1, 256 // len(window_starts(n_steps, w, window.get("hop_steps", 32))))


def gradient(model, x, *, device="cpu", **window) -> np.ndarray:
    """d sum_t pred_t / dx, signed; x (T, F) -> (T, F) float64.

    ``window``: ``window_steps``, ``hop_steps`` of :func:`model_trace`. Only the
    input's gradient is computed (``torch.autograd.grad``; nothing is accumulated
    in the model's parameters).
    """
    xt = as_tensor(x, device)[None].requires_grad_(True)  # (1, T, F)
    (g,) = torch.autograd.grad(model_trace(model, xt, **window).sum(), xt)
    return g[0].double().cpu().numpy()


def integrated_gradients(model, x, *, n_steps: int = 32, device="cpu", **window) -> np.ndarray:
    """Integrated gradients from baseline 0, signed; x (T, F) -> (T, F) float64.

    ``x * mean_k grad f(alpha_k x)`` with ``alpha_k = (k + 0.5) / n_steps``: the
    scaled copies go through the model in batches (they do not interact in eval mode).
    """
    xt = as_tensor(x, device)
    alphas = (torch.arange(n_steps, dtype=torch.float32, device=device) + 0.5) / n_steps
    per = _copies_per_pass(len(xt), window)
    total = torch.zeros(xt.shape, dtype=torch.float64, device=device)
    for lo in range(0, n_steps, per):
        scaled = (alphas[lo:lo + per, None, None] * xt[None]).requires_grad_(True)  # (copies, T, F)
        (g,) = torch.autograd.grad(model_trace(model, scaled, **window).sum(), scaled)
        total += g.double().sum(dim=0)
    return (xt.double() * total / n_steps).cpu().numpy()


@torch.no_grad()
def occlusion(model, x, groups=None, *, device="cpu", max_copies: int | None = None, **window) -> np.ndarray:
    """|pred - pred with a group of features set to 0 over the whole trial|, per step.

    Parameters
    ----------
    x : ndarray, shape (n_steps, n_features), z-scored
    groups : list of index arrays, optional; default one group per feature
    max_copies : int, optional, occluded copies per forward pass (default: ~256 windows)

    Returns
    -------
    delta : ndarray, shape (n_steps, n_groups), float64
    """
    xt = as_tensor(x, device)
    groups = [np.atleast_1d(g) for g in (groups if groups is not None else range(xt.shape[1]))]
    copies = xt[None].repeat(len(groups) + 1, 1, 1)  # (1 + n_groups, T, F); copy 0 intact
    for i, g in enumerate(groups):
        copies[i + 1][:, torch.as_tensor(g, dtype=torch.long)] = 0.0
    per = max_copies or _copies_per_pass(len(xt), window)
    pred = torch.cat([model_trace(model, copies[i:i + per], **window) for i in range(0, len(copies), per)])
    return (pred[1:] - pred[:1]).abs().T.double().cpu().numpy()  # (n_groups, T) -> (T, n_groups)
