"""The synthetic video world the default model is trained on: one or two shapes moving on a flat background.

A clip is fully described by a `ClipSpec` (background, objects with shape/colour/motion/size/path), drawn
deterministically from (seed, index, split). Some (colour, shape) combinations are held out of the training
split entirely, so the evaluation can test generalisation to unseen combinations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from export.world.render import coverage, paint, to_uint8

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230),
    "yellow": (235, 215, 40), "white": (240, 240, 240),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {"black": (0, 0, 0), "gray": (120, 120, 120)}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
MOTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
HELDOUT: tuple[tuple[str, str], ...] = (("yellow", "triangle"), ("blue", "square"))
SPLITS = ("train", "heldout", "all")
# Pixels per frame. 1.15 is the fastest a 34-frame clip can move across 64 pixels with the largest object.
SPEED_RANGE: tuple[float, float] = (0.75, 1.15)


@dataclass(frozen=True)
class ObjectSpec:
    """One object: what it is and where it is at the first and the last frame (pixel centre)."""
    shape: str
    color: str
    motion: str
    r: float
    start: tuple[float, float]
    end: tuple[float, float]


@dataclass(frozen=True)
class ClipSpec:
    """A whole clip: canvas size, frame count, background and objects (drawn in order)."""
    frames: int
    height: int
    width: int
    background: str
    objects: tuple[ObjectSpec, ...]


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and sampling ranges of the world (pixels; speed in pixels per frame, so a clip of F frames
    travels speed·(F − 1) and every length and size shows the world's speeds)."""
    frames: int = 17
    height: int = 64
    width: int = 64
    r_range: tuple[float, float] = (8.0, 12.0)
    speed_range: tuple[float, float] = SPEED_RANGE
    two_object_prob: float = 0.1
    heldout: tuple[tuple[str, str], ...] = field(default=HELDOUT)


def _sample_object(rng: np.random.Generator, cfg: WorldConfig, color: str, shape: str) -> ObjectSpec:
    motion = str(rng.choice(list(MOTIONS)))
    r = float(rng.uniform(*cfg.r_range))
    travel = float(rng.uniform(*cfg.speed_range)) * max(cfg.frames - 1, 0)
    dx, dy = MOTIONS[motion]
    margin = r + 1.0

    def axis(d: int, size: int) -> tuple[float, float]:
        lo, hi = margin, size - margin
        if d == 0:
            c = float(rng.uniform(lo, hi))
            return c, c
        a = float(rng.uniform(lo + travel, hi)) if d < 0 else float(rng.uniform(lo, hi - travel))
        return a, a + d * travel

    x0, x1 = axis(dx, cfg.width)
    y0, y1 = axis(dy, cfg.height)
    return ObjectSpec(shape, color, motion, r, (x0, y0), (x1, y1))


def travel_fits(cfg: WorldConfig) -> bool:
    """Whether the fastest, largest object of `cfg` can cross its canvas on either axis within the frame."""
    travel = cfg.speed_range[1] * max(cfg.frames - 1, 0)
    return travel <= min(cfg.height, cfg.width) - 2 * (cfg.r_range[1] + 1.0)


def _combo(rng: np.random.Generator, cfg: WorldConfig, split: str) -> tuple[str, str]:
    if split == "heldout":
        return cfg.heldout[int(rng.integers(len(cfg.heldout)))]
    while True:
        combo = (str(rng.choice(list(COLORS))), str(rng.choice(SHAPES)))
        if split == "all" or combo not in cfg.heldout:
            return combo


def sample_spec(seed: int, index: int, split: str = "train", cfg: WorldConfig = WorldConfig(),
                objects: int | None = None) -> ClipSpec:
    """The clip spec number `index` of `split` for `seed` (same arguments, same clip, on any machine)."""
    if split not in SPLITS:
        raise ValueError(f"Cannot sample clip: split '{split}' is not one of {SPLITS}")
    if not travel_fits(cfg):
        raise ValueError(f"Cannot sample clip: {cfg.frames} frames at up to {cfg.speed_range[1]} px/frame do not "
                         f"fit a {cfg.height}x{cfg.width} canvas")
    rng = np.random.default_rng([seed, index, SPLITS.index(split)])
    background = str(rng.choice(list(BACKGROUNDS)))
    if objects is None:
        objects = 2 if (split != "heldout" and rng.random() < cfg.two_object_prob) else 1
    combos: list[tuple[str, str]] = []
    while len(combos) < objects:
        combo = _combo(rng, cfg, split)
        if combo not in combos:
            combos.append(combo)
    objs = tuple(_sample_object(rng, cfg, c, s) for c, s in combos)
    return ClipSpec(cfg.frames, cfg.height, cfg.width, background, objs)


def render(spec: ClipSpec, frames: list[int] | None = None) -> np.ndarray:
    """Draw a clip (or the listed frames): uint8 [F, H, W, 3]; objects move linearly from start to end."""
    frames = list(range(spec.frames)) if frames is None else frames
    out = np.empty((len(frames), spec.height, spec.width, 3), dtype=np.uint8)
    bg = np.asarray(BACKGROUNDS[spec.background], dtype=np.float32)
    for i, f in enumerate(frames):
        a = f / max(spec.frames - 1, 1)
        canvas = np.broadcast_to(bg, (spec.height, spec.width, 3)).copy()
        for o in spec.objects:
            cx = o.start[0] + a * (o.end[0] - o.start[0])
            cy = o.start[1] + a * (o.end[1] - o.start[1])
            paint(canvas, coverage(o.shape, cx, cy, o.r, spec.height, spec.width), COLORS[o.color])
        out[i] = to_uint8(canvas)
    return out


def labels(spec: ClipSpec) -> dict:
    """The attributes of a single-object clip as the evaluation names them."""
    o = spec.objects[0]
    return {"color": o.color, "shape": o.shape, "motion": o.motion, "background": spec.background}


def random_specs(rng: np.random.Generator, n: int, seed: int, split: str = "train",
                 cfg: WorldConfig = WorldConfig()) -> list[ClipSpec]:
    """`n` clip specs of `split` at indices drawn from `rng` (for on-the-fly training batches)."""
    return [sample_spec(seed, int(i), split, cfg) for i in rng.integers(0, 2**31 - 1, size=n)]
