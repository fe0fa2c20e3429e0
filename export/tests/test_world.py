"""The synthetic world: deterministic clips, held-out combinations, geometry, captions, tokenizer."""
from __future__ import annotations

import numpy as np
import pytest

from export.world.tokenizer_words import build_tokenizer, encode
from export.world.clips import (BACKGROUNDS, COLORS, HELDOUT, MOTIONS, SHAPES, WorldConfig, render, sample_spec)
from export.world.captions import caption, plain_caption, vocabulary
from export.world.render import coverage


def test_sample_spec_is_deterministic_and_seed_dependent() -> None:
    a = [sample_spec(3, i) for i in range(20)]
    assert a == [sample_spec(3, i) for i in range(20)]
    assert a != [sample_spec(4, i) for i in range(20)]
    assert np.array_equal(render(a[0]), render(sample_spec(3, 0)))


def test_train_split_never_contains_heldout_combinations() -> None:
    seen = set()
    for i in range(3000):
        for o in sample_spec(0, i, "train").objects:
            assert (o.color, o.shape) not in HELDOUT
            seen.add((o.color, o.shape, o.motion))
    assert len(seen) == len(COLORS) * len(SHAPES) * len(MOTIONS) - len(HELDOUT) * len(MOTIONS)
    held = {(o.color, o.shape) for i in range(200) for o in sample_spec(0, i, "heldout").objects}
    assert held == set(HELDOUT)


def test_objects_stay_inside_the_frame_and_move_their_way() -> None:
    cfg = WorldConfig()
    for i in range(500):
        spec = sample_spec(1, i, "all", cfg)
        for o in spec.objects:
            for x, y in (o.start, o.end):
                assert o.r <= x <= cfg.width - o.r and o.r <= y <= cfg.height - o.r
            dx, dy = o.end[0] - o.start[0], o.end[1] - o.start[1]
            ux, uy = MOTIONS[o.motion]
            assert dx * ux + dy * uy >= cfg.speed_range[0] * (cfg.frames - 1) - 1e-6 and (dx * uy == 0 and dy * ux == 0)


@pytest.mark.parametrize("shape, fill", [("circle", np.pi / 4), ("square", 1.0), ("triangle", 0.5)])
def test_shape_coverage_fills_its_box_as_expected(shape: str, fill: float) -> None:
    cov = coverage(shape, 32.0, 32.0, 10.0, 64, 64)
    assert cov.sum() / 400.0 == pytest.approx(fill, rel=0.02)


def test_render_draws_object_colour_on_background() -> None:
    spec = sample_spec(2, 5, "all", objects=1)
    frames = render(spec)
    assert frames.shape == (spec.frames, spec.height, spec.width, 3) and frames.dtype == np.uint8
    assert tuple(frames[0, 0, 0]) == BACKGROUNDS[spec.background]
    o = spec.objects[0]
    assert tuple(frames[0, int(o.start[1]), int(o.start[0])]) == COLORS[o.color]
    assert tuple(frames[-1, int(o.end[1]), int(o.end[0])]) == COLORS[o.color]


def test_captions_use_known_words_and_include_the_plain_phrasing() -> None:
    tok = build_tokenizer()
    rng = np.random.default_rng(0)
    caps = [caption(sample_spec(0, i), rng) for i in range(400)]
    plains = {plain_caption(**{k: v for k, v in _labels(sample_spec(0, i)).items()}) for i in range(400)}
    assert plains & set(caps)
    unk = tok.token_to_id("<unk>")
    for c in caps:
        assert unk not in tok.encode(c).ids
    assert set(vocabulary()) >= set(COLORS) | set(SHAPES) | set(MOTIONS)


def test_tokenizer_lowercases_appends_eos_and_pads() -> None:
    tok = build_tokenizer()
    ids, mask = encode(tok, ["A Red circle", "a red circle moving left on a black background"], 6)
    assert ids[0].tolist()[:4] == [tok.token_to_id("a"), tok.token_to_id("red"), tok.token_to_id("circle"), 1]
    assert ids[0].tolist()[4:] == [0, 0] and mask[0].tolist() == [1, 1, 1, 1, 0, 0]
    assert ids[1].tolist()[-1] == 1 and mask[1].tolist() == [1] * 6


def _labels(spec) -> dict:
    o = spec.objects[0]
    return {"color": o.color, "shape": o.shape, "motion": o.motion, "background": spec.background}
