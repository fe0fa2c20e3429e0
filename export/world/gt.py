"""Write ground-truth clips of the world for the analyzer's tests: raw uint8 frames plus labels.

    scripts/py -m export.world.gt --out DIR [--n 240] [--seed 7] [--split all] [--frames 17] [--height 64]
                                  [--width 64]

DIR/clip_0000.rgb ... (F·H·W·3 bytes, frame-major, RGB), DIR/labels.jsonl (one object a line: file, frames,
height, width, color, shape, motion, background, caption) and DIR/world.json (export/world/world_json.py: the
palette, vocabularies and the speeds of this clip size). Single-object clips only: labels name one object.
A T = 1 clip (an image) cannot show motion: its label's motion is "still".
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import dataclasses

import numpy as np

from export.train.default_model import WORLD
from export.world.clips import SPLITS, WorldConfig, labels, render, sample_spec
from export.world.captions import caption
from export.world.world_json import write_world_json


def write_ground_truth(out: Path, n: int, seed: int, split: str = "all", cfg: WorldConfig = WORLD) -> None:
    """Write `n` single-object clips of `split` at `cfg`'s size into `out` (created; temp files + rename)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 99])
    lines = []
    for i in range(n):
        spec = sample_spec(seed, i, split, cfg, objects=1)
        name = f"clip_{i:04d}.rgb"
        tmp = out / (name + ".tmp")
        tmp.write_bytes(render(spec).tobytes())
        os.replace(tmp, out / name)
        label = labels(spec)
        if spec.frames == 1:
            label["motion"] = "still"
        lines.append(json.dumps({"file": name, "frames": spec.frames, "height": spec.height, "width": spec.width,
                                 **label, "caption": caption(spec, rng)}))
    write_world_json(out / "world.json", [cfg])
    (out / "labels.jsonl.tmp").write_text("\n".join(lines) + "\n")
    os.replace(out / "labels.jsonl.tmp", out / "labels.jsonl")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write ground-truth world clips for the analyzer.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=240)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--split", default="all", choices=SPLITS)
    ap.add_argument("--frames", type=int, default=WORLD.frames)
    ap.add_argument("--height", type=int, default=WORLD.height)
    ap.add_argument("--width", type=int, default=WORLD.width)
    args = ap.parse_args(argv)
    cfg = dataclasses.replace(WORLD, frames=args.frames, height=args.height, width=args.width)
    write_ground_truth(args.out, args.n, args.seed, args.split, cfg)


if __name__ == "__main__":
    main()
