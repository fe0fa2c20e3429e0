"""STDiT3 building blocks (Open-Sora v1.2), written so that one ONNX trace works for any input shape.

Sub-module and parameter names follow the official checkpoint (reference/opensora-v1.2.md §1.2). Every
shape-dependent value (positions, base size, sequence lengths) is computed from tensor shapes with torch
ops, never from Python numbers, so the legacy ONNX exporter keeps it symbolic.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-6
MASK_BIAS = -1e30  # additive bias for padded text tokens (finite: an all-padding row gives no NaN)


def dim_i(x: torch.Tensor, i: int) -> torch.Tensor:
    """`x.shape[i]` as an int64 0-d tensor that the ONNX trace keeps dynamic (a Python int may be frozen)."""
    return torch._shape_as_tensor(x)[i]


def dim_f(x: torch.Tensor, i: int) -> torch.Tensor:
    """`x.shape[i]` as a float32 0-d tensor that the ONNX trace keeps dynamic."""
    return dim_i(x, i).to(torch.float32)


def positions(x: torch.Tensor, i: int) -> torch.Tensor:
    """float32 0, 1, …, x.shape[i] − 1 (traced as a dynamic Range)."""
    return torch.arange(dim_i(x, i), dtype=torch.float32)


def layer_norm(x: torch.Tensor, dim: int) -> torch.Tensor:
    """LayerNorm over the last axis (of static size `dim`), eps 1e-6, no affine (norm1, norm2, norm_final)."""
    return F.layer_norm(x, (dim,), eps=LN_EPS)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN `t2i_modulate`: x·(1 + scale) + shift."""
    return x * (1 + scale) + shift


def sinusoid(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """Timestep/size sinusoid, cos first: [cos(t·f_k), sin(t·f_k)], f_k = exp(−ln(P)·k/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class Mlp(nn.Module):
    """timm `Mlp`: fc1 → GELU(tanh) → fc2."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class TimestepEmbedder(nn.Module):
    """`t_embedder` / `fps_embedder` (SizeEmbedder has the same math for one scalar per sample)."""

    def __init__(self, hidden: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoid(t, self.freq_dim))


class CaptionEmbedder(nn.Module):
    """`y_embedder`: y_proj (Mlp Cc → C → C) and, in the full model, the null caption `y_embedding`."""

    def __init__(self, caption_channels: int, hidden: int, max_length: int, with_null: bool = True) -> None:
        super().__init__()
        self.y_proj = Mlp(caption_channels, hidden, hidden)
        if with_null:
            self.register_buffer("y_embedding", torch.randn(max_length, caption_channels) / caption_channels ** 0.5)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.y_proj(y)


class PatchEmbed3D(nn.Module):
    """`x_embedder`: Conv3d with kernel = stride = patch size (input already padded to the patch grid)."""

    def __init__(self, patch_size: tuple[int, int, int], in_channels: int, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_channels, hidden, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class RotaryEmbedding(nn.Module):
    """`rope`: owns `freqs` [head_dim/2] = 10000^(−2i/head_dim) (rotary_embedding_torch 0.5.3 layout)."""

    def __init__(self, dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        self.freqs = nn.Parameter(freqs, requires_grad=False)


def apply_rope(x: torch.Tensor, freqs: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Interleaved RoPE over axis −2 at positions `pos` [n]: pair (x_2i, x_2i+1) rotated by p·ω_i."""
    ang = pos[:, None] * freqs[None, :]
    cos, sin = torch.cos(ang), torch.sin(ang)
    pairs = x.unflatten(-1, (-1, 2))
    x0, x1 = pairs[..., 0], pairs[..., 1]
    return torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], dim=-1).flatten(-2)


class RMSNorm(nn.Module):
    """LlamaRMSNorm (eps 1e-6): x / sqrt(mean(x²) + eps) · weight."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
              bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q·scale kᵀ + bias)·v on [batch, heads, n, d] tensors (scale = 1/sqrt(d))."""
    scores = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        scores = scores + bias
    return scores.softmax(dim=-1) @ v


class SelfAttention(nn.Module):
    """`attn`: qkv → per-head q/k RMSNorm → (RoPE) → softmax attention → proj, on [batch, n, C]."""

    def __init__(self, hidden: int, num_heads: int, qk_norm: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = hidden // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(hidden, hidden * 3)
        self.q_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, rope_freqs: torch.Tensor | None = None,
                rope_pos: torch.Tensor | None = None) -> torch.Tensor:
        """x [batch, n, C]; RoPE (temporal blocks) at `rope_pos` [n] (0..n−1) when `rope_freqs` is given."""
        qkv = self.qkv(x).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, k = self.q_norm(q), self.k_norm(k)
        if rope_freqs is not None:
            q, k = apply_rope(q, rope_freqs, rope_pos), apply_rope(k, rope_freqs, rope_pos)
        out = attention(q, k, v, self.scale)
        return self.proj(out.transpose(1, 2).flatten(-2))


class CrossAttention(nn.Module):
    """`cross_attn`: each sample's queries attend to its own text tokens (dense form of the block mask)."""

    def __init__(self, hidden: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (hidden // num_heads) ** -0.5
        self.q_linear = nn.Linear(hidden, hidden)
        self.kv_linear = nn.Linear(hidden, hidden * 2)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, y_emb: torch.Tensor, y_bias: torch.Tensor) -> torch.Tensor:
        """x [B, N, C], y_emb [B, L, C], y_bias [B, 1, 1, L] (0 for tokens, MASK_BIAS for padding)."""
        q = self.q_linear(x).unflatten(-1, (self.num_heads, -1)).transpose(1, 2)
        kv = self.kv_linear(y_emb).unflatten(-1, (2, self.num_heads, -1)).permute(2, 0, 3, 1, 4)
        out = attention(q, kv[0], kv[1], self.scale, y_bias)
        return self.proj(out.transpose(1, 2).flatten(-2))


def text_bias(y_mask: torch.Tensor, bias: float = MASK_BIAS) -> torch.Tensor:
    """Additive key bias [B, 1, 1, L] from a float text mask [B, L] (nonzero = token, else `bias`)."""
    y_mask = y_mask.float()
    return torch.where(y_mask != 0, torch.zeros_like(y_mask), torch.full_like(y_mask, bias))[:, None, None, :]


def pos_embed_2d(h: torch.Tensor, scale: torch.Tensor, C: int) -> torch.Tensor:
    """PositionEmbedding2D [H, W, C] for tokens h [B, T, H, W, C]; first half encodes the column.

    base_size = round(sqrt(H·W)); row coord = (i / scale)·(base_size / H), column likewise with W.
    """
    half = C // 2
    inv_freq = 1.0 / (10000 ** (torch.arange(0, half, 2).float() / half))
    Hf, Wf = dim_f(h, 2), dim_f(h, 3)
    base = torch.round(torch.sqrt(Hf * Wf))
    gh = positions(h, 2) / scale * (base / Hf)
    gw = positions(h, 3) / scale * (base / Wf)

    def sincos(g: torch.Tensor) -> torch.Tensor:
        out = g[:, None] * inv_freq[None, :]
        return torch.cat([torch.sin(out), torch.cos(out)], dim=-1)

    emb_w, emb_h = sincos(gw)[None, :, :], sincos(gh)[:, None, :]
    return torch.cat([emb_w + torch.zeros_like(emb_h), emb_h + torch.zeros_like(emb_w)], dim=-1)
