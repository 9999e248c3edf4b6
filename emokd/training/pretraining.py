"""Pretraining the face backbone once on faces of people who are in no data set (loading it: :mod:`emokd.nn.backbone`).

Zhang et al. (2022) do not train their face network inside each fold: their
teacher's ResNet50-IR is pretrained on a facial-expression data set, loaded and
frozen, and only the temporal part (TCN + head) learns per fold. emokd does the
same with its small frame CNN (:class:`emokd.nn.models.FrameCNN`):

1. **Identities nobody else has.** A synthetic subject's face is drawn by
   :func:`emokd.synth.faces.make_identity` from ``numpy.random.default_rng(face_seed)``;
   every data set of :mod:`emokd.synth.synthetic` draws ``face_seed`` below
   :data:`RESERVED_FACE_SEED` (2**31). The pretraining identities use the seeds
   ``RESERVED_FACE_SEED + i``, a reserved space no data set reaches, so the
   backbone has seen none of the subjects of any preset and seed
   (``tests/nn/test_backbone.py`` checks it from the generator).
2. **What a facial-expression data set would label.** Each pretraining identity
   "watches" a few clips: valence traces with the statistics of the real ones
   (:func:`emokd.synth.synthetic.valence_trace`), rendered with blinks. Every frame is
   labelled with what the renderer knows (:func:`emokd.synth.faces.frame_targets`): the
   valence it follows, the expression drawn on the face (valence through the
   identity's bias and expressivity: what an annotator would rate) and eye
   closure. The CNN is trained on all three (mean squared error of standardised
   targets) with the teacher's augmentation (random 40 px crop of 48, flip).
3. **A small, checked file.** :func:`pretrain_face_backbone` returns the CNN's
   state dict, its config, the held-out identities' frame-level CCC and the
   SHA-256 of the weights; ``python -m emokd pretrain-face --out FILE`` writes it.
   emokd ships the result (``emokd/data/face_backbone.pt``, about 106 kB, with
   ``face_backbone.json``): pretraining takes minutes on 2 CPU cores (CHANGELOG.md
   has the measurement), which would blow a cold Colab chapter's budget, while the
   file is small and anyone can rebuild it with the command above.
"""


from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..synth import faces
from ..nn.backbone import card_path, load_backbone, read_card
from ..core.config import synth_config
from ..core.constants import FRAME_MEAN, FRAME_STD
from ..errors import EmokdError
from ..core.fileio import write_bytes, write_json
from ..core.metrics import ccc
from ..nn.models import FrameCNN
from ..synth.synthetic import LABEL_RATE_HZ, valence_trace

log = logging.getLogger(__name__)

#: Data sets draw face seeds in [0, RESERVED_FACE_SEED); pretraining uses seeds from here on.
RESERVED_FACE_SEED = 2**31
#: What the backbone is pretrained to read off a frame (:func:`emokd.synth.faces.frame_targets`).
TARGETS: tuple[str, ...] = ("valence", "expression", "eye_closure")


