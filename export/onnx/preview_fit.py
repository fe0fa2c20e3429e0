"""Fit the bundle's latent → RGB preview map (bundle.json "preview", export/BUNDLE.md) by least squares.

The runtime shows a cheap preview during denoising by applying `rgb = bias + z · weight` to every latent
cell. Here the map is fitted through the bundle's own VAE: decode normalised latents (given ones, e.g.
encoded training videos, or random N(0, 1) ones: the space the denoiser works in), average the decoded
pixels of each latent cell, and solve for the affine map from the latent channels to RGB in [−1, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from export.models.vae import VideoAutoencoderPipeline, pipeline_decode


def preview_pairs(pipe: VideoAutoencoderPipeline, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(latent cells [N, C], mean decoded RGB of each cell [N, 3]) of the first latent frame of `latents`
    [B, C, T, h, w] (decoded on its own as one video frame)."""
    z = latents[:, :, :1].float()
    channels, size = z.shape[1], z.shape[-1]
    with torch.no_grad():
        video = pipeline_decode(pipe, z, 1, chunk_latents=1, chunk_frames=1, micro_batch=None)
    factor = video.shape[-1] // size
    rgb = F.avg_pool2d(video[:, :, -1].clamp(-1, 1), factor)  # [B, 3, h, w]
    cells = z[:, :, 0].permute(0, 2, 3, 1).reshape(-1, channels)
    return cells, rgb.permute(0, 2, 3, 1).reshape(-1, 3)


def fit_affine(cells: torch.Tensor, rgb: torch.Tensor) -> dict:
    """Least squares `rgb ≈ bias + cells · weight` as the bundle's `preview` object
    {"weight": [[r, g, b] per channel], "bias": [r, g, b]}."""
    design = torch.cat([cells, torch.ones(cells.shape[0], 1, dtype=cells.dtype)], dim=1).double()
    solution = torch.linalg.lstsq(design, rgb.double(), driver="gelsd").solution  # [C + 1, 3]
    c = cells.shape[1]
    return {"weight": [[float(v) for v in row] for row in solution[:c]],
            "bias": [float(v) for v in solution[c]]}


def fit_preview(pipe: VideoAutoencoderPipeline, *, latents: torch.Tensor | None = None, samples: int = 8,
                size: int = 8, seed: int = 0) -> dict:
    """The bundle's `preview` object for `pipe`, fitted on `latents` or on `samples` random [C, 1, size, size]."""
    pipe = pipe.eval()
    if latents is None:
        channels = pipe.temporal_vae.post_quant_conv.conv.in_channels
        g = torch.Generator().manual_seed(seed)
        latents = torch.randn(samples, channels, 1, size, size, generator=g)
    return fit_affine(*preview_pairs(pipe, latents))
