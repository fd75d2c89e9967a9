"""Observation encoders: what an agent network puts in front of its body.

An encoder maps per-agent observations ``[..., *obs_shape]`` to feature vectors ``[..., features]``.
For vector observations there is nothing to do. For images, ``(C, H, W)`` channel-first as the
adapter stores them, a small CNN runs over every image of the batch in one call. ``kind: auto``
picks the CNN for image-shaped observations (rank 3) and flattening otherwise; ``cnn`` and
``flat`` force one or the other (``flat`` feeds raw pixels to the MLP or GRU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from marlzoo.errors import UserError


@dataclass
class EncoderConfig:
    """The encoder in front of an agent network (``algo.agent.encoder`` in a config).

    The CNN's layers are ``channels[i]`` filters of size ``kernels[i]`` with stride ``strides[i]``,
    each followed by a ReLU. The defaults suit small images (about 32 x 16 to 84 x 84).
    """

    kind: Literal["auto", "cnn", "flat"] = "auto"
    channels: tuple[int, ...] = (16, 32, 32)
    kernels: tuple[int, ...] = (4, 3, 3)
    strides: tuple[int, ...] = (2, 2, 1)

    def __post_init__(self) -> None:
        if not (len(self.channels) == len(self.kernels) == len(self.strides)) or not self.channels:
            raise ValueError("encoder.channels, encoder.kernels and encoder.strides need one entry per layer")


class CNNEncoder(nn.Module):
    """Convolutions over ``[..., C, H, W]`` (or the same flattened to ``[..., C*H*W]``) -> ``[..., features]``."""

    def __init__(self, obs_shape: tuple[int, int, int], config: EncoderConfig) -> None:
        super().__init__()
        self.obs_shape = tuple(obs_shape)
        layers: list[nn.Module] = []
        c = obs_shape[0]
        for out, k, s in zip(config.channels, config.kernels, config.strides):
            layers += [nn.Conv2d(c, out, k, s), nn.ReLU()]
            c = out
        self.convs = nn.Sequential(*layers)
        h, w = obs_shape[1], obs_shape[2]
        for k, s in zip(config.kernels, config.strides):
            h, w = (h - k) // s + 1, (w - k) // s + 1
            if h < 1 or w < 1:
                raise UserError(
                    f"images of shape {tuple(obs_shape)} are too small for the CNN encoder (kernels {config.kernels}, "
                    f"strides {config.strides}); set smaller algo.agent.encoder.kernels/strides, or downsize less"
                )
        self.features = c * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-3:] != self.obs_shape:
            x = x.unflatten(-1, self.obs_shape)
        lead = x.shape[:-3]
        y = self.convs(x.reshape(-1, *self.obs_shape))
        return y.reshape(*lead, self.features)


class FlatEncoder(nn.Module):
    """``[..., *obs_shape]`` -> ``[..., prod(obs_shape)]``."""

    def __init__(self, obs_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.rank = len(obs_shape)
        self.features = math.prod(obs_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(start_dim=x.dim() - self.rank)


def make_encoder(obs_shape: int | tuple[int, ...], config: EncoderConfig) -> tuple[nn.Module | None, int]:
    """The encoder for ``obs_shape`` (None when the input is already a vector) and its feature size."""
    shape = (obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape)
    kind = config.kind
    if kind == "auto":
        kind = "cnn" if len(shape) == 3 else "flat"
    if kind == "cnn":
        if len(shape) != 3:
            raise UserError(
                f"algo.agent.encoder.kind=cnn needs image observations (C, H, W), but they have shape {shape}; "
                "use kind auto or flat"
            )
        encoder = CNNEncoder(shape, config)
        return encoder, encoder.features
    if len(shape) == 1:
        return None, shape[0]
    encoder = FlatEncoder(shape)
    return encoder, encoder.features
