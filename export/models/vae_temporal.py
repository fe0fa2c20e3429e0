"""Open-Sora v1.2 temporal VAE (`VAE_Temporal`, MAGVIT-v2-style causal 3D conv autoencoder), clean room.

Spec: shared/reference/opensora-v1.2.md §3.3. Key names follow the reference state dict (`encoder.*`,
`decoder.*`, `quant_conv.conv.*`, `post_quant_conv.conv.*`; every conv sits under a `.conv.` level).
Config dict keys: in_out_channels, latent_embed_dim, embed_dim, filters, num_res_blocks,
channel_multipliers, temporal_downsample, num_groups (and activation_fn, which must be "swish").
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv3d(nn.Module):
    """Conv3d that zero-pads H/W symmetrically and time only at the front (no look-ahead)."""

    def __init__(self, chan_in: int, chan_out: int, kernel_size: int | Sequence[int], *, stride_t: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        kt, kh, kw = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        time_pad = (kt - 1) + (1 - stride_t)
        self.padding = (kw // 2, kw // 2, kh // 2, kh // 2, time_pad, 0)
        self.conv = nn.Conv3d(chan_in, chan_out, (kt, kh, kw), stride=(stride_t, 1, 1), bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.padding))


class TemporalResBlock(nn.Module):
    """GN → SiLU → conv 3³ → GN → SiLU → conv 3³, plus the input (through a 1³ conv when widths differ)."""

    def __init__(self, chan_in: int, chan_out: int, num_groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups, chan_in)
        self.conv1 = CausalConv3d(chan_in, chan_out, 3, bias=False)
        self.norm2 = nn.GroupNorm(num_groups, chan_out)
        self.conv2 = CausalConv3d(chan_out, chan_out, 3, bias=False)
        self.conv3 = CausalConv3d(chan_in, chan_out, 1, bias=False) if chan_in != chan_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.conv3(x) if self.conv3 is not None else x)


def _res_stack(chan_in: int, chan_out: int, count: int, groups: int) -> nn.ModuleList:
    return nn.ModuleList([TemporalResBlock(chan_in if i == 0 else chan_out, chan_out, groups) for i in range(count)])


def depth_to_time(x: torch.Tensor, factor: int) -> torch.Tensor:
    """[B, C·f, T, H, W] → [B, C, T·f, H, W]; channel c·f + r goes to frame t·f + r."""
    if factor == 1:
        return x
    b, cf, t, h, w = x.shape  # at rank 5 (Core ML's limit): through [B, C, f, T, H·W]
    x = x.reshape(b, cf // factor, factor, t, h * w).permute(0, 1, 3, 2, 4)
    return x.reshape(b, cf // factor, t * factor, h, w)


class TemporalEncoder(nn.Module):
    """Pixel-frame latents [B, C, T, H, W] → moments-to-be [B, 2·latent, T/f, H, W]."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        filters, n_res, groups = cfg["filters"], cfg["num_res_blocks"], cfg["num_groups"]
        mults, down = list(cfg["channel_multipliers"]), list(cfg["temporal_downsample"])
        self.conv_in = CausalConv3d(cfg["in_out_channels"], filters, 3, bias=False)
        self.block_res_blocks = nn.ModuleList()
        self.conv_blocks = nn.ModuleList()
        prev = filters
        for i, m in enumerate(mults):
            width = filters * m
            self.block_res_blocks.append(_res_stack(prev, width, n_res, groups))
            prev = width
            if i < len(mults) - 1:
                self.conv_blocks.append(CausalConv3d(prev, width, 3, stride_t=2) if down[i] else nn.Identity())
        self.res_blocks = _res_stack(prev, prev, n_res, groups)
        self.norm1 = nn.GroupNorm(groups, prev)
        self.conv2 = CausalConv3d(prev, 2 * cfg["latent_embed_dim"], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_in(x)
        for i, stack in enumerate(self.block_res_blocks):
            for block in stack:
                x = block(x)
            if i < len(self.conv_blocks):
                x = self.conv_blocks[i](x)
        for block in self.res_blocks:
            x = block(x)
        return self.conv2(F.silu(self.norm1(x)))


class TemporalDecoder(nn.Module):
    """Latent [B, latent, t, H, W] → frames [B, C, t·f, H, W] (causal; depth-to-space in time)."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        filters, n_res, groups = cfg["filters"], cfg["num_res_blocks"], cfg["num_groups"]
        mults, down = list(cfg["channel_multipliers"]), list(cfg["temporal_downsample"])
        self.time_strides = [2 if d else 1 for d in down]
        prev = filters * mults[-1]
        self.conv1 = CausalConv3d(cfg["latent_embed_dim"], prev, 3)
        self.res_blocks = _res_stack(prev, prev, n_res, groups)
        stacks: list[nn.ModuleList] = []
        convs: list[nn.Module] = []
        for i in reversed(range(len(mults))):
            width = filters * mults[i]
            stacks.insert(0, _res_stack(prev, width, n_res, groups))
            prev = width
            if i > 0:
                ts = self.time_strides[i - 1]
                convs.insert(0, CausalConv3d(prev, prev * ts, 3) if ts > 1 else nn.Identity())
        self.block_res_blocks = nn.ModuleList(stacks)
        self.conv_blocks = nn.ModuleList(convs)
        self.norm1 = nn.GroupNorm(groups, prev)
        self.conv_out = CausalConv3d(prev, cfg["in_out_channels"], 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.conv1(z)
        for block in self.res_blocks:
            x = block(x)
        for i in reversed(range(len(self.block_res_blocks))):
            for block in self.block_res_blocks[i]:
                x = block(x)
            if i > 0:
                x = depth_to_time(self.conv_blocks[i - 1](x), self.time_strides[i - 1])
        return self.conv_out(F.silu(self.norm1(x)))


class VAETemporal(nn.Module):
    """The whole temporal VAE; `encode` returns moments, `decode` returns every decoded frame."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        if cfg.get("activation_fn", "swish") != "swish":
            raise ValueError(f"Cannot build VAE_Temporal: activation_fn '{cfg['activation_fn']}' is not 'swish'")
        self.time_factor = 2 ** sum(bool(d) for d in cfg["temporal_downsample"])
        latent, embed = cfg["latent_embed_dim"], cfg["embed_dim"]
        self.encoder = TemporalEncoder(cfg)
        self.quant_conv = CausalConv3d(2 * latent, 2 * embed, 1)
        self.post_quant_conv = CausalConv3d(embed, latent, 1)
        self.decoder = TemporalDecoder(cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Frames [B, C, T, H, W] → moments [B, 2·embed, ceil(T/f), H, W] (time zero-padded at the front)."""
        pad = (-x.shape[2]) % self.time_factor
        if pad:
            x = F.pad(x, (0, 0, 0, 0, pad, 0))
        return self.quant_conv(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent [B, embed, t, H, W] → all t·f frames; the caller drops (f − nf % f) % f leading frames."""
        return self.decoder(self.post_quant_conv(z))

    def decode_frames(self, z: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Reference `VAE_Temporal.decode(z, num_frames)`: decode, then drop the leading padding frames."""
        return self.decode(z)[:, :, (-num_frames) % self.time_factor:]
