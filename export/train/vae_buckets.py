"""The VAE's bucket phase: the temporal VAE and spatial decoder fine-tuned on single images and other sizes.

The first VAE saw 17-frame 64x64 clips only; Open-Sora v1.2's VAE also encodes images (T = 1, padded to one
latent frame) and any size. This phase trains the joint objective (export/train/vae_steps.py, clip_loss) on one
bucket a step. A 34-frame clip is two 17-frame chunks, so the VAE's buckets stop at 17 frames.
"""
from __future__ import annotations

import numpy as np
import torch

from export.models.vae import VideoAutoencoderPipeline, pipeline_decode
from export.train import default_model as dm
from export.train.buckets import Bucket, bucket_spec, pick_bucket
from export.train.common import psnr, step_rng, video_tensor
from export.train.vae_steps import EVAL_PHASE, clip_loss, encode_clips
from export.world.clips import render

VAE_BUCKETS: tuple[Bucket, ...] = (
    Bucket(17, 64, 64, 2, 0.2),
    Bucket(17, 48, 64, 2, 0.3),
    Bucket(1, 64, 64, 12, 0.3),
    Bucket(1, 48, 64, 12, 0.2),
)
BUCKET_PHASE = 3  # rng phase id (after spatial, temporal, joint)
PIXEL_FRAMES = 4  # frames a clip decoded for the pixel loss (an image decodes its one frame)


def bucket_step(vae: VideoAutoencoderPipeline, seed: int, step: int, device: torch.device,
                buckets: tuple[Bucket, ...] = VAE_BUCKETS) -> dict[str, torch.Tensor]:
    """One joint step on a batch of one bucket (drawn by weight from the step's generator)."""
    rng, gen = step_rng(seed, BUCKET_PHASE, step)
    bi = pick_bucket(rng, buckets)
    specs = [bucket_spec(seed, bi, int(i), buckets) for i in rng.integers(0, 2**31 - 1, size=buckets[bi].batch)]
    x = video_tensor(np.stack([render(s, buckets[bi].frame_indices) for s in specs])).to(device)
    return clip_loss(vae, x, rng, gen, device, joint=True, pixel_frames=PIXEL_FRAMES)


@torch.no_grad()
def bucket_psnr(vae: VideoAutoencoderPipeline, seed: int, bucket_index: int, device: torch.device,
                buckets: tuple[Bucket, ...], clips: int = 8) -> float:
    """Full encode → decode PSNR (dB) of `clips` validation clips of one bucket."""
    rng, _ = step_rng(seed, EVAL_PHASE, 2 + bucket_index)
    specs = [bucket_spec(seed + 1, bucket_index, int(i), buckets) for i in rng.integers(0, 2**31 - 1, size=clips)]
    x = video_tensor(np.stack([render(s, buckets[bucket_index].frame_indices) for s in specs])).to(device)
    rec = pipeline_decode(vae, encode_clips(vae, x), x.shape[2], chunk_latents=dm.CHUNK_LATENTS,
                          chunk_frames=dm.CHUNK_FRAMES, micro_batch=None)
    return psnr(rec, x)
