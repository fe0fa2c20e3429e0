"""Spatial VAE: SDXL-style `AutoencoderKL` (diffusers 0.27 key names), clean room.

Spec: shared/reference/opensora-v1.2.md §3.2. Keys: encoder.{conv_in, down_blocks.i.resnets.j,
down_blocks.i.downsamplers.0.conv, mid_block.{resnets.0, attentions.0, resnets.1}, conv_norm_out, conv_out},
decoder.{conv_in, mid_block, up_blocks.i.resnets.j, up_blocks.i.upsamplers.0.conv, conv_norm_out, conv_out},
quant_conv, post_quant_conv. Every GroupNorm uses eps 1e-6. Config dict keys: in_channels, out_channels,
block_out_channels, layers_per_block, latent_channels, norm_num_groups.
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-6


class ResnetBlock2D(nn.Module):
    """GN → SiLU → conv3×3 → GN → SiLU → conv3×3 plus the input (1×1 `conv_shortcut` when widths differ)."""

    def __init__(self, chan_in: int, chan_out: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, chan_in, eps=EPS)
        self.conv1 = nn.Conv2d(chan_in, chan_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, chan_out, eps=EPS)
        self.conv2 = nn.Conv2d(chan_out, chan_out, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(chan_in, chan_out, 1) if chan_in != chan_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.conv_shortcut(x) if self.conv_shortcut is not None else x)


class MidAttention(nn.Module):
    """Single-head self-attention over the H·W positions with a GroupNorm in front and a residual."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=EPS)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        q, k, v = self.to_q(t), self.to_k(t), self.to_v(t)
        attn = torch.softmax(torch.matmul(q, k.transpose(1, 2)) * (c ** -0.5), dim=-1)
        out = self.to_out[0](torch.matmul(attn, v))
        return out.transpose(1, 2).reshape(b, c, h, w) + x


class MidBlock(nn.Module):
    """resnets.0 → attentions.0 → resnets.1."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, groups) for _ in range(2)])
        self.attentions = nn.ModuleList([MidAttention(channels, groups)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class Downsample(nn.Module):
    """Pad right/bottom by one, then a stride-2 conv3×3 (key `downsamplers.0.conv`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest ×2, then conv3×3 (key `upsamplers.0.conv`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ScaleBlock(nn.Module):
    """`resnets` then an optional `downsamplers` / `upsamplers` list (one Down/UpDecoderBlock2D)."""

    def __init__(self, chan_in: int, chan_out: int, layers: int, groups: int, resample: str | None) -> None:
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(chan_in if i == 0 else chan_out, chan_out, groups)
                                      for i in range(layers)])
        if resample == "down":
            self.downsamplers = nn.ModuleList([Downsample(chan_out)])
        elif resample == "up":
            self.upsamplers = nn.ModuleList([Upsample(chan_out)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for r in self.resnets:
            x = r(x)
        for s in getattr(self, "downsamplers", ()) or getattr(self, "upsamplers", ()):
            x = s(x)
        return x


class SpatialEncoder(nn.Module):
    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        ch, groups, n = list(cfg["block_out_channels"]), cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["in_channels"], ch[0], 3, padding=1)
        self.down_blocks = nn.ModuleList([
            ScaleBlock(ch[max(i - 1, 0)], ch[i], n, groups, "down" if i < len(ch) - 1 else None)
            for i in range(len(ch))])
        self.mid_block = MidBlock(ch[-1], groups)
        self.conv_norm_out = nn.GroupNorm(groups, ch[-1], eps=EPS)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg["latent_channels"], 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for b in self.down_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class SpatialDecoder(nn.Module):
    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        ch, groups, n = list(reversed(cfg["block_out_channels"])), cfg["norm_num_groups"], cfg["layers_per_block"]
        self.conv_in = nn.Conv2d(cfg["latent_channels"], ch[0], 3, padding=1)
        self.mid_block = MidBlock(ch[0], groups)
        self.up_blocks = nn.ModuleList([
            ScaleBlock(ch[max(i - 1, 0)], ch[i], n + 1, groups, "up" if i < len(ch) - 1 else None)
            for i in range(len(ch))])
        self.conv_norm_out = nn.GroupNorm(groups, ch[-1], eps=EPS)
        self.conv_out = nn.Conv2d(ch[-1], cfg["out_channels"], 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.mid_block(self.conv_in(z))
        for b in self.up_blocks:
            x = b(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


class AutoencoderKL(nn.Module):
    """Images [N, 3, H, W] ↔ latents [N, latent, H/f, W/f], f = 2^(len(block_out_channels) − 1)."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        lat = cfg["latent_channels"]
        self.spatial_factor = 2 ** (len(cfg["block_out_channels"]) - 1)
        self.encoder = SpatialEncoder(cfg)
        self.decoder = SpatialDecoder(cfg)
        self.quant_conv = nn.Conv2d(2 * lat, 2 * lat, 1)
        self.post_quant_conv = nn.Conv2d(lat, lat, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images → moments [N, 2·latent, h, w] (mean then logvar, before clamping)."""
        return self.quant_conv(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Unscaled latents → images."""
        return self.decoder(self.post_quant_conv(z))
