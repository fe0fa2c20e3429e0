"""Write the default evaluation prompt set (eval/prompts.jsonl): every training (colour, shape, motion) with
an alternating background, plus every held-out combination with both backgrounds; or, with --paraphrased,
the same scenes in the caption templates' other phrasings (eval/prompts_paraphrased.jsonl).

    scripts/py -m export.world.eval_prompts [--out eval/prompts.jsonl]
    scripts/py -m export.world.eval_prompts --paraphrased --out eval/prompts_paraphrased.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from export.world.clips import BACKGROUNDS, COLORS, HELDOUT, MOTIONS, SHAPES
from export.world.captions import MOTION_PHRASES, OBJECT_TEMPLATES, SCENE_TEMPLATES, plain_caption


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


def paraphrase(item: dict, k: int) -> str:
    """Scene `item` in a non-plain phrasing: the k-th combination of object template, motion phrase (never
    "moving D") and scene template, cycling so that every template and phrase is used."""
    phrases = [p for p in MOTION_PHRASES[item["motion"]] if p != f"moving {item['motion']}"]
    obj = OBJECT_TEMPLATES[k % len(OBJECT_TEMPLATES)].format(c=item["color"], s=item["shape"],
                                                              m=phrases[k % len(phrases)])
    return SCENE_TEMPLATES[(k // len(OBJECT_TEMPLATES)) % len(SCENE_TEMPLATES)].format(o=obj, b=item["background"])


def paraphrased_set() -> list[dict]:
    """prompt_set() with every prompt rephrased by `paraphrase` (labels unchanged)."""
    return [{**item, "prompt": paraphrase(item, k)} for k, item in enumerate(prompt_set())]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write the default evaluation prompts.")
    ap.add_argument("--out", type=Path, default=Path("eval/prompts.jsonl"))
    ap.add_argument("--paraphrased", action="store_true", help="the templates' other phrasings")
    args = ap.parse_args(argv)
    tmp = args.out.with_suffix(".tmp")
    items = paraphrased_set() if args.paraphrased else prompt_set()
    tmp.write_text("".join(json.dumps(p) + "\n" for p in items))
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
