"""Captions for the synthetic world: the plain evaluation phrasing plus varied templates and synonyms.

The plain phrasing "a {color} {shape} moving {motion} on a {background} background" is what prompt files
use, so training draws it often (`PLAIN_PROB`); the other templates teach the text encoder that different
words describe the same scene.
"""
from __future__ import annotations

import numpy as np

from export.world.clips import ClipSpec, ObjectSpec

PLAIN_PROB = 0.4

MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("moving left", "moving to the left", "drifting left", "sliding left", "gliding leftward",
             "travelling left"),
    "right": ("moving right", "moving to the right", "drifting right", "sliding right", "gliding rightward",
              "travelling right"),
    "up": ("moving up", "moving upward", "drifting upward", "rising", "floating up", "gliding upward"),
    "down": ("moving down", "moving downward", "drifting downward", "falling", "sinking", "gliding downward"),
}

# {o} is the object phrase ("a red circle moving left"), {b} the background name.
SCENE_TEMPLATES: tuple[str, ...] = (
    "{o} on a {b} background",
    "{o} over a {b} backdrop",
    "{o} , {b} background",
    "on a {b} background , {o}",
    "video of {o} on {b}",
    "{o} across a plain {b} background",
)

# {c} colour, {s} shape, {m} motion phrase.
OBJECT_TEMPLATES: tuple[str, ...] = ("a {c} {s} {m}", "{c} {s} {m}", "a {s} in {c} {m}", "one {c} {s} {m}")


def plain_caption(color: str, shape: str, motion: str, background: str) -> str:
    """The plain phrasing used by prompt files (always among the training captions)."""
    return f"a {color} {shape} moving {motion} on a {background} background"


def _object_phrase(o: ObjectSpec, rng: np.random.Generator) -> str:
    template = OBJECT_TEMPLATES[int(rng.integers(len(OBJECT_TEMPLATES)))]
    phrases = MOTION_PHRASES[o.motion]
    return template.format(c=o.color, s=o.shape, m=phrases[int(rng.integers(len(phrases)))])


def caption(spec: ClipSpec, rng: np.random.Generator) -> str:
    """A caption for `spec` drawn from the templates with `rng` (plain phrasing with PLAIN_PROB)."""
    if len(spec.objects) == 1 and rng.random() < PLAIN_PROB:
        o = spec.objects[0]
        return plain_caption(o.color, o.shape, o.motion, spec.background)
    obj = " and ".join(_object_phrase(o, rng) for o in spec.objects)
    scene = SCENE_TEMPLATES[int(rng.integers(len(SCENE_TEMPLATES)))]
    return scene.format(o=obj, b=spec.background)


def vocabulary() -> list[str]:
    """Every word any caption can contain, sorted (the word-level tokenizer's vocabulary)."""
    from export.world.clips import BACKGROUNDS, COLORS, MOTIONS, SHAPES
    words: set[str] = set()
    texts = [t for t in SCENE_TEMPLATES + OBJECT_TEMPLATES]
    texts += [p for ps in MOTION_PHRASES.values() for p in ps]
    texts += [plain_caption(c, s, m, b) for c in COLORS for s in SHAPES for m in MOTIONS for b in BACKGROUNDS]
    texts += ["and"]
    for t in texts:
        for w in t.replace("{o}", " ").replace("{b}", " ").replace("{c}", " ").replace("{s}", " ") \
                .replace("{m}", " ").split():
            words.add(w.lower())
    words.update(COLORS, SHAPES, MOTIONS, BACKGROUNDS)
    return sorted(words)
