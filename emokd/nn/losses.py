"""Training objectives (torch): the CCC loss and the feature-distillation terms.

* :func:`ccc_loss` -- ``1 - CCC`` per sequence, averaged over the batch (the
  paper's loss). Padded steps are masked out. Computed with centred moments and a
  float32-safe epsilon (the released code added 1e-50, which is 0 in float32).
* :func:`feature_distance` -- L1 (the paper), MSE or cosine distance between the
  teacher's and the student's feature sequences, over valid steps.
* :func:`labelled_ccc_loss` -- the CCC loss over the sequences whose labels may be read;
* :func:`kd_objective` -- ``loss = ccc_loss + kd_weight * feature_distance`` (or, for output
  distillation and self-training, ``kd_weight * ccc_loss`` against a predicted trace)
  (Zhang et al. 2022, Eq. 5 with w = 1), returned with its named terms so that each
  can be logged (a torchdistill habit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.config import MAX_KD_WEIGHT
from ..errors import EmokdError

EPS = 1e-8  # representable in float32, unlike the released code's 1e-50


def _mask(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if mask is None:
        return torch.ones_like(like)
    return mask.to(like.dtype)


def batch_ccc(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """CCC of each sequence.

    Parameters
    ----------
    pred, target : Tensor, shape (batch, n_steps) (a trailing 1 is squeezed)
    mask : Tensor, shape (batch, n_steps), optional
        1 for real steps, 0 for padding.

    Returns
    -------
    ccc : Tensor, shape (batch,)
    """
    if pred.dim() == 3:
        pred = pred.squeeze(-1)
    if pred.shape != target.shape:
        raise EmokdError(f"pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    m = _mask(mask, target)
    n = m.sum(dim=1).clamp_min(1.0)
    mp = (pred * m).sum(1) / n
    mt = (target * m).sum(1) / n
    dp = (pred - mp[:, None]) * m
    dt = (target - mt[:, None]) * m
    cov = (dp * dt).sum(1) / n
    vp = (dp * dp).sum(1) / n
    vt = (dt * dt).sum(1) / n
    return 2.0 * cov / (vp + vt + (mp - mt) ** 2 + EPS)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``1 - CCC``, averaged over the sequences of a batch (a scalar)."""
    return 1.0 - batch_ccc(pred, target, mask).mean()


def feature_distance(teacher: torch.Tensor, student: torch.Tensor, mask: torch.Tensor | None = None,
                     kind: str = "l1") -> torch.Tensor:
    """Distance between feature sequences, averaged over valid steps (a scalar).

    Parameters
    ----------
    teacher, student : Tensor, shape (batch, n_steps, n_features)
    mask : Tensor, shape (batch, n_steps), optional
    kind : {"l1", "mse", "cosine"}
        ``l1``: mean absolute difference per feature (the paper; ``nn.L1Loss``);
        ``mse``: mean squared difference; ``cosine``: ``1 - cos`` per step.
    """
    if teacher.shape != student.shape:
        raise EmokdError(f"teacher features {tuple(teacher.shape)} != student features {tuple(student.shape)}")
    m = _mask(mask, teacher[..., 0])  # (B, T)
    if kind == "l1":
        per_step = (teacher - student).abs().mean(-1)
    elif kind == "mse":
        per_step = ((teacher - student) ** 2).mean(-1)
    elif kind == "cosine":
        per_step = 1.0 - F.cosine_similarity(teacher, student, dim=-1, eps=EPS)
    else:
        raise EmokdError(f"feature loss {kind!r}: choose 'l1', 'mse' or 'cosine'")
    return (per_step * m).sum() / m.sum().clamp_min(1.0)


def labelled_ccc_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None,
                      labelled: torch.Tensor) -> torch.Tensor:
    """``1 - CCC`` averaged over the *labelled* sequences of a batch (a scalar).

    ``labelled``: (batch,), 1 for a sequence whose label may be read, 0 for one whose label is
    withheld (its ``target`` is ignored). A batch without a labelled sequence gives 0, still attached
    to the graph (its gradient is 0). The mean is over labelled sequences, not the batch, so the label
    term keeps the scale it has with every label.
    """
    per = 1.0 - batch_ccc(pred, target, mask)  # (B,)
    w = labelled.to(per.dtype)
    return (per * w).sum() / w.sum().clamp_min(1.0)


def kd_objective(pred, target, student_features, teacher_features=None, mask=None, *,
                 kd_weight: float = 1.0, feature_loss: str = "l1", labelled=None,
                 teacher_output=None) -> tuple[torch.Tensor, dict[str, float]]:
    """The student's objective: ``(1 - CCC) + kd_weight * D(teacher, student)``.

    Without teacher features (or with ``kd_weight`` 0) it is the plain CCC loss.
    ``kd_weight``: 0 to :data:`~emokd.core.config.MAX_KD_WEIGHT` (NaN, negative and larger weights are
    refused). ``feature_loss``: the distance D, a ``kind`` of :func:`feature_distance`.

    ``labelled`` (batch,), optional: the label term over the labelled sequences only
    (:func:`labelled_ccc_loss`); the teacher's term acts on every sequence. ``teacher_output``
    (batch, n_steps), optional, instead of ``teacher_features``: *output* distillation, the term
    ``1 - CCC(student's prediction, teacher's prediction)`` per sequence. Regression has no softmax,
    so no temperature: the term is the task's own loss against the teacher's trace, bounded (0 to 2)
    and free of the valence's units, so a weight of 1 puts it on the label term's scale; what a
    temperature tunes (how much of the teacher's detail the student is asked to copy) is left to the
    weight. The same term with the student's own predictions is self-training.

    Returns
    -------
    total : Tensor (scalar, differentiable)
    terms : dict
        ``{"ccc_loss": float, "kd_loss": float, "total": float}`` for logging.
    """
    # NaN fails both comparisons; a negative weight would reward moving away from the teacher
    if isinstance(kd_weight, bool) or not 0 <= kd_weight <= MAX_KD_WEIGHT:
        raise EmokdError(f"kd_weight={kd_weight!r}: need a number 0 <= weight <= {MAX_KD_WEIGHT:g}")
    if teacher_features is not None and teacher_output is not None:
        raise EmokdError("give the teacher's features or its output, not both")
    task = ccc_loss(pred, target, mask) if labelled is None else labelled_ccc_loss(pred, target, mask, labelled)
    if kd_weight == 0 or (teacher_features is None and teacher_output is None):
        kd = torch.zeros((), dtype=task.dtype)
    elif teacher_output is not None:
        kd = ccc_loss(pred, teacher_output, mask)
    else:
        kd = feature_distance(teacher_features, student_features, mask, feature_loss)
    total = task + kd_weight * kd
    return total, {"ccc_loss": float(task.detach()), "kd_loss": float(kd.detach()), "total": float(total.detach())}
