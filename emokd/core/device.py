"""The device a run computes on, resolved once: ``"auto"`` picks CUDA, then Apple MPS, else the CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import EmokdError

if TYPE_CHECKING:
    import torch


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, then Apple MPS, else CPU; otherwise as given."""
    import torch  # here, not at the top: the command line and the fold records resolve a device without
    # importing torch up front

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise EmokdError(f"device={device!r}: {err}") from None
