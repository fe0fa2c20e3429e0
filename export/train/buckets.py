"""Open-Sora v1.2-style buckets for the default model: mixed lengths (images as T = 1) and mixed frame sizes.

Open-Sora v1.2 trains on buckets of (resolution, frame count) with a batch size per bucket, each batch drawn
from one bucket, so short time axes (and single images) are in distribution. The default model does the
same over the synthetic world: every bucket renders the world at its own length and size with the world's
speeds in pixels per frame (export/world/clips.py), so a longer clip travels further, never faster.

A bucket's latent length follows the temporal VAE: 17 pixel frames a chunk, 5 latent frames a chunk
(`latent_frames`): 1 frame → 1, 17 → 5, 34 → 10.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from export.train import default_model as dm
from export.world.clips import ClipSpec, WorldConfig, sample_spec, travel_fits


@dataclass(frozen=True)
class Bucket:
    """One (frames, height, width) bucket, its batch size and its probability weight."""
    frames: int
    height: int
    width: int
    batch: int
    weight: float

    @property
    def name(self) -> str:
        return f"{self.frames}x{self.height}x{self.width}"


# Batches hold about the same number of tokens (16 a 64x64 latent frame, 12 a 48x64 one). 34 frames at
# 48x64 is not a bucket: the world's fastest object cannot cross 48 pixels in 33 frames (travel_fits).
BUCKETS: tuple[Bucket, ...] = (
    Bucket(34, 64, 64, 16, 0.40),
    Bucket(17, 64, 64, 32, 0.20),
    Bucket(17, 48, 64, 32, 0.15),
    Bucket(1, 64, 64, 64, 0.15),
    Bucket(1, 48, 64, 64, 0.10),
)
INDEX_STRIDE = 10_000_000  # clip i of bucket b is world clip b·INDEX_STRIDE + i (disjoint clips per bucket)


def latent_frames(frames: int) -> int:
    """Latent frames of a `frames`-frame clip: 5 per 17-frame chunk, ceil(rest/4) for a partial chunk."""
    if frames < 1:
        raise ValueError(f"Cannot count latent frames: frames '{frames}' must be at least 1")
    q, r = divmod(frames, dm.CHUNK_FRAMES)
    return dm.CHUNK_LATENTS * q + (math.ceil(r / 4) if r else 0)


def bucket_world(bucket: Bucket, base: WorldConfig = dm.WORLD) -> WorldConfig:
    """The world config of `bucket` (the base world's objects and speeds at the bucket's length and size)."""
    cfg = replace(base, frames=bucket.frames, height=bucket.height, width=bucket.width)
    if not travel_fits(cfg):
        raise ValueError(f"Cannot use bucket '{bucket.name}': the world's speeds do not fit its canvas")
    if bucket.height % 16 or bucket.width % 16:
        raise ValueError(f"Cannot use bucket '{bucket.name}': height and width must be multiples of 16 "
                         "(8x VAE, 2x2 patches)")
    return cfg


def bucket_spec(seed: int, bucket_index: int, clip: int, buckets: tuple[Bucket, ...] = BUCKETS) -> ClipSpec:
    """Training clip `clip` of bucket `bucket_index` (deterministic)."""
    return sample_spec(seed, bucket_index * INDEX_STRIDE + clip, "train", bucket_world(buckets[bucket_index]))


def pick_bucket(rng: np.random.Generator, buckets: tuple[Bucket, ...] = BUCKETS) -> int:
    """The bucket of one training step, drawn by weight."""
    w = np.asarray([b.weight for b in buckets], dtype=np.float64)
    return int(rng.choice(len(buckets), p=w / w.sum()))

