"""The world description the evaluation reads (schema odsora.world/1): palette, vocabularies and speeds.

    scripts/py -m export.world.world_json --out models/default/world.json

The analyzer names colours from the palette and decides whether an object moved from the world's speeds: an
object counts as moving only when it travelled at least half of the slowest displacement the world gives an
object over that many frames. The exporter writes this file beside the bundle (export_default.py) and
export/world/gt.py beside its ground-truth clips, so no speed is a constant on the TypeScript side.

`clips` lists every clip size the world draws (frames, height, width) with its travel range in pixels over
the whole clip; T = 1 images have no travel (null).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Sequence

from export.world.clips import BACKGROUNDS, COLORS, HELDOUT, MOTIONS, SHAPES, WorldConfig

SCHEMA = "odsora.world/1"


def travel_range(cfg: WorldConfig) -> tuple[float, float]:
    """An object's displacement range over a whole clip of `cfg` (pixels): speed x (frames - 1)."""
    return float(cfg.speed_range[0]) * (cfg.frames - 1), float(cfg.speed_range[1]) * (cfg.frames - 1)


def clip_entry(cfg: WorldConfig) -> dict:
    """One clip size of the world and the displacement range an object covers over it (pixels)."""
    moving = cfg.frames > 1
    lo, hi = travel_range(cfg)
    return {"frames": cfg.frames, "height": cfg.height, "width": cfg.width,
            "travel_min_px": lo if moving else None, "travel_max_px": hi if moving else None}


def world_json(configs: Sequence[WorldConfig]) -> dict:
    """The odsora.world/1 object for a world drawn at the sizes `configs`."""
    if not configs:
        raise ValueError("Cannot describe the world: no clip size given")
    return {"schema": SCHEMA, "colors": {k: list(v) for k, v in COLORS.items()},
            "backgrounds": {k: list(v) for k, v in BACKGROUNDS.items()}, "shapes": list(SHAPES),
            "motions": list(MOTIONS), "heldout": [list(h) for h in HELDOUT],
            "clips": [clip_entry(c) for c in configs]}


def write_world_json(path: Path, configs: Sequence[WorldConfig]) -> None:
    """Write world_json(configs) at `path` (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(world_json(configs)) + "\n")
    os.replace(tmp, path)


def trained_configs() -> list[WorldConfig]:
    """The clip sizes the default model is trained on at the world's frame rate (its buckets,
    export/train/buckets.py; a bucket at a frame interval shows those scenes at a lower frame rate, so it adds
    no clip size at the world's)."""
    from export.train.buckets import BUCKETS, bucket_world
    return [bucket_world(b) for b in BUCKETS if b.interval == 1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    write_world_json(args.out, trained_configs())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
