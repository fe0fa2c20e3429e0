"""STDiT3 (Open-Sora v1.2 denoiser) in our own PyTorch code, state-dict keys exactly as the checkpoint.

The full model is the composition of the same three pieces the bundle exports (export/BUNDLE.md,
"denoiser"): `embed` (patchify + position embedding, timestep/fps/text embeddings), the interleaved
spatial/temporal `STDiT3Block`s on a [B, T, H, W, C] residual stream, and `final` (T2IFinalLayer +
unpatchify). Optional time-axis operators `merge_t` [Tm, T] / `unmerge_t` [T, Tm] wrap every attention
(TDTM), and `rope_pos` [Tm] gives the merged frames' temporal RoPE positions; None means no merge
(operators) or positions 0..Tm−1 (`rope_pos`, as the reference).

No tensor inside has rank above 5 (the blocks compute on [B, T, H·W, C]; the unpatchify takes three rank-5
steps): the same modules export to ONNX and convert to Core ML, whose tensors have rank ≤ 5.

Example:
    model = STDiT3(preset("tiny"))
    out = model(x, timestep, y, mask=mask, fps=fps, height=height, width=width)  # [B, out_ch, T, H, W]
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from export.models.stdit3_config import PRESETS, ConfigError, STDiT3Config, from_fixture, preset
from export.models.stdit3_layers import (CaptionEmbedder, CrossAttention, Mlp, PatchEmbed3D, RotaryEmbedding,
                                  SelfAttention, TimestepEmbedder, layer_norm, modulate, pos_embed_2d, positions,
                                  text_bias)

__all__ = ["STDiT3", "STDiT3Block", "FinalLayer", "STDiT3Config", "PRESETS", "ConfigError", "preset",
           "from_fixture", "embed_forward", "final_forward"]


def _time_op(x: torch.Tensor, op: torch.Tensor | None) -> torch.Tensor:
    """Apply a [T_out, T_in] operator along axis 1 of x [B, T_in, S, C]."""
    if op is None:
        return x
    B, _, S, C = x.shape
    return torch.matmul(op, x.flatten(2)).reshape(B, op.shape[0], S, C)  # explicit dims: no -1 (ONNX trace)


class STDiT3Block(nn.Module):
    """One spatial or temporal block: adaLN self-attention, cross-attention, adaLN MLP."""

    def __init__(self, cfg: STDiT3Config, temporal: bool) -> None:
        super().__init__()
        C = cfg.hidden_size
        self.temporal = temporal
        self.hidden = C
        self.attn = SelfAttention(C, cfg.num_heads, cfg.qk_norm)
        self.cross_attn = CrossAttention(C, cfg.num_heads)
        self.mlp = Mlp(C, cfg.mlp_hidden, C)
        self.scale_shift_table = nn.Parameter(torch.randn(6, C) / C ** 0.5)

    def _self_attn(self, a: torch.Tensor, rope_freqs: torch.Tensor | None, rope_pos: torch.Tensor) -> torch.Tensor:
        """Self-attention over a [B, T, S, C]: along T per position (temporal) or along S per frame (spatial)."""
        B, T, S, C = a.shape
        if self.temporal:
            seq = a.permute(0, 2, 1, 3).reshape(B * S, T, C)
            out = self.attn(seq, rope_freqs, rope_pos)
            return out.reshape(B, S, T, C).permute(0, 2, 1, 3)
        return self.attn(a.reshape(B * T, S, C)).reshape(B, T, S, C)

    def forward(self, h: torch.Tensor, y_emb: torch.Tensor, y_bias: torch.Tensor, t_mlp: torch.Tensor,
                merge_t: torch.Tensor | None = None, unmerge_t: torch.Tensor | None = None,
                rope_freqs: torch.Tensor | None = None, rope_pos: torch.Tensor | None = None) -> torch.Tensor:
        """h [B, T, H, W, C], y_emb [B, L, C], y_bias [B, 1, 1, L], t_mlp [B, T, 6C] → h (computed on [B, T, H·W, C]).

        `rope_pos` [Tm]: the temporal RoPE position of each (merged) frame; None: 0..Tm−1 (the reference's)."""
        x = h.flatten(2, 3)
        m = self.scale_shift_table[None, None] + t_mlp.unflatten(-1, (6, -1))  # [B, T, 6, C]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = m.split(1, dim=2)  # each [B, T, 1, C]
        a = modulate(layer_norm(x, self.hidden), shift_msa, scale_msa)
        # RoPE positions 0..Tm−1 unless given, taken from an input's shape (a graph input keeps the trace dynamic)
        if rope_pos is None:
            rope_pos = positions(h, 1) if merge_t is None else positions(merge_t, 0)
        a = _time_op(self._self_attn(_time_op(a, merge_t), rope_freqs, rope_pos), unmerge_t)
        x = x + gate_msa * a
        q = _time_op(x, merge_t)
        c = self.cross_attn(q.flatten(1, 2), y_emb, y_bias).reshape(q.shape)
        x = x + _time_op(c, unmerge_t)
        b = modulate(layer_norm(x, self.hidden), shift_mlp, scale_mlp)
        return (x + gate_mlp * self.mlp(b)).reshape(h.shape)


class FinalLayer(nn.Module):
    """`final_layer` (T2IFinalLayer): adaLN with t (not t_mlp), then Linear to patch·out_channels."""

    def __init__(self, cfg: STDiT3Config) -> None:
        super().__init__()
        C = cfg.hidden_size
        self.hidden = C
        self.scale_shift_table = nn.Parameter(torch.randn(2, C) / C ** 0.5)
        self.linear = nn.Linear(C, cfg.patch_volume * cfg.out_channels)

    def forward(self, h: torch.Tensor, t_emb: torch.Tensor, t0_emb: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        """h [B, T, H, W, C] → [B, T, H·W, patch·out_channels]. Frames with x_mask = 0 are re-normalised and
        modulated again with t0, exactly as the reference."""
        x = h.flatten(2, 3)
        shift, scale = (self.scale_shift_table[None, None] + t_emb[:, :, None, :]).split(1, dim=2)  # [B, T, 1, C]
        shift0, scale0 = (self.scale_shift_table[None, None] + t0_emb[:, :, None, :]).split(1, dim=2)
        xm = modulate(layer_norm(x, self.hidden), shift, scale)
        x0 = modulate(layer_norm(xm, self.hidden), shift0, scale0)
        keep = (x_mask != 0)[:, :, None, None]
        return self.linear(torch.where(keep, xm, x0))


def embed_forward(mod: nn.Module, x: torch.Tensor, timestep: torch.Tensor, y: torch.Tensor, x_mask: torch.Tensor,
                  fps: torch.Tensor, height: torch.Tensor, width: torch.Tensor, input_sq_size: int
                  ) -> tuple[torch.Tensor, ...]:
    """The `embed` block on a module owning x_embedder, t_embedder, fps_embedder, t_block, y_embedder.

    x [B, Cin, T, Hp, Wp] (padded), timestep/fps [B], y [B, L, Cc], x_mask [B, T], height/width [≥1]
    → h [B, T, H, W, C], t_mlp [B, T, 6C], t_emb [B, T, C], t0_emb [B, T, C], y_emb [B, L, C].
    """
    h = mod.x_embedder(x).permute(0, 2, 3, 4, 1)
    scale = torch.sqrt(height[0].float() * width[0].float()) / input_sq_size
    h = h + pos_embed_2d(h, scale, mod.t_block[1].in_features)[None, None]
    fps_emb = mod.fps_embedder(fps)
    t = mod.t_embedder(timestep) + fps_emb
    t0 = mod.t_embedder(torch.zeros_like(timestep)) + fps_emb
    keep = (x_mask != 0)[:, :, None]
    t_mlp = torch.where(keep, mod.t_block(t)[:, None], mod.t_block(t0)[:, None])
    frames = torch.zeros_like(x_mask, dtype=torch.float32)[:, :, None]
    y_emb = mod.y_embedder(y)
    return h, t_mlp, t[:, None] + frames, t0[:, None] + frames, y_emb


def final_forward(final_layer: FinalLayer, h: torch.Tensor, t_emb: torch.Tensor, t0_emb: torch.Tensor,
                  x_mask: torch.Tensor, patch_size: tuple[int, int, int]) -> torch.Tensor:
    """The `final` block: T2IFinalLayer + unpatchify → [B, out_ch, T·pt, H·ph, W·pw] (padded size)."""
    B, T, H, W, _ = h.shape
    pt, ph, pw = patch_size
    lin = final_layer(h, t_emb, t0_emb, x_mask)  # [B, T, H·W, (pt ph pw co)]
    co = lin.shape[-1] // (pt * ph * pw)
    # the unpatchify [B, T, H, W, pt, ph, pw, co] → [B, co, T·pt, H·ph, W·pw] in three rank-5 steps:
    # width: [B·T·H, W, pt·ph, pw, co] → [B·T·H, co, pt·ph, W·pw]
    x = lin.reshape(B * T * H, W, pt * ph, pw, co).permute(0, 4, 2, 1, 3).reshape(B * T * H, co, pt * ph, W * pw)
    # height: [B·T, H, co·pt, ph, W·pw] → [B·T, co·pt, H·ph·W·pw]
    x = x.reshape(B * T, H, co * pt, ph, W * pw).permute(0, 2, 1, 3, 4).reshape(B * T, co * pt, H * ph * W * pw)
    # time: [B, T, co, pt, S'] → [B, co, T·pt, H·ph, W·pw]
    x = x.reshape(B, T, co, pt, H * ph * W * pw).permute(0, 2, 1, 3, 4)
    return x.reshape(B, co, T * pt, H * ph, W * pw)


class STDiT3(nn.Module):
    """The whole denoiser; `forward` has the reference signature (plus optional TDTM operators)."""

    def __init__(self, cfg: STDiT3Config) -> None:
        super().__init__()
        self.cfg = cfg
        C = cfg.hidden_size
        self.x_embedder = PatchEmbed3D(cfg.patch_size, cfg.in_channels, C)
        self.t_embedder = TimestepEmbedder(C)
        self.fps_embedder = TimestepEmbedder(C)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(C, 6 * C))
        self.y_embedder = CaptionEmbedder(cfg.caption_channels, C, cfg.model_max_length)
        self.rope = RotaryEmbedding(cfg.head_dim)
        self.spatial_blocks = nn.ModuleList([STDiT3Block(cfg, temporal=False) for _ in range(cfg.depth)])
        self.temporal_blocks = nn.ModuleList([STDiT3Block(cfg, temporal=True) for _ in range(cfg.depth)])
        self.final_layer = FinalLayer(cfg)

    def pad_to_patch(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-pad x [B, C, T, H, W] at the end of T, H, W up to multiples of the patch size."""
        pt, ph, pw = self.cfg.patch_size
        T, H, W = x.shape[2:]
        return F.pad(x, (0, (-W) % pw, 0, (-H) % ph, 0, (-T) % pt))

    def forward(self, x: torch.Tensor, timestep: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None,
                x_mask: torch.Tensor | None = None, fps: torch.Tensor | None = None,
                height: torch.Tensor | None = None, width: torch.Tensor | None = None,
                merge_t: torch.Tensor | None = None, unmerge_t: torch.Tensor | None = None,
                rope_pos: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, Cin, T, H, W], timestep [B], y [B, (1,) L, Cc], mask [n | B, L], fps/height/width [n];
        merge_t [Tm, T] / unmerge_t [T, Tm] / rope_pos [Tm] as `STDiT3Block.forward`."""
        B, _, Tx, Hx, Wx = x.shape
        y = y.reshape(B, y.shape[-2], y.shape[-1]).float()
        mask = torch.ones(y.shape[:2]) if mask is None else mask.float().repeat(B // mask.shape[0], 1)
        fps = torch.full((B,), 24.0) if fps is None else fps.float().repeat(B // fps.shape[0])
        height = torch.tensor([512.0]) if height is None else height.float()
        width = torch.tensor([512.0]) if width is None else width.float()
        xp = self.pad_to_patch(x.float())
        Tp = xp.shape[2] // self.cfg.patch_size[0]
        x_mask = torch.ones(B, Tp) if x_mask is None else x_mask.float()
        h, t_mlp, t_emb, t0_emb, y_emb = embed_forward(self, xp, timestep.float(), y, x_mask, fps, height, width,
                                                       self.cfg.input_sq_size)
        y_bias = text_bias(mask)
        for sb, tb in zip(self.spatial_blocks, self.temporal_blocks):
            h = sb(h, y_emb, y_bias, t_mlp, merge_t, unmerge_t)
            h = tb(h, y_emb, y_bias, t_mlp, merge_t, unmerge_t, self.rope.freqs, rope_pos)
        out = final_forward(self.final_layer, h, t_emb, t0_emb, x_mask, self.cfg.patch_size)
        return out[:, :, :Tx, :Hx, :Wx]

    def init_weights(self) -> None:
        """Open-Sora's initialisation: xavier Linear, zero biases, N(0, 0.02) embedders, zeroed temporal outputs."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        for lin in (self.t_embedder.mlp[0], self.t_embedder.mlp[2], self.t_block[1],
                    self.y_embedder.y_proj.fc1, self.y_embedder.y_proj.fc2):
            nn.init.normal_(lin.weight, std=0.02)
        nn.init.normal_(self.fps_embedder.mlp[0].weight, std=0.02)
        nn.init.zeros_(self.fps_embedder.mlp[2].weight)
        for blk in self.temporal_blocks:
            for lin in (blk.attn.proj, blk.cross_attn.proj, blk.mlp.fc2):
                nn.init.zeros_(lin.weight)

    def null_caption(self) -> torch.Tensor:
        """The learned null caption `y_embedding` [L, Cc] (the CFG negative text embedding)."""
        return self.y_embedder.y_embedding
