"""Core ML twins of the team's block wrappers (export/onnx/denoiser_blocks.py, export/onnx/vae.py), for
conversion only.

Core ML tensors have rank ≤ 5. The team's block and final-layer forwards keep the residual stream as
[B, T, H, W, C] and build their adaLN modulation at rank 6, and `final` unpatchifies through a rank-8
permute: fine for ONNX, refused by Core ML. The twins below own the team's modules (same weights, same
attention, cross-attention, MLP and linear layers) and only re-express the outer forwards at rank ≤ 5:
the residual stream as [B, T, S, C] with S = H·W, and the unpatchify in three rank-5 steps. Likewise
the temporal VAE decoder's depth-to-time step (a rank-6 reshape). The denoiser's `embed`, the T5 blocks
and the spatial VAE decoder convert as they are. `coreml_export.py` checks every block against the
bundle's ONNX block first.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from export.onnx.denoiser_blocks import DenoiserBlock, FinalBlock
from export.onnx.vae import TemporalDecodeBlock
from export.models.stdit3_layers import MASK_BIAS, layer_norm, modulate, positions


def _time_op(x: torch.Tensor, op: torch.Tensor, channels: int) -> torch.Tensor:
    """Apply a [T_out, T_in] operator along axis 1 of x [B, T_in, S, C]."""
    return torch.matmul(op, x.flatten(2)).unflatten(-1, (-1, channels))


class CoreMLDenoiserBlock(nn.Module):
    """(h, y_emb, y_mask, t_mlp, merge_t, unmerge_t) → h_out: `DenoiserBlock` at rank ≤ 5."""

    def __init__(self, inner: DenoiserBlock, mask_bias: float = MASK_BIAS) -> None:
        super().__init__()
        self.inner = inner
        self.mask_bias = mask_bias

    def _self_attn(self, a: torch.Tensor, rope_pos: torch.Tensor) -> torch.Tensor:
        blk = self.inner.block
        if blk.temporal:  # attention along time, per spatial position
            seq = a.permute(0, 2, 1, 3)
            out = blk.attn(seq.flatten(0, 1), self.inner.rope_freqs, rope_pos)
            return out.reshape_as(seq).permute(0, 2, 1, 3)
        return blk.attn(a.flatten(0, 1)).reshape_as(a)

    def forward(self, h, y_emb, y_mask, t_mlp, merge_t, unmerge_t):  # noqa: ANN001, ANN201 (traced)
        blk = self.inner.block
        C = blk.hidden
        x = h.flatten(2, 3)  # [B, T, S, C]
        m = blk.scale_shift_table[None, None] + t_mlp.unflatten(-1, (6, C))  # [B, T, 6, C]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = m.split(1, dim=2)
        bias = torch.where(y_mask != 0, torch.zeros_like(y_mask), torch.full_like(y_mask, self.mask_bias))
        a = modulate(layer_norm(x, C), shift_msa, scale_msa)
        a = _time_op(self._self_attn(_time_op(a, merge_t, C), positions(merge_t, 0)), unmerge_t, C)
        x = x + gate_msa * a
        q = _time_op(x, merge_t, C)
        c = blk.cross_attn(q.flatten(1, 2), y_emb, bias[:, None, None, :]).reshape_as(q)
        x = x + _time_op(c, unmerge_t, C)
        b = modulate(layer_norm(x, C), shift_mlp, scale_mlp)
        x = x + gate_mlp * blk.mlp(b)
        return x.reshape_as(h)


class CoreMLFinalBlock(nn.Module):
    """(h, t_emb, t0_emb, x_mask) → out [B, co, T·pt, H·ph, W·pw]: `FinalBlock` at rank ≤ 5."""

    def __init__(self, inner: FinalBlock, out_channels: int) -> None:
        super().__init__()
        self.inner = inner
        self.out_channels = out_channels

    def forward(self, h, t_emb, t0_emb, x_mask):  # noqa: ANN001, ANN201 (traced)
        fl = self.inner.final_layer
        pt, ph, pw = self.inner.patch_size
        co, C = self.out_channels, fl.hidden
        B, T, H = h.shape[0], h.shape[1], h.shape[2]
        x = h.flatten(2, 3)  # [B, T, S, C]
        shift, scale = (fl.scale_shift_table[None, None] + t_emb[:, :, None, :]).split(1, dim=2)
        shift0, scale0 = (fl.scale_shift_table[None, None] + t0_emb[:, :, None, :]).split(1, dim=2)
        xm = modulate(layer_norm(x, C), shift, scale)
        x0 = modulate(layer_norm(xm, C), shift0, scale0)  # frames with x_mask = 0: modulated again with t0
        lin = fl.linear(torch.where((x_mask != 0)[:, :, None, None], xm, x0))  # [B, T, S, (pt ph pw co)]
        # width: [BTH, W, (pt ph), pw, co] → [BTH, co, (pt ph), W·pw]
        x = lin.reshape(B * T * H, -1, pt * ph, pw, co).permute(0, 4, 2, 1, 3).flatten(3, 4)
        # height: [BT, H, co·pt, ph, Wp] → [BT, co·pt, H·ph·Wp]
        x = x.reshape(B * T, H, co * pt, ph, -1).permute(0, 2, 1, 3, 4).flatten(2, 4)
        # time: [B, T, co, pt, S] → [B, co, T·pt, S] → [B, co, T·pt, H·ph, Wp]
        x = x.reshape(B, T, co, pt, -1).permute(0, 2, 1, 3, 4).flatten(2, 3)
        return x.reshape(B, co, T * pt, H * ph, -1)


def _depth_to_time(x: torch.Tensor, factor: int) -> torch.Tensor:
    """export.models.vae_temporal.depth_to_time at rank 5: [B, C·f, T, H, W] → [B, C, T·f, H, W] via [B, C, f, T, H·W]."""
    if factor == 1:
        return x
    b, cf, t, h, w = x.shape
    y = x.reshape(b, cf // factor, factor, t, h * w).permute(0, 1, 3, 2, 4)
    return y.reshape(b, cf // factor, t * factor, h, w)


class CoreMLTemporalDecode(nn.Module):
    """z [B, C, t, h, w] → z_frames: `TemporalDecodeBlock` with its depth-to-time step at rank 5."""

    def __init__(self, inner: TemporalDecodeBlock) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        blk = self.inner
        dec = blk.decoder
        if blk.scale is not None:
            z = z * blk.scale + blk.shift
        x = dec.conv1(blk.post_quant_conv(z))
        for block in dec.res_blocks:
            x = block(x)
        for i in reversed(range(len(dec.block_res_blocks))):
            for block in dec.block_res_blocks[i]:
                x = block(x)
            if i > 0:
                x = _depth_to_time(dec.conv_blocks[i - 1](x), dec.time_strides[i - 1])
        return dec.conv_out(F.silu(dec.norm1(x)))
