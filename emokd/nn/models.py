"""The networks: a visual teacher, EEG students and their parts, under one contract.

Every model maps a sequence to a valence trace plus the feature sequence that is
distilled (Zhang, Tang & Guan, Pattern Recognition 130:108833, 2022)::

    pred, features = model(x)  # (batch, n_steps, 1), (batch, n_steps, n_features)

:class:`Teacher`: a frame CNN embeds each face frame, a :class:`TCN` runs over the
embeddings, ``final_layer`` (linear, no activation) reads valence. :class:`Student`:
the same TCN on EEG band power; :class:`BiLSTMStudent`: a bidirectional LSTM (not
causal). The TCN output (128-d by default) is the paper's "knowledge". No I/O in
``__init__``: :func:`build_model` builds from a :class:`~emokd.core.config.ModelConfig`
and loads backbone weights when given.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..core.config import ModelConfig
from ..errors import EmokdError
from .ir50 import IR50_INPUT_SIZE, IR50Backbone
from .backbone import load_backbone

__all__ = [
    "TCN", "BiLSTMStudent", "FeatureProjection", "FrameCNN", "IR50Backbone", "Student", "Teacher",
    "build_model", "freeze",
]  # fmt: skip

log = logging.getLogger(__name__)


def _check_input(x: torch.Tensor, ndim: int, what: str, **sizes: int) -> None:
    """Raise EmokdError unless ``x`` has ``ndim`` dims and the given trailing sizes."""
    shape = tuple(x.shape)
    tail = tuple(sizes.values())
    if x.dim() != ndim or (tail and shape[ndim - len(tail):] != tail):
        raise EmokdError(f"input of shape {shape}: expected {what}")


# --- TCN (Bai, Kolter & Koltun 2018, with PReLU as in the paper) ---


class _CausalConv1d(nn.Module):
    """Weight-normed dilated Conv1d, padded on the left only: step t sees t-(k-1)d .. t."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int, dilation: int):
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation
        self.conv = weight_norm(nn.Conv1d(n_in, n_out, kernel_size, dilation=dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, T) -> pad to (B, C_in, left_pad + T) -> (B, C_out, T)
        return self.conv(F.pad(x, (self.left_pad, 0)))


class TemporalBlock(nn.Module):
    """Two causal dilated convolutions with PReLU and dropout, plus a residual path.

    ``out = PReLU(drop(PReLU(conv2(drop(PReLU(conv1(x)))))) + res(x))`` where ``res``
    is the identity, or a 1x1 convolution when ``n_in != n_out``.
    """

    def __init__(self, n_in: int, n_out: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.conv1 = _CausalConv1d(n_in, n_out, kernel_size, dilation)
        self.act1, self.drop1 = nn.PReLU(), nn.Dropout(dropout)
        self.conv2 = _CausalConv1d(n_out, n_out, kernel_size, dilation)
        self.act2, self.drop2 = nn.PReLU(), nn.Dropout(dropout)
        self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None
        if self.downsample is not None:
            # Bai et al. draw N(0, 0.01) for every conv, but their weight-normed convs
            # recompute the weight from (g, v) at each forward, so only this one is
            # affected (locuslab/TCN issue #1); we keep that effective behaviour.
            nn.init.normal_(self.downsample.weight, 0.0, 0.01)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_linear_parts(*self.linear_parts(x))

    def linear_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The block's two paths that are linear in its input: ``conv1(x)`` and the residual
        ``res(x)``, each (B, C_out, T). The rest of the block is :meth:`from_linear_parts`."""
        return self.conv1(x), (x if self.downsample is None else self.downsample(x))

    def linear_parts_of(self, x_g: torch.Tensor, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """What input channels ``idx`` add to :meth:`linear_parts` (biases excluded): x_g (B, len(idx), T),
        their values -> two (B, C_out, T). ``linear_parts(x)`` minus this is ``linear_parts`` of x with
        those channels set to 0, at ``len(idx) / C_in`` of the cost."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        conv = self.conv1.conv
        pre = F.conv1d(F.pad(x_g, (self.conv1.left_pad, 0)), conv.weight[:, idx], dilation=conv.dilation)
        if self.downsample is None:
            res = x_g.new_zeros(x_g.shape[0], conv.out_channels, x_g.shape[-1])
            res[:, idx] = x_g
        else:
            res = F.conv1d(x_g, self.downsample.weight[:, idx])
        return pre, res

    def from_linear_parts(self, pre: torch.Tensor, res: torch.Tensor) -> torch.Tensor:
        """The block's output from its :meth:`linear_parts`: (B, C_out, T) each -> (B, C_out, T)."""
        h = self.drop1(self.act1(pre))  # (B, C_out, T)
        h = self.drop2(self.act2(self.conv2(h)))  # (B, C_out, T)
        return self.act(h + res)  # (B, C_out, T)


class TCN(nn.Module):
    """Causal temporal convolutional network over (batch, n_steps, n_inputs).

    Level i is a :class:`TemporalBlock` with dilation ``2**i``; the output at step
    t depends only on inputs at steps <= t, over a receptive field of
    ``1 + 2 * (kernel_size - 1) * (2**n_levels - 1)`` steps (13 for the defaults).

    Parameters
    ----------
    n_inputs : int
        Features per input step.
    channels : tuple of int
        Output channels of each level; ``n_features = channels[-1]``.
    kernel_size : int
        Temporal kernel of every convolution.
    dropout : float
        Dropout after each convolution's activation.
    """

    def __init__(self, n_inputs: int, channels=(128, 128), kernel_size: int = 3, dropout: float = 0.1):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if n_inputs < 1 or not channels or min(channels) < 1 or kernel_size < 2:
            raise EmokdError(f"TCN(n_inputs={n_inputs!r}, channels={channels!r}, "
                             f"kernel_size={kernel_size!r}): need sizes >= 1 and kernel >= 2")
        sizes = (n_inputs, *channels)
        self.blocks = nn.Sequential(*(
            TemporalBlock(sizes[i], sizes[i + 1], kernel_size, 2**i, dropout) for i in range(len(channels))
        ))
        self.n_features = channels[-1]
        self.receptive_field = 1 + 2 * (kernel_size - 1) * (2 ** len(channels) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, n_steps, n_inputs) -> (batch, n_steps, n_features)."""
        h = self.blocks(x.transpose(1, 2))  # (B, T, C_in) -> (B, C_in, T) -> (B, C, T)
        return h.transpose(1, 2)  # (B, T, C)


# --- Frame CNNs: one face frame -> one embedding ---


class _BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU."""

    def __init__(self, n_in: int, n_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(n_in, n_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(n_out)
        self.conv2 = nn.Conv2d(n_out, n_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(n_out)
        self.shortcut = nn.Identity() if stride == 1 and n_in == n_out else nn.Sequential(
            nn.Conv2d(n_in, n_out, 1, stride, bias=False), nn.BatchNorm2d(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))  # (N, C_out, H/s, W/s)
        h = self.bn2(self.conv2(h))  # (N, C_out, H/s, W/s)
        return F.relu(h + self.shortcut(x))  # (N, C_out, H/s, W/s)


class FrameCNN(nn.Module):
    """A small ResNet for 1-channel face crops that trains on a CPU.

    Stem conv3x3/2 (40 -> 20 px), then three basic blocks of ``width``, ``2*width``
    and ``4*width`` channels (20, 10, 5 px), global average pooling and a linear map
    to ``n_features``.

    Parameters
    ----------
    frame_size : int
        Side of the square input frames (pixels); checked in ``forward``.
    width : int
        Channels of the first stage.
    n_features : int
        Size of the per-frame embedding.
    """

    def __init__(self, frame_size: int = 40, width: int = 16, n_features: int = 64):
        super().__init__()
        if frame_size < 8 or width < 1 or n_features < 1:
            raise EmokdError(f"FrameCNN(frame_size={frame_size!r}, width={width!r}, n_features={n_features!r}): "
                             "need frame_size >= 8 and sizes >= 1")
        self.frame_size, self.n_features = frame_size, n_features
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.stages = nn.Sequential(
            _BasicBlock(width, width, 1), _BasicBlock(width, 2 * width, 2), _BasicBlock(2 * width, 4 * width, 2)
        )
        self.fc = nn.Linear(4 * width, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n_frames, 1, frame_size, frame_size) -> (n_frames, n_features)."""
        _check_input(x, 4, f"(n_frames, 1, {self.frame_size}, {self.frame_size})",
                     c=1, h=self.frame_size, w=self.frame_size)
        h = self.stages(self.stem(x))  # (N, 1, S, S) -> (N, W, S/2, S/2) -> (N, 4W, S/8, S/8)
        return self.fc(h.mean(dim=(2, 3)))  # (N, 4W) -> (N, E)


# --- The models ---


class Teacher(nn.Module):
    """Visual teacher: frame CNN per frame -> TCN -> ``final_layer``.

    Input, either (batch, n_steps, frame_size, frame_size): one grey face frame
    per step, normalised to mean 0.5, std 0.5 (values in [-1, 1]); or
    (batch, n_steps, E): the frame CNN's embeddings of such frames
    (:meth:`embed_frames`), which is how a teacher with a frozen backbone trains
    on cached embeddings. Both give the same output for the same frames. With
    ``cfg.cnn="ir50"`` frames are resized (bilinear) to 112 px and repeated to 3
    channels. ``features`` is the TCN output, (batch, n_steps, tcn_channels[-1]).

    ``cfg.backbone="frozen"``: the CNN's parameters do not learn and it stays in
    eval mode (batch-norm statistics fixed) whatever ``train()`` says.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cnn_kind, self.frame_size = cfg.cnn, cfg.frame_size
        ir50 = cfg.cnn == "ir50"
        self.cnn = IR50Backbone() if ir50 else FrameCNN(cfg.frame_size, cfg.cnn_width, cfg.cnn_features)
        self.tcn = TCN(self.cnn.n_features, cfg.tcn_channels, cfg.kernel_size, cfg.dropout)
        self.n_features = self.tcn.n_features
        self.final_layer = nn.Linear(self.n_features, 1)
        self.backbone_frozen = cfg.frozen_backbone
        if self.backbone_frozen:
            self.cnn.requires_grad_(False)
            self.cnn.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.backbone_frozen:
            self.cnn.eval()
        return self

    def embed_frames(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, n_steps, S, S) -> per-frame embeddings (batch, n_steps, E)."""
        b, t, s, _ = x.shape
        f = x.reshape(b * t, 1, s, s)  # (B*T, 1, S, S)
        if self.cnn_kind == "ir50":
            f = F.interpolate(f, size=(IR50_INPUT_SIZE,) * 2, mode="bilinear", align_corners=False)
            f = f.expand(-1, 3, -1, -1)  # (B*T, 3, 112, 112)
        return self.cnn(f).reshape(b, t, -1)  # (B*T, E) -> (B, T, E)

    def forward(self, x: torch.Tensor):
        if x.dim() == 3:  # cached embeddings
            _check_input(x, 3, f"(batch, n_steps, {self.cnn.n_features}) embeddings", e=self.cnn.n_features)
            emb = x
        else:
            _check_input(x, 4, f"(batch, n_steps, {self.frame_size}, {self.frame_size}) frames or "
                         f"(batch, n_steps, {self.cnn.n_features}) embeddings", h=self.frame_size, w=self.frame_size)
            emb = self.embed_frames(x)  # (B, T, S, S) -> (B, T, E)
        feats = self.tcn(emb)  # (B, T, E) -> (B, T, C)
        return self.final_layer(feats), feats  # (B, T, 1), (B, T, C)


class Student(nn.Module):
    """The paper's EEG student: TCN on band power -> ``final_layer``.

    Input (batch, n_steps, n_inputs); ``features`` is the TCN output
    (batch, n_steps, tcn_channels[-1]).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_inputs = cfg.n_inputs
        self.tcn = TCN(cfg.n_inputs, cfg.tcn_channels, cfg.kernel_size, cfg.dropout)
        self.n_features = self.tcn.n_features
        self.final_layer = nn.Linear(self.n_features, 1)

    def forward(self, x: torch.Tensor):
        _check_input(x, 3, f"(batch, n_steps, {self.n_inputs})", c=self.n_inputs)
        feats = self.tcn(x)  # (B, T, F) -> (B, T, C)
        return self.final_layer(feats), feats  # (B, T, 1), (B, T, C)

    def from_first_linear_parts(self, pre: torch.Tensor, res: torch.Tensor):
        """:meth:`forward` from the first block's :meth:`TemporalBlock.linear_parts` (each (B, C, T))
        onwards: (prediction (B, T, 1), features (B, T, C)). Occlusion uses it
        (:func:`emokd.saliency.attribution.occlusion`): the first block is linear in the input, so an
        occluded input changes its linear parts by what the occluded features contributed."""
        blocks = self.tcn.blocks
        h = blocks[1:](blocks[0].from_linear_parts(pre, res))  # (B, C, T)
        feats = h.transpose(1, 2)  # (B, T, C)
        return self.final_layer(feats), feats


class BiLSTMStudent(nn.Module):
    """A bidirectional-LSTM EEG student (not causal: step t sees the whole window).

    ``features`` is the LSTM output, (batch, n_steps, 2 * lstm_hidden).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_inputs = cfg.n_inputs
        self.lstm = nn.LSTM(cfg.n_inputs, cfg.lstm_hidden, num_layers=cfg.lstm_layers, batch_first=True,
                            bidirectional=True, dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0)
        self.n_features = 2 * cfg.lstm_hidden
        self.final_layer = nn.Linear(self.n_features, 1)

    def forward(self, x: torch.Tensor):
        _check_input(x, 3, f"(batch, n_steps, {self.n_inputs})", c=self.n_inputs)
        feats, _ = self.lstm(x)  # (B, T, F) -> (B, T, 2H)
        return self.final_layer(feats), feats  # (B, T, 1), (B, T, 2H)


class FeatureProjection(nn.Module):
    """A linear map applied at every step: (batch, n_steps, n_in) -> (batch, n_steps, n_out).

    Maps student features to the teacher's size for distillation when they differ.
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)  # (B, T, n_in) -> (B, T, n_out)


def build_model(cfg: ModelConfig) -> nn.Module:
    """The network of ``cfg.arch`` (``"teacher"``, ``"tcn"`` or ``"bilstm"``).

    The teacher's backbone weights load with :func:`emokd.nn.backbone.load_backbone`: for
    ``cnn="ir50"``, ``cfg.cnn_weights`` (a state dict of the published backbone; without it the
    backbone keeps random weights and a warning is logged); a small CNN with ``backbone="frozen"``,
    the pretrained face backbone (``cfg.cnn_weights``, or the file emokd ships), checked against
    its SHA-256.
    """
    if cfg.arch == "tcn":
        return Student(cfg)
    if cfg.arch == "bilstm":
        return BiLSTMStudent(cfg)
    if cfg.cnn_weights is not None and cfg.cnn != "ir50" and not cfg.frozen_backbone:
        raise EmokdError(f"cnn_weights={cfg.cnn_weights!r} is only used with cnn='ir50' or backbone='frozen', "
                         f"not cnn={cfg.cnn!r} with backbone={cfg.backbone!r}")
    model = Teacher(cfg)
    if cfg.cnn == "small" and cfg.frozen_backbone:
        load_backbone(model.cnn, cfg.cnn_weights)
        return model
    if cfg.cnn == "ir50" and cfg.cnn_weights is None:
        log.warning("teacher cnn='ir50' has random weights: give pretrained face weights "
                    "(cnn_weights); trained from scratch it needs far more data than MAHNOB-HCI")
    elif cfg.cnn == "ir50":
        load_backbone(model.cnn, cfg.cnn_weights)
    return model


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode and stop its gradients (a frozen teacher); returns it.

    Calling ``model.train()`` later undoes the eval mode but not ``requires_grad``.
    """
    model.eval()
    model.requires_grad_(False)
    return model
