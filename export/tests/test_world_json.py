"""export/world/world_json.py: the world description the evaluation reads."""
from __future__ import annotations

import dataclasses
import json

from export.train.default_model import WORLD
from export.world.clips import BACKGROUNDS, COLORS, sample_spec
from export.world.world_json import SCHEMA, clip_entry, trained_configs, world_json, write_world_json


def test_world_json_lists_palette_and_every_trained_clip_size(tmp_path) -> None:
    path = tmp_path / "world.json"
    write_world_json(path, trained_configs())
    doc = json.loads(path.read_text())
    assert doc["schema"] == SCHEMA
    assert doc["colors"] == {k: list(v) for k, v in COLORS.items()}
    assert doc["backgrounds"] == {k: list(v) for k, v in BACKGROUNDS.items()}
    assert any(c["frames"] > 1 and c["travel_min_px"] > 0 for c in doc["clips"])


def test_travel_min_is_the_slowest_displacement_the_world_draws() -> None:
    for frames in sorted({c.frames for c in trained_configs()} - {1}):
        cfg = dataclasses.replace(WORLD, frames=frames)
        entry = clip_entry(cfg)
        for i in range(200):
            o = sample_spec(3, i, "all", cfg, objects=1).objects[0]
            moved = abs(o.end[0] - o.start[0]) + abs(o.end[1] - o.start[1])
            assert entry["travel_min_px"] - 1e-6 <= moved <= entry["travel_max_px"] + 1e-6


def test_images_have_no_travel() -> None:
    entry = world_json([dataclasses.replace(WORLD, frames=1)])["clips"][0]
    assert entry["frames"] == 1 and entry["travel_min_px"] is None
