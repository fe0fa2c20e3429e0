"""The STDiT3 bundle blocks (export/BUNDLE.md "denoiser"): `embed`, `spatial_NN`/`temporal_NN`, `final`.

Each wrapper owns only its own weights, under the checkpoint's own key names (so a `WeightSource` loads
it with a key prefix) and has the block contract's tensor interface. `example_inputs` gives small
tracing inputs whose axes are all distinct, and `BLOCK_IO` the input/output names and symbolic axes.
"""
from __future__ import annotations

import torch
from torch import nn

from export.models.stdit3 import STDiT3Block, FinalLayer, STDiT3Config, embed_forward, final_forward
from export.models.stdit3_layers import MASK_BIAS, CaptionEmbedder, PatchEmbed3D, TimestepEmbedder, text_bias


class EmbedBlock(nn.Module):
    """(x, timestep, y, x_mask, fps, height, width) → (h, t_mlp, t_emb, t0_emb, y_emb)."""

    def __init__(self, cfg: STDiT3Config) -> None:
        super().__init__()
        C = cfg.hidden_size
        self.input_sq_size = cfg.input_sq_size
        self.x_embedder = PatchEmbed3D(cfg.patch_size, cfg.in_channels, C)
        self.t_embedder = TimestepEmbedder(C)
        self.fps_embedder = TimestepEmbedder(C)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(C, 6 * C))
        self.y_embedder = CaptionEmbedder(cfg.caption_channels, C, cfg.model_max_length, with_null=False)

    def forward(self, x, timestep, y, x_mask, fps, height, width):  # noqa: ANN001, ANN201 (traced)
        return embed_forward(self, x, timestep, y, x_mask, fps, height, width, self.input_sq_size)


class DenoiserBlock(nn.Module):
    """(h, y_emb, y_mask, t_mlp, merge_t, unmerge_t) → h for a spatial block; a temporal block also takes
    rope_pos [Tm], its (merged) frames' RoPE positions."""

    def __init__(self, cfg: STDiT3Config, temporal: bool, rope_freqs: torch.Tensor | None = None) -> None:
        super().__init__()
        self.block = STDiT3Block(cfg, temporal)
        self.mask_bias = MASK_BIAS  # the padded-token bias; the fp16 Core ML export lowers it to a finite fp16
        if temporal:
            if rope_freqs is None:
                raise ValueError("Cannot build a temporal block: rope_freqs is required")
            self.register_buffer("rope_freqs", rope_freqs.detach().clone().float())
        else:
            self.rope_freqs = None

    def forward(self, h, y_emb, y_mask, t_mlp, merge_t, unmerge_t, rope_pos=None):  # noqa: ANN001, ANN201 (traced)
        return self.block(h, y_emb, text_bias(y_mask, self.mask_bias), t_mlp, merge_t, unmerge_t, self.rope_freqs,
                          rope_pos)


class FinalBlock(nn.Module):
    """(h, t_emb, t0_emb, x_mask) → out [B, out_channels, T, Hp, Wp]."""

    def __init__(self, cfg: STDiT3Config) -> None:
        super().__init__()
        self.patch_size = cfg.patch_size
        self.final_layer = FinalLayer(cfg)

    def forward(self, h, t_emb, t0_emb, x_mask):  # noqa: ANN001, ANN201 (traced)
        return final_forward(self.final_layer, h, t_emb, t0_emb, x_mask, self.patch_size)


BLOCK_IO: dict[str, dict] = {
    "embed": {
        "inputs": ["x", "timestep", "y", "x_mask", "fps", "height", "width"],
        "outputs": ["h", "t_mlp", "t_emb", "t0_emb", "y_emb"],
        "axes": {"x": {0: "B", 2: "T", 3: "Hp", 4: "Wp"}, "timestep": {0: "B"}, "y": {0: "B", 1: "L"},
                 "x_mask": {0: "B", 1: "T"}, "fps": {0: "B"},
                 "h": {0: "B", 1: "T", 2: "H", 3: "W"}, "t_mlp": {0: "B", 1: "T"}, "t_emb": {0: "B", 1: "T"},
                 "t0_emb": {0: "B", 1: "T"}, "y_emb": {0: "B", 1: "L"}},
    },
    "block": {
        "inputs": ["h", "y_emb", "y_mask", "t_mlp", "merge_t", "unmerge_t"],
        "outputs": ["h"],
        "axes": {"h": {0: "B", 1: "T", 2: "H", 3: "W"}, "y_emb": {0: "B", 1: "L"}, "y_mask": {0: "B", 1: "L"},
                 "t_mlp": {0: "B", 1: "T"}, "merge_t": {0: "Tm", 1: "T"}, "unmerge_t": {0: "T", 1: "Tm"}},
    },
    "temporal": {
        "inputs": ["h", "y_emb", "y_mask", "t_mlp", "merge_t", "unmerge_t", "rope_pos"],
        "outputs": ["h"],
        "axes": {"h": {0: "B", 1: "T", 2: "H", 3: "W"}, "y_emb": {0: "B", 1: "L"}, "y_mask": {0: "B", 1: "L"},
                 "t_mlp": {0: "B", 1: "T"}, "merge_t": {0: "Tm", 1: "T"}, "unmerge_t": {0: "T", 1: "Tm"},
                 "rope_pos": {0: "Tm"}},
    },
    "final": {
        "inputs": ["h", "t_emb", "t0_emb", "x_mask"],
        "outputs": ["out"],
        "axes": {"h": {0: "B", 1: "T", 2: "H", 3: "W"}, "t_emb": {0: "B", 1: "T"}, "t0_emb": {0: "B", 1: "T"},
                 "x_mask": {0: "B", 1: "T"}, "out": {0: "B", 2: "T", 3: "Hp", 4: "Wp"}},
    },
}


def example_inputs(cfg: STDiT3Config, kind: str, *, B: int = 2, T: int = 3, H: int = 2, W: int = 5, L: int = 4,
                   Tm: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs for block `kind` ('embed', 'block', 'temporal', 'final') on a B×T×H×W patch grid, text
    length L (a temporal block's `rope_pos`: each merged frame's mean frame index)."""
    g = torch.Generator().manual_seed(seed)
    C = cfg.hidden_size
    pt, ph, pw = cfg.patch_size

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    x_mask = torch.ones(B, T)
    x_mask[0, 0] = 0.0
    if kind == "embed":
        x = r(B, cfg.in_channels, T * pt, H * ph, W * pw)
        return (x, torch.rand(B, generator=g) * 1000, r(B, L, cfg.caption_channels), x_mask,
                torch.full((B,), 24.0), torch.tensor([240.0]), torch.tensor([426.0]))
    if kind in ("block", "temporal"):
        y_mask = torch.ones(B, L)
        y_mask[-1, L // 2:] = 0.0
        unmerge = torch.zeros(T, Tm)
        for t in range(T):  # a proper merge: frames split into Tm contiguous groups, averaged
            j = min(t * Tm // T, Tm - 1)
            unmerge[t, j] = 1.0
        merge = (unmerge / unmerge.sum(0, keepdim=True)).T.contiguous()
        inputs = (r(B, T, H, W, C), r(B, L, C), y_mask, r(B, T, 6 * C) * 0.1, merge, unmerge)
        return inputs + (merge @ torch.arange(T, dtype=torch.float32),) if kind == "temporal" else inputs
    if kind == "final":
        return r(B, T, H, W, C), r(B, T, C) * 0.1, r(B, T, C) * 0.1, x_mask
    raise ValueError(f"Cannot make example inputs: unknown block kind '{kind}'")
