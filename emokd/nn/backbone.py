"""Loading trained weights into a network: one checked step, and the face backbone's file and card.

Every file of trained weights emokd reads goes through :func:`load_state`: the state dict is checked
against the module it fills (missing and unexpected keys, shapes), and every problem is an EmokdError
naming the file. The readers built on it: :func:`load_backbone` (here) fills a teacher's frame CNN with
pretrained weights; :func:`emokd.training.train.load_model` rebuilds a trained teacher or student from
its file.

The teacher's face CNN (:class:`emokd.nn.models.FrameCNN`) is pretrained once on faces of
people who are in no data set (:mod:`emokd.training.pretraining` explains how and makes the file);
emokd ships the result (``emokd/data/face_backbone.pt`` with ``face_backbone.json``), checked
against its card's SHA-256 and configuration. The paper's IR-50 (:class:`emokd.nn.ir50.IR50Backbone`)
loads a state dict of the published backbone instead (no card).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from ..errors import EmokdError
from .ir50 import IR50Backbone

#: The weights emokd ships (package data).
PACKAGED = "face_backbone.pt"


def card_path(path, *, check: bool = True) -> Path:
    """The JSON card beside a weights file: ``path`` with the suffix ``.json``. A weights file that
    is itself named ``.json`` would be its own card: refused (with ``check``)."""
    path = Path(path)
    card = path.with_suffix(".json")
    if check and card == path:
        raise EmokdError(f"{path}: the card {card.name} written beside the weights would overwrite them; "
                         f"give the weights another suffix, e.g. {path.with_suffix('.pt').name}")
    return card

def backbone_path(weights: str | None = None) -> Path:
    """The weights file: ``weights`` if given, else the packaged one."""
    if weights is not None:
        return Path(weights)
    return Path(str(resources.files("emokd") / "data" / PACKAGED))


def read_card(weights: str | None = None) -> dict:
    """The JSON card of a backbone file (``FILE.json`` beside ``FILE``), checked against the file's SHA-256."""
    path = backbone_path(weights)
    card_path = path.with_suffix(".json")
    try:
        card = json.loads(card_path.read_text())
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise EmokdError(f"{err.filename}: missing (make it with `python -m emokd pretrain-face --out {path}`)") \
            from None
    except json.JSONDecodeError as err:
        raise EmokdError(f"{card_path}: not valid JSON ({err})") from None
    digest = hashlib.sha256(data).hexdigest()
    if card.get("sha256") != digest:
        raise EmokdError(f"{path}: SHA-256 {digest[:12]}... does not match field 'sha256' of {card_path.name} "
                         f"({str(card.get('sha256'))[:12]}...): the weights file is damaged or not this card's")
    return card


def load_state(module, state, path):
    """Fill ``module`` with the state dict ``state`` read from the file ``path``; returns ``module``.

    A bare state dict or ``{"state_dict": ...}``, with or without a ``module.`` prefix (DataParallel);
    missing BatchNorm ``num_batches_tracked`` buffers (older checkpoints) are tolerated. Anything else
    that does not fit -- not a dict of tensors, missing or unexpected keys, other shapes -- is an
    EmokdError naming ``path`` and the offending keys, before the module is touched.
    """
    import torch

    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EmokdError(f"{path}: not a state dict (a dict of tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    expected = module.state_dict()
    problems = {
        "missing keys": [k for k in expected if k not in state and not k.endswith("num_batches_tracked")],
        "unexpected keys": [k for k in state if k not in expected],
        "shape mismatches": [f"{k} {tuple(state[k].shape)} in file vs {tuple(v.shape)} in model"
                             for k, v in expected.items() if k in state and state[k].shape != v.shape],
    }
    found = [f"{len(v)} {name} ({', '.join(v[:5])}{', ...' if len(v) > 5 else ''})"
             for name, v in problems.items() if v]
    if found:
        raise EmokdError(f"{path}: does not fit {type(module).__name__}: {'; '.join(found)}")
    module.load_state_dict(state, strict=False)  # strict checks done above
    return module


def read_weights(path, *, map_location="cpu") -> dict:
    """The dict ``torch.save`` wrote to ``path`` (tensors only: ``weights_only``); an unreadable or missing
    file is an EmokdError naming it."""
    import torch

    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise EmokdError(f"{path}: weights file not found") from None
    except Exception as err:  # unpickling errors of any kind
        raise EmokdError(f"{path}: cannot read a weights file ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise EmokdError(f"{path}: not a weights file (a dict), got {type(obj).__name__}")
    return obj


def load_backbone(cnn, weights: str | None = None, *, head=None):
    """Fill a teacher's frame CNN with pretrained weights; returns ``cnn``.

    ``cnn``: emokd's :class:`~emokd.nn.models.FrameCNN` reads ``weights`` (default: the file emokd ships),
    checked against its card (:func:`read_card`: SHA-256), and the CNN's size must match the card's
    config (``cnn_width``, ``cnn_features``, ``frame_size``; otherwise an EmokdError names the differing
    field); ``head``, a ``Linear(cnn_features, n_targets)``, is filled with the file's pretraining head.
    An :class:`~emokd.nn.ir50.IR50Backbone` reads a state dict of the published backbone (``weights``
    required, no card). Every mismatch of keys or shapes: :func:`load_state`.
    """
    if isinstance(cnn, IR50Backbone):
        if weights is None:
            raise EmokdError("an IR-50 backbone needs weights: a state dict of the published backbone (cnn_weights)")
        if head is not None:
            raise EmokdError(f"{weights}: an IR-50 state dict has no pretraining head to load")
        return load_state(cnn, read_weights(weights), weights)
    card = read_card(weights)
    path = backbone_path(weights)
    c = card["config"]
    for name, have in (("cnn_width", cnn.stages[0].conv1.in_channels), ("cnn_features", cnn.n_features),
                       ("frame_size", cnn.frame_size)):
        if c[name] != have:
            raise EmokdError(f"{path}: pretrained with {name}={c[name]}, the teacher has "
                             f"{name}={have}; set the teacher's {name} to {c[name]} or pretrain another backbone")
    state = read_weights(path)
    load_state(cnn, state["state_dict"], path)
    if head is not None:
        load_state(head, state["head"], path)
    return cnn
