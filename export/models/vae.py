"""Open-Sora v1.2 video VAE: the pipeline (spatial AutoencoderKL + temporal VAE + scale/shift), clean room.

Spec: shared/reference/opensora-v1.2.md §3. Checkpoint keys of the full pipeline: `spatial_vae.module.*`
(diffusers AutoencoderKL names), `temporal_vae.*` and the buffers `scale`, `shift` [1, C, 1, 1, 1].
A config dict has `temporal` and/or `spatial` sub-configs (see vae_temporal.py / vae_spatial.py) and, for
the pipeline, `scale`, `shift`, `micro_frame_size` (pixel frames per temporal chunk) and `micro_batch_size`
(frames per spatial call). `scaling_factor` is Open-Sora's hard-coded 0.18215.

The decode/encode helpers here are the PyTorch reference of the bundle's vae stage; the chunk plan
(`temporal_chunks`) is shared with the ONNX check so both follow the manifest's parameters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from export.models.vae_spatial import AutoencoderKL
from export.models.vae_temporal import VAETemporal

SCALING_FACTOR = 0.18215


class VideoSpatialVAE(nn.Module):
    """`VideoAutoencoderKL`: AutoencoderKL under the attribute `module`, frames as a batch of images."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        self.module = AutoencoderKL(cfg)


class VideoAutoencoderPipeline(nn.Module):
    """Holds whichever of `spatial_vae` / `temporal_vae` the config names, plus `scale`/`shift` buffers."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        self.spatial_vae = VideoSpatialVAE(cfg["spatial"]) if cfg.get("spatial") else None
        self.temporal_vae = VAETemporal(cfg["temporal"]) if cfg.get("temporal") else None
        if cfg.get("scale") is not None:
            self.register_buffer("scale", torch.tensor(cfg["scale"], dtype=torch.float32).reshape(1, -1, 1, 1, 1))
            self.register_buffer("shift", torch.tensor(cfg["shift"], dtype=torch.float32).reshape(1, -1, 1, 1, 1))
        else:
            self.scale = None
            self.shift = None


@dataclass(frozen=True)
class TemporalChunk:
    """One temporal-decode call: latent frames [start, stop) yield 4·len frames, of which `drop` lead."""
    start: int
    stop: int
    num_frames: int
    drop: int


def temporal_chunks(latent_frames: int, num_frames: int, chunk_latents: int, chunk_frames: int,
                    temporal_factor: int) -> list[TemporalChunk]:
    """Open-Sora's chunking: chunks of `chunk_latents`, nf = min(chunk_frames, remaining), drop (f − nf%f)%f."""
    if latent_frames <= 0 or chunk_latents <= 0:
        raise ValueError(f"Cannot plan temporal decode: latent_frames '{latent_frames}', "
                         f"chunk_latents '{chunk_latents}' must be positive")
    chunks = []
    remaining = num_frames
    for start in range(0, latent_frames, chunk_latents):
        stop = min(start + chunk_latents, latent_frames)
        nf = min(chunk_frames, remaining)
        drop = (temporal_factor - nf % temporal_factor) % temporal_factor
        if nf <= 0 or drop >= (stop - start) * temporal_factor:
            raise ValueError(f"Cannot plan temporal decode: chunk {start}:{stop} would drop all its frames "
                             f"(num_frames '{num_frames}' too small for '{latent_frames}' latent frames)")
        chunks.append(TemporalChunk(start, stop, nf, drop))
        remaining -= chunk_frames
    return chunks


def diagonal_gaussian(moments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Moments [B, 2C, ...] → (mean, logvar clamped to [−30, 20], std)."""
    mean, logvar = torch.chunk(moments, 2, dim=1)
    logvar = logvar.clamp(-30.0, 20.0)
    return mean, logvar, torch.exp(0.5 * logvar)


def spatial_encode(vae: AutoencoderKL, x: torch.Tensor, micro_batch: int | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Video [B, C, T, H, W] → unscaled posterior (mean, logvar), each [B, latent, T, H/f, W/f].

    The Open-Sora latent is (mean + std·eps)·0.18215 (`SCALING_FACTOR`).
    """
    b, c, t, h, w = x.shape
    frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
    step = micro_batch or frames.shape[0]
    moments = torch.cat([vae.encode(frames[i:i + step]) for i in range(0, frames.shape[0], step)])
    mean, logvar, _ = diagonal_gaussian(moments)
    back = lambda m: m.reshape(b, t, *m.shape[1:]).permute(0, 2, 1, 3, 4)  # noqa: E731
    return back(mean), back(logvar)


def spatial_decode(vae: AutoencoderKL, z: torch.Tensor, micro_batch: int | None = None) -> torch.Tensor:
    """Scaled latents [B, latent, n, h, w] → frames [B, 3, n, f·h, f·w] (÷0.18215 first), per micro-batch."""
    b, c, t, h, w = z.shape
    frames = z.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w) / SCALING_FACTOR
    step = micro_batch or frames.shape[0]
    out = torch.cat([vae.decode(frames[i:i + step]) for i in range(0, frames.shape[0], step)])
    return out.reshape(b, t, *out.shape[1:]).permute(0, 2, 1, 3, 4)


def temporal_encode(vae: VAETemporal, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame latents [B, C, T, H, W] → (mean, logvar) [B, C, ceil(T/4), H, W] (time padded at the front)."""
    mean, logvar, _ = diagonal_gaussian(vae.encode(x))
    return mean, logvar


def pipeline_decode(pipe: VideoAutoencoderPipeline, z: torch.Tensor, num_frames: int, *,
                    chunk_latents: int, chunk_frames: int, micro_batch: int | None) -> torch.Tensor:
    """Normalised latent [B, C, t, h, w] → video [B, 3, num_frames, H, W], the reference decode order."""
    tv = pipe.temporal_vae
    if pipe.scale is not None:
        z = z * pipe.scale + pipe.shift
    parts = []
    for ch in temporal_chunks(z.shape[2], num_frames, chunk_latents, chunk_frames, tv.time_factor):
        parts.append(tv.decode(z[:, :, ch.start:ch.stop])[:, :, ch.drop:])
    return spatial_decode(pipe.spatial_vae.module, torch.cat(parts, dim=2), micro_batch)


def pipeline_encode(pipe: VideoAutoencoderPipeline, x: torch.Tensor, *, chunk_frames: int,
                    micro_batch: int | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Video [B, 3, F, H, W] in [−1, 1] → normalised latent: sampled spatial ×0.18215, sampled temporal
    per `chunk_frames` chunk, then (z − shift)/scale (spec §3.5, encode path)."""
    mean, logvar = spatial_encode(pipe.spatial_vae.module, x, micro_batch)
    z = (mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)) * SCALING_FACTOR
    parts = []
    for i in range(0, z.shape[2], chunk_frames):
        m, lv = temporal_encode(pipe.temporal_vae, z[:, :, i:i + chunk_frames])
        parts.append(m + torch.exp(0.5 * lv) * torch.randn(m.shape, generator=generator))
    z = torch.cat(parts, dim=2)
    return (z - pipe.shift) / pipe.scale if pipe.scale is not None else z
