"""Open-Sora v1.2-style buckets for the default model: mixed lengths (images as T = 1) and mixed frame sizes.

Open-Sora v1.2 trains on buckets of (resolution, frame count) with a batch size per bucket, each batch drawn
from one bucket, so short time axes (and single images) are in distribution. The default model does the
same over the synthetic world: every bucket renders the world at its own length and size with the world's
speeds in pixels per frame (export/world/clips.py), so a longer clip travels further, never faster.

A bucket's latent length follows the temporal VAE: 17 pixel frames a chunk, 5 latent frames a chunk
(`latent_frames`): 1 frame → 1, 17 → 5, 34 → 10.

A bucket may take every `interval`-th frame of a longer clip (Open-Sora's data loader samples clips at a
frame interval, and its videos come at many frame rates): 17 frames at interval 2 show a 33-frame scene at
half the frame rate, the object moving twice as far between frames. That is the time axis TDTM's merging
makes of a 34-frame clip (10 latent frames averaged in pairs into 5), so the merged steps see a scene the
model was trained on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from export.train import default_model as dm
from export.world.clips import ClipSpec, WorldConfig, sample_spec, travel_fits


@dataclass(frozen=True)
class Bucket:
    """One (frames, height, width) bucket, its batch size, its probability weight and its frame interval."""
    frames: int
    height: int
    width: int
    batch: int
    weight: float
    interval: int = 1  # every interval-th frame of a (frames − 1)·interval + 1 frame scene

    @property
    def name(self) -> str:
        base = f"{self.frames}x{self.height}x{self.width}"
        return base if self.interval == 1 else f"{base}i{self.interval}"

    @property
    def scene_frames(self) -> int:
        """Frames of the world scene a clip of this bucket is taken from."""
        return (self.frames - 1) * self.interval + 1

    @property
    def frame_indices(self) -> list[int]:
        """The scene frames a clip of this bucket shows."""
        return list(range(0, self.scene_frames, self.interval))


# Batches hold about the same number of tokens (16 a 64x64 latent frame, 12 a 48x64 one). 34 frames at
# 48x64 is not a bucket: the world's fastest object cannot cross 48 pixels in 33 frames (travel_fits); nor
# is 17 frames at interval 2 at 48x64 (a 33-frame scene).
BUCKETS: tuple[Bucket, ...] = (
    Bucket(34, 64, 64, 16, 0.35),
    Bucket(17, 64, 64, 32, 0.15),
    Bucket(17, 48, 64, 32, 0.10),
    Bucket(1, 64, 64, 64, 0.15),
    Bucket(1, 48, 64, 64, 0.10),
    Bucket(17, 64, 64, 32, 0.15, interval=2),
)
INDEX_STRIDE = 10_000_000  # clip i of bucket b is world clip b·INDEX_STRIDE + i (disjoint clips per bucket)


def latent_frames(frames: int) -> int:
    """Latent frames of a `frames`-frame clip: 5 per 17-frame chunk, ceil(rest/4) for a partial chunk."""
    if frames < 1:
        raise ValueError(f"Cannot count latent frames: frames '{frames}' must be at least 1")
    q, r = divmod(frames, dm.CHUNK_FRAMES)
    return dm.CHUNK_LATENTS * q + (math.ceil(r / 4) if r else 0)


def bucket_world(bucket: Bucket, base: WorldConfig = dm.WORLD) -> WorldConfig:
    """The world config of `bucket`'s scenes (the base world's objects and speeds at the bucket's scene length
    and size; a bucket with a frame interval shows every interval-th frame of these scenes)."""
    cfg = replace(base, frames=bucket.scene_frames, height=bucket.height, width=bucket.width)
    if not travel_fits(cfg):
        raise ValueError(f"Cannot use bucket '{bucket.name}': the world's speeds do not fit its canvas")
    if bucket.height % 16 or bucket.width % 16:
        raise ValueError(f"Cannot use bucket '{bucket.name}': height and width must be multiples of 16 "
                         "(8x VAE, 2x2 patches)")
    return cfg


def bucket_spec(seed: int, bucket_index: int, clip: int, buckets: tuple[Bucket, ...] = BUCKETS) -> ClipSpec:
    """The scene of training clip `clip` of bucket `bucket_index` (deterministic); render its
    `frame_indices`."""
    return sample_spec(seed, bucket_index * INDEX_STRIDE + clip, "train", bucket_world(buckets[bucket_index]))


def pick_bucket(rng: np.random.Generator, buckets: tuple[Bucket, ...] = BUCKETS) -> int:
    """The bucket of one training step, drawn by weight."""
    w = np.asarray([b.weight for b in buckets], dtype=np.float64)
    return int(rng.choice(len(buckets), p=w / w.sum()))

