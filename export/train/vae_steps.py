"""One optimisation step of each VAE training phase, plus the VAE's evaluation and latent statistics."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from export.train import default_model as dm
from export.train.common import psnr, step_rng, video_tensor
from export.models.vae import SCALING_FACTOR, VideoAutoencoderPipeline, diagonal_gaussian, pipeline_decode, spatial_encode
from export.world.clips import random_specs, render

KL_WEIGHT = 1e-5
FOREGROUND_WEIGHT = 10.0  # extra loss weight on object pixels (a few % of the frame; colour and shape live there)
EVAL_PHASE = 1000  # rng phase id for validation clips (never used by a training step)


def _kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.mean(mean ** 2 + logvar.exp() - 1.0 - logvar)


def _pixel_loss(rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """MSE + L1/2 on images [N, 3, H, W], object pixels (unlike the corner pixel, the background) weighted up."""
    fg = ((x - x[:, :, :1, :1]).abs().amax(dim=1, keepdim=True) > 0.04).float()
    w = 1.0 + FOREGROUND_WEIGHT * fg
    err = rec - x
    return torch.mean(w * (err ** 2 + 0.5 * err.abs())) / torch.mean(w)


def spatial_step(vae: VideoAutoencoderPipeline, rng: np.random.Generator, gen: torch.Generator, batch: int,
                 device: torch.device) -> dict[str, torch.Tensor]:
    """Reconstruct `batch` random frames through the spatial AutoencoderKL (sampled posterior)."""
    specs = random_specs(rng, batch, int(rng.integers(2**31)), "train", dm.WORLD)
    frames = np.stack([render(s, [int(rng.integers(s.frames))])[0] for s in specs])
    x = video_tensor(frames[:, None])[:, :, 0].to(device)
    ae = vae.spatial_vae.module
    mean, logvar, std = diagonal_gaussian(ae.encode(x))
    z = mean + std * torch.randn(mean.shape, generator=gen).to(device)
    rec = ae.decode(z)
    pix, kl = _pixel_loss(rec, x), _kl(mean, logvar)
    return {"loss": pix + KL_WEIGHT * kl, "pixel": pix.detach(), "kl": kl.detach()}


def temporal_step(vae: VideoAutoencoderPipeline, rng: np.random.Generator, gen: torch.Generator, batch: int,
                  device: torch.device, joint: bool) -> dict[str, torch.Tensor]:
    """Temporal VAE on spatial latents of `batch` clips: latent MSE + pixel loss through the spatial decoder."""
    specs = random_specs(rng, batch, int(rng.integers(2**31)), "train", dm.WORLD)
    x = video_tensor(np.stack([render(s) for s in specs])).to(device)
    return clip_loss(vae, x, rng, gen, device, joint)


def clip_loss(vae: VideoAutoencoderPipeline, x: torch.Tensor, rng: np.random.Generator, gen: torch.Generator,
              device: torch.device, joint: bool, pixel_frames: int | None = None) -> dict[str, torch.Tensor]:
    """The temporal/joint loss of clips x [B, 3, F, H, W] (F ≤ one temporal chunk; F = 1 is an image).

    The pixel loss decodes `pixel_frames` random frames a clip (all when joint, 4 otherwise, by default)."""
    with torch.no_grad():
        zs = spatial_encode(vae.spatial_vae.module, x)[0] * SCALING_FACTOR
    tv = vae.temporal_vae
    mean, logvar, std = diagonal_gaussian(tv.encode(zs))
    z = mean + std * torch.randn(mean.shape, generator=gen).to(device)
    nf = zs.shape[2]
    rec = tv.decode(z)[:, :, (-nf) % tv.time_factor:]
    lat = F.mse_loss(rec, zs) / zs.var().clamp_min(1e-6)
    n_pix = min(nf, pixel_frames or (nf if joint else 4))
    idx = torch.from_numpy(np.sort(rng.choice(nf, size=n_pix, replace=False))).to(device)
    dec = vae.spatial_vae.module.decode(
        rec.index_select(2, idx).permute(0, 2, 1, 3, 4).flatten(0, 1) / SCALING_FACTOR)
    target = x.index_select(2, idx).permute(0, 2, 1, 3, 4).flatten(0, 1)
    pix, kl = _pixel_loss(dec, target), _kl(mean, logvar)
    return {"loss": (0.1 if joint else 1.0) * lat + pix + KL_WEIGHT * kl, "latent": lat.detach(),
            "pixel": pix.detach(), "kl": kl.detach()}


@torch.no_grad()
def encode_clips(vae: VideoAutoencoderPipeline, x: torch.Tensor) -> torch.Tensor:
    """Video [B, 3, F, H, W] → normalised latent means [B, 4, t, h, w] (one temporal chunk per 17 frames)."""
    zs = spatial_encode(vae.spatial_vae.module, x)[0] * SCALING_FACTOR
    parts = [diagonal_gaussian(vae.temporal_vae.encode(zs[:, :, i:i + dm.CHUNK_FRAMES]))[0]
             for i in range(0, zs.shape[2], dm.CHUNK_FRAMES)]
    return (torch.cat(parts, dim=2) - vae.shift) / vae.scale


@torch.no_grad()
def reconstruction_psnr(vae: VideoAutoencoderPipeline, seed: int, device: torch.device, full: bool,
                        clips: int = 16) -> float:
    """PSNR (dB) of validation clips through the spatial AE alone or the full encode → decode pipeline."""
    rng, _ = step_rng(seed, EVAL_PHASE, 0)
    specs = random_specs(rng, clips, seed + 1, "all", dm.WORLD)
    x = video_tensor(np.stack([render(s) for s in specs])).to(device)
    if full:
        rec = pipeline_decode(vae, encode_clips(vae, x), x.shape[2], chunk_latents=dm.CHUNK_LATENTS,
                              chunk_frames=dm.CHUNK_FRAMES, micro_batch=None)
    else:
        ae = vae.spatial_vae.module
        frames = x.permute(0, 2, 1, 3, 4).flatten(0, 1)
        rec = ae.decode(diagonal_gaussian(ae.encode(frames))[0]).unflatten(0, x.shape[:1] + x.shape[2:3])
        rec = rec.permute(0, 2, 1, 3, 4)
    return psnr(rec, x)


@torch.no_grad()
def latent_stats(vae: VideoAutoencoderPipeline, seed: int, device: torch.device, clips: int = 256
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the un-normalised temporal latents of `clips` training clips."""
    rng, _ = step_rng(seed, EVAL_PHASE, 1)
    shift, scale = vae.shift.clone(), vae.scale.clone()
    vae.shift.zero_()
    vae.scale.fill_(1.0)
    zs = []
    for i in range(0, clips, 16):
        specs = random_specs(rng, 16, seed + 2 + i, "train", dm.WORLD)
        zs.append(encode_clips(vae, video_tensor(np.stack([render(s) for s in specs])).to(device)).cpu())
    vae.shift.copy_(shift)
    vae.scale.copy_(scale)
    z = torch.cat(zs).transpose(0, 1).flatten(1)
    return z.mean(dim=1), z.std(dim=1)
