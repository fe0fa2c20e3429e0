"""Write the default evaluation prompt set (eval/prompts.jsonl): every training (colour, shape, motion) with
an alternating background, plus every held-out combination with both backgrounds.

    scripts/py -m export.world.eval_prompts [--out eval/prompts.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from export.world.clips import BACKGROUNDS, COLORS, HELDOUT, MOTIONS, SHAPES
from export.world.captions import plain_caption


def prompt_set() -> list[dict]:
    """The prompt objects: {prompt, color, shape, motion, background, heldout}."""
    items = []
    backgrounds = list(BACKGROUNDS)
    k = 0
    for color in COLORS:
        for shape in SHAPES:
            for motion in MOTIONS:
                held = (color, shape) in HELDOUT
                for b in (backgrounds if held else [backgrounds[k % len(backgrounds)]]):
                    items.append({"prompt": plain_caption(color, shape, motion, b), "color": color, "shape": shape,
                                  "motion": motion, "background": b, "heldout": held})
                k += 1
    return items


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write the default evaluation prompts.")
    ap.add_argument("--out", type=Path, default=Path("eval/prompts.jsonl"))
    args = ap.parse_args(argv)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(p) + "\n" for p in prompt_set()))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
