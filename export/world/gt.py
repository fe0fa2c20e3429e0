"""Write ground-truth clips of the world for the analyzer's tests: raw uint8 frames plus labels.

    scripts/py -m export.world.gt --out DIR [--n 240] [--seed 7] [--split all]

DIR/clip_0000.rgb ... (F·H·W·3 bytes, frame-major, RGB), DIR/labels.jsonl (one object a line: file, frames,
height, width, color, shape, motion, background, caption) and DIR/world.json (the palette and vocabularies).
Single-object clips only: labels name one object.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from export.train.default_model import WORLD
from export.world.clips import BACKGROUNDS, COLORS, MOTIONS, SHAPES, SPLITS, labels, render, sample_spec
from export.world.captions import caption


def write_ground_truth(out: Path, n: int, seed: int, split: str = "all") -> None:
    """Write `n` single-object clips of `split` into `out` (created; files written via temp + rename)."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 99])
    lines = []
    for i in range(n):
        spec = sample_spec(seed, i, split, WORLD, objects=1)
        name = f"clip_{i:04d}.rgb"
        tmp = out / (name + ".tmp")
        tmp.write_bytes(render(spec).tobytes())
        os.replace(tmp, out / name)
        lines.append(json.dumps({"file": name, "frames": spec.frames, "height": spec.height, "width": spec.width,
                                 **labels(spec), "caption": caption(spec, rng)}))
    world = {"colors": COLORS, "backgrounds": BACKGROUNDS, "shapes": list(SHAPES), "motions": list(MOTIONS)}
    for name, text in (("labels.jsonl", "\n".join(lines) + "\n"), ("world.json", json.dumps(world))):
        (out / (name + ".tmp")).write_text(text)
        os.replace(out / (name + ".tmp"), out / name)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write ground-truth world clips for the analyzer.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=240)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--split", default="all", choices=SPLITS)
    args = ap.parse_args(argv)
    write_ground_truth(args.out, args.n, args.seed, args.split)


if __name__ == "__main__":
    main()
