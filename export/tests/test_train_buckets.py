"""The bucket sampler: latent lengths, the world at every bucket's length and size, weights, validation."""
from __future__ import annotations

import numpy as np
import pytest

from export.train.buckets import BUCKETS, Bucket, bucket_spec, bucket_world, latent_frames, pick_bucket
from export.world.clips import MOTIONS, render


def test_latent_frames_follow_the_temporal_vae() -> None:
    assert [latent_frames(f) for f in (1, 16, 17, 34, 51)] == [1, 4, 5, 10, 15]
    with pytest.raises(ValueError, match="Cannot count latent frames"):
        latent_frames(0)


def test_buckets_hold_images_two_lengths_and_two_sizes() -> None:
    assert {b.frames for b in BUCKETS} >= {1, 17, 34}
    assert len({(b.height, b.width) for b in BUCKETS}) >= 2
    assert max(latent_frames(b.frames) for b in BUCKETS) >= 10


@pytest.mark.parametrize("bi", range(len(BUCKETS)))
def test_every_bucket_renders_its_size_and_the_worlds_speed_per_frame(bi: int) -> None:
    b = BUCKETS[bi]
    cfg = bucket_world(b)
    for i in range(40):
        spec = bucket_spec(3, bi, i)
        frames = render(spec, b.frame_indices)
        assert frames.shape == (b.frames, b.height, b.width, 3)
        for o in spec.objects:
            dx, dy = o.end[0] - o.start[0], o.end[1] - o.start[1]
            ux, uy = MOTIONS[o.motion]
            # the world's speed per scene frame; a clip at interval k moves k times as far between its frames
            speed = (dx * ux + dy * uy) / max(b.scene_frames - 1, 1)
            if b.frames > 1:
                assert cfg.speed_range[0] - 1e-6 <= speed <= cfg.speed_range[1] + 1e-6
            else:
                assert (dx, dy) == (0.0, 0.0)
            for x, y in (o.start, o.end):
                assert o.r <= x <= b.width - o.r and o.r <= y <= b.height - o.r


def test_an_interval_bucket_shows_every_other_frame_of_a_longer_scene() -> None:
    # TDTM's merged time axis of a 34-frame clip: 5 latent frames of a scene twice as long as 17 frames
    b = next(b for b in BUCKETS if b.interval == 2)
    assert (b.frames, b.scene_frames, b.frame_indices[:3], b.frame_indices[-1]) == (17, 33, [0, 2, 4], 32)
    assert latent_frames(b.frames) == 5 and b.name == "17x64x64i2"
    bi = BUCKETS.index(b)
    spec = bucket_spec(1, bi, 0)
    assert spec.frames == 33
    assert np.array_equal(render(spec, b.frame_indices), render(spec)[::2])


def test_buckets_draw_different_clips_and_the_same_clip_twice() -> None:
    assert bucket_spec(0, 0, 5) == bucket_spec(0, 0, 5)
    assert bucket_spec(0, 0, 5).objects != bucket_spec(0, 1, 5).objects


def test_pick_bucket_follows_the_weights() -> None:
    rng = np.random.default_rng(0)
    counts = np.bincount([pick_bucket(rng) for _ in range(20000)], minlength=len(BUCKETS)) / 20000
    w = np.array([b.weight for b in BUCKETS])
    assert np.allclose(counts, w / w.sum(), atol=0.015)


def test_a_bucket_the_world_cannot_fill_is_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        bucket_world(Bucket(34, 48, 64, 16, 1.0))
    with pytest.raises(ValueError, match="multiples of 16"):
        bucket_world(Bucket(17, 56, 64, 16, 1.0))

