"""The paper's face backbone: ResNet50-IR ("IR-50" of face.evoLVe / InsightFace).

Zhang et al. (2022) embed each face frame with an IR-50 pretrained on faces
(512-d). It is far too big to train on a CPU and no weights ship with emokd: use it
with ``ModelConfig(arch="teacher", cnn="ir50", cnn_weights=PATH)`` when you have a
state dict of the published backbone. Module names follow the published code, so
its state dicts load with :func:`emokd.nn.backbone.load_backbone`. No I/O here.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import EmokdError

#: Side of the square input of the ResNet50-IR face backbone (pixels).
IR50_INPUT_SIZE = 112


class _IRUnit(nn.Module):
    """``bottleneck_IR`` of face.evoLVe / InsightFace: BN-conv-PReLU-conv/s-BN + shortcut."""

    def __init__(self, n_in: int, depth: int, stride: int):
        super().__init__()
        # names and layout match the published code, so its state dicts load
        self.shortcut_layer = nn.MaxPool2d(1, stride) if n_in == depth else nn.Sequential(
            nn.Conv2d(n_in, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(n_in), nn.Conv2d(n_in, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)  # (N, C, H, W) -> (N, D, H/s, W/s)


class IR50Backbone(nn.Module):
    """ResNet50-IR face backbone ("IR-50" of face.evoLVe / InsightFace): 3x112x112 -> 512.

    Stem conv3x3 (64) + BN + PReLU; four stages of ``bottleneck_IR`` units
    ([3, 4, 14, 3] units of depth 64, 128, 256, 512; the first unit of each stage has
    stride 2: 112 -> 7 px); output BN, dropout, flatten, Linear(512*7*7, 512),
    BatchNorm1d. Module names follow the published code, so its state dicts load
    with :func:`emokd.nn.backbone.load_backbone`. 43.6 M parameters.
    """

    def __init__(self, dropout: float = 0.5):
        super().__init__()
        self.n_features = 512
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units, n_in = [], 64
        for depth, n_units in ((64, 3), (128, 4), (256, 14), (512, 3)):
            units += [_IRUnit(n_in, depth, 2)] + [_IRUnit(depth, depth, 1) for _ in range(n_units - 1)]
            n_in = depth
        self.body = nn.Sequential(*units)
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512), nn.Dropout(dropout), nn.Flatten(),
            nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n_frames, 3, 112, 112), normalised to [-1, 1] -> (n_frames, 512)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, IR50_INPUT_SIZE, IR50_INPUT_SIZE):
            raise EmokdError(f"input of shape {tuple(x.shape)}: expected (n_frames, 3, 112, 112)")
        h = self.body(self.input_layer(x))  # (N, 64, 112, 112) -> (N, 512, 7, 7)
        return self.output_layer(h)  # (N, 512)
