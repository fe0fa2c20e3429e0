"""The DiT's training set: latents of the world's training clips, encoded once by the trained VAE and cached.

Clip i of the set is `sample_spec(data_seed, i, "train")`; its caption is drawn afresh every time it is
used; `bucket_latents` does the same for each bucket of export/train/buckets.py. The cache (float32
[N, 4, t, h, w], temporal posterior means, normalised by scale/shift) lives in `.odsora-cache/` and is
rebuilt whenever the VAE weights, the world's config or the clip count change.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from export.train import default_model as dm
from export.train.buckets import Bucket, bucket_spec, bucket_world
from export.train.common import video_tensor
from export.models.vae import VideoAutoencoderPipeline
from export.train.vae_steps import encode_clips
from export.world.clips import ClipSpec, WorldConfig, render, sample_spec

CACHE_DIR = Path(".odsora-cache")


def print_fields(**fields: object) -> None:
    """The default `log`: one line of key=value pairs (the trainers pass their jsonl `Log`)."""
    print(" ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def vae_digest(vae: VideoAutoencoderPipeline) -> str:
    """A short hash of the VAE's weights (the cache key)."""
    h = hashlib.sha256()
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def world_digest(cfg: WorldConfig) -> str:
    """A short hash of a world config (part of the cache key: a changed world renders other clips)."""
    return hashlib.sha256(repr(cfg).encode()).hexdigest()[:8]


def training_latents(vae: VideoAutoencoderPipeline, clips: int, data_seed: int, device: torch.device,
                     log=print_fields, batch: int = 16) -> torch.Tensor:
    """Latents [clips, 4, t, h, w] of training clips 0..clips−1, from the cache when it matches."""
    return cached_latents(vae, lambda i: sample_spec(data_seed, i, "train", dm.WORLD), clips, device,
                          f"s{data_seed}_w{world_digest(dm.WORLD)}_n{clips}", log, batch)


def bucket_latents(vae: VideoAutoencoderPipeline, bucket_index: int, buckets: tuple[Bucket, ...], clips: int,
                   data_seed: int, device: torch.device, log=print_fields, batch: int = 16) -> torch.Tensor:
    """Latents of clips 0..clips−1 of one bucket (buckets.bucket_spec), from the cache when it matches."""
    b = buckets[bucket_index]
    key = f"b{bucket_index}_{b.name}_s{data_seed}_w{world_digest(bucket_world(b))}_n{clips}"
    return cached_latents(vae, lambda i: bucket_spec(data_seed, bucket_index, i, buckets), clips, device, key, log,
                          batch, frames=b.frame_indices)


def cached_latents(vae: VideoAutoencoderPipeline, spec_of: Callable[[int], ClipSpec], clips: int,
                   device: torch.device, key: str, log=print_fields, batch: int = 16,
                   frames: list[int] | None = None) -> torch.Tensor:
    """Latents of clips spec_of(0..clips−1) (their `frames`, default all), cached in CACHE_DIR under the VAE's
    digest and `key`."""
    path = CACHE_DIR / f"default_latents_{vae_digest(vae)}_{key}.pt"
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    vae.eval()
    out = []
    for start in range(0, clips, batch):
        specs = [spec_of(i) for i in range(start, min(start + batch, clips))]
        x = video_tensor(np.stack([render(s, frames) for s in specs])).to(device)
        out.append(encode_clips(vae, x).cpu())
        if (start // batch) % 25 == 0:
            log(event="encode", key=key, clips=start + len(specs), of=clips)
    z = torch.cat(out)
    CACHE_DIR.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(z, tmp)
    os.replace(tmp, path)
    return z