@dataclass(frozen=True)
class FacePretrainConfig:
    """The recipe of the pretrained face backbone.

    ``n_identities`` training identities and ``n_heldout`` held-out ones (for the
    reported CCC), each with ``clips_per_identity`` clips of ``clip_s`` seconds,
    rendered at ``frames_per_step`` frames per 4 Hz step. The CNN is the teacher's
    :class:`~emokd.nn.models.FrameCNN` (``cnn_width``, ``cnn_features``, input
    ``frame_size``); Adam (``lr``, ``weight_decay``), cosine decay over ``epochs``,
    ``batch_size`` frames.
    """

    n_identities: int = 96
    n_heldout: int = 24
    clips_per_identity: int = 3
    clip_s: float = 30.0
    frames_per_step: int = 1
    frame_size: int = 40
    cnn_width: int = 8
    cnn_features: int = 64
    epochs: int = 6
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    blink_rate_hz: float = 0.25
    seed: int = 0

    def __post_init__(self):
        for name in ("n_identities", "n_heldout", "clips_per_identity", "frames_per_step", "epochs", "batch_size",
                     "cnn_width", "cnn_features"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise EmokdError(f"{name}={getattr(self, name)!r}: need an integer >= 1")
        for name in ("clip_s", "lr"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise EmokdError(f"{name}={v!r}: need a finite number > 0")
        if not (np.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise EmokdError(f"weight_decay={self.weight_decay!r}: need a finite number >= 0")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise EmokdError(f"seed={self.seed!r}: need an integer >= 0")
        if not 8 <= self.frame_size <= 48:
            raise EmokdError(f"frame_size={self.frame_size!r}: need 8..48 (the frames are 48 px)")


def identity_seed(i: int) -> int:
    """Face seed of pretraining identity ``i`` (0-based): ``RESERVED_FACE_SEED + i``."""
    if i < 0:
        raise EmokdError(f"pretraining identity {i!r}: need >= 0")
    return RESERVED_FACE_SEED + int(i)


def render_identities(first: int, n: int, cfg: FacePretrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames and targets of pretraining identities ``first .. first + n - 1``.

    Returns
    -------
    frames : ndarray, uint8, shape (n_frames, 48, 48)
    targets : ndarray, float32, shape (n_frames, 3), columns :data:`TARGETS`
    identity : ndarray, int64, shape (n_frames,), the identity index of each frame
    """

    synth = synth_config("book")
    valence_sd = float(np.hypot(synth.valence_between_sd, synth.valence_within_sd))
    n_steps = int(round(cfg.clip_s * LABEL_RATE_HZ))
    frames, targets, ids = [], [], []
    for i in range(first, first + n):
        seed = identity_seed(i)
        identity = faces.make_identity(np.random.default_rng(seed))
        rng = np.random.default_rng([seed, cfg.seed])
        for _ in range(cfg.clips_per_identity):
            mean = synth.valence_mean + synth.valence_between_sd * rng.standard_normal()
            e = synth.face_gain * valence_trace(rng, n_steps, mean, synth) / valence_sd
            dur = n_steps / LABEL_RATE_HZ
            blinks = np.sort(rng.uniform(0, dur, rng.poisson(cfg.blink_rate_hz * dur)))
            frames.append(faces.render_faces(e, identity=identity, frames_per_step=cfg.frames_per_step, rng=rng,
                                             blink_times_s=blinks))
            tg = faces.frame_targets(e, identity=identity, frames_per_step=cfg.frames_per_step, blink_times_s=blinks)
            targets.append(np.stack([tg[name] for name in TARGETS], axis=1).astype(np.float32))
            ids.append(np.full(len(frames[-1]), i))
    return np.concatenate(frames), np.concatenate(targets), np.concatenate(ids)


def _crops(frames: np.ndarray, size: int, *, train: bool, rng) -> np.ndarray:
    """(n, 48, 48) uint8 -> (n, 1, size, size) float32, normalised as the teacher's input.

    Training: a random crop and a random flip per frame; otherwise the centre crop.
    """
    n, h, w = frames.shape
    if train:
        oy, ox = rng.integers(0, h - size + 1, n), rng.integers(0, w - size + 1, n)
        flip = rng.random(n) < 0.5
    else:
        oy, ox, flip = np.full(n, (h - size) // 2), np.full(n, (w - size) // 2), np.zeros(n, bool)
    rows = oy[:, None] + np.arange(size)
    cols = ox[:, None] + np.arange(size)
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    x = frames[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return ((x.astype(np.float32) / 255.0 - FRAME_MEAN) / FRAME_STD)[:, None]


def pretrain_face_backbone(cfg: FacePretrainConfig = FacePretrainConfig(), *, device: str = "cpu",
                           progress: bool = False) -> dict:
    """Pretrain the frame CNN on the reserved identities; returns the result dict.

    Returns ``{"state_dict": CNN state dict, "head": the target head's state dict,
    "config": cfg as a dict, "target_mean", "target_sd", "heldout": {target:
    frame-level CCC on the held-out identities (centre crop)}, "seconds"}``.
    """
    import torch


    t0 = time.perf_counter()
    frames, targets, _ = render_identities(0, cfg.n_identities, cfg)
    h_frames, h_targets, _ = render_identities(cfg.n_identities, cfg.n_heldout, cfg)
    mean, sd = targets.mean(axis=0), targets.std(axis=0) + 1e-6
    z = ((targets - mean) / sd).astype(np.float32)
    log.info("pretraining on %d frames of %d identities (%.0f s to render)", len(frames), cfg.n_identities,
             time.perf_counter() - t0)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 7])
    cnn = FrameCNN(cfg.frame_size, cfg.cnn_width, cfg.cnn_features).to(device)
    head = torch.nn.Linear(cfg.cnn_features, len(TARGETS)).to(device)
    params = list(cnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = -(-len(frames) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * n_batches)
    epochs = range(cfg.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="pretrain-face")
    for epoch in epochs:
        cnn.train()
        order = rng.permutation(len(frames))
        total = 0.0
        for lo in range(0, len(order), cfg.batch_size):
            idx = order[lo:lo + cfg.batch_size]
            x = torch.from_numpy(_crops(frames[idx], cfg.frame_size, train=True, rng=rng)).to(device)
            y = torch.from_numpy(z[idx]).to(device)
            loss = torch.nn.functional.mse_loss(head(cnn(x)), y)  # (B, 3) vs (B, 3)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        log.info("pretrain-face epoch %d: loss %.4f", epoch + 1, total / len(frames))
    pred = _predict_targets(cnn, head, h_frames, cfg, device) * sd + mean
    heldout = {name: round(float(ccc(h_targets[:, j], pred[:, j])), 4) for j, name in enumerate(TARGETS)}
    return {"state_dict": {k: v.cpu() for k, v in cnn.state_dict().items()},
            "head": {k: v.cpu() for k, v in head.state_dict().items()},
            "config": dataclasses.asdict(cfg), "target_mean": mean.tolist(), "target_sd": sd.tolist(),
            "heldout": heldout, "n_frames": int(len(frames)), "n_heldout_frames": int(len(h_frames)),
            "seconds": round(time.perf_counter() - t0, 1)}


def _predict_targets(cnn, head, frames: np.ndarray, cfg: FacePretrainConfig, device, batch: int = 512) -> np.ndarray:
    import torch

    cnn.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(frames), batch):
            x = torch.from_numpy(_crops(frames[lo:lo + batch], cfg.frame_size, train=False, rng=None)).to(device)
            out.append(head(cnn(x)).cpu().numpy())
    return np.concatenate(out)

def save_backbone(result: dict, path) -> dict:
    """Write the weights to ``path`` and a JSON card beside it (:func:`card_path`: ``path`` with ``.json``).

    Both are written under temporary names and renamed. Returns the card: the
    config, the held-out CCC, the training time and ``sha256`` of the weights file.
    """
    import torch

    path = Path(path)
    card_file = card_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"state_dict": result["state_dict"], "head": result["head"]}, buf)
    data = buf.getvalue()
    card = {"format": "emokd-face-backbone/1", "weights": path.name, "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data), **{k: result[k] for k in ("config", "heldout", "target_mean", "target_sd",
                                                          "n_frames", "n_heldout_frames", "seconds")},
            "targets": list(TARGETS), "reserved_face_seed": RESERVED_FACE_SEED,
            "command": "python -m emokd pretrain-face --out " + path.name}
    write_bytes(path, data)
    write_json(card_file, card)
    return card

def face_readout(frames: np.ndarray, weights: str | None = None, *, device: str = "cpu") -> dict[str, np.ndarray]:
    """What the pretrained backbone itself reads off face frames, through its pretraining head.

    Parameters
    ----------
    frames : ndarray, uint8, shape (n_frames, 48, 48)
    weights : path, optional, a backbone file (default: the one emokd ships)

    Returns
    -------
    readout : dict, ``{target: ndarray (n_frames,)}`` for every name of :data:`TARGETS`, in the
        targets' units (valence in SD units, expression, eye closure 0-1); centre crop.
    """
    import torch

    card = read_card(weights)
    c = FacePretrainConfig(**card["config"])
    head = torch.nn.Linear(c.cnn_features, len(TARGETS))
    cnn = load_backbone(FrameCNN(c.frame_size, c.cnn_width, c.cnn_features), weights, head=head)
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise EmokdError(f"frames of shape {frames.shape} and dtype {frames.dtype}: expected uint8 (n_frames, 48, 48)")
    z = _predict_targets(cnn.to(device), head.to(device), frames, c, device)
    pred = z * np.asarray(card["target_sd"]) + np.asarray(card["target_mean"])
    return {name: pred[:, j].astype(np.float32) for j, name in enumerate(TARGETS)}
