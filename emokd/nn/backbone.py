"""Loading the face backbone: the frame CNN's pretrained weights and their checked card.

The teacher's face CNN (:class:`emokd.nn.models.FrameCNN`) is pretrained once on faces of
people who are in no data set (:mod:`emokd.training.pretraining` explains how and makes the file);
emokd ships the result (``emokd/data/face_backbone.pt`` with ``face_backbone.json``).
This module finds a weights file, checks it against its card's SHA-256 and loads it into a CNN.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from ..errors import EmokdError

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


def load_backbone(cnn, weights: str | None = None) -> dict:
    """Load the pretrained weights into ``cnn`` (a :class:`~emokd.nn.models.FrameCNN`); returns the card.

    The CNN's size must match the card's config (``cnn_width``, ``cnn_features``,
    ``frame_size``); otherwise an EmokdError names the differing field.
    """
    import torch

    card = read_card(weights)
    c = card["config"]
    for name, have in (("cnn_width", cnn.stages[0].conv1.in_channels), ("cnn_features", cnn.n_features),
                       ("frame_size", cnn.frame_size)):
        if c[name] != have:
            raise EmokdError(f"{backbone_path(weights)}: pretrained with {name}={c[name]}, the teacher has "
                             f"{name}={have}; set the teacher's {name} to {c[name]} or pretrain another backbone")
    state = torch.load(backbone_path(weights), map_location="cpu", weights_only=True)
    cnn.load_state_dict(state["state_dict"])
    return card
