"""Draw the synthetic world's clips: flat-coloured shapes on a flat background, anti-aliased.

Geometry is in pixel units on a `height` x `width` canvas; every shape is described by its centre and its
half-size `r` (the half-side of its bounding box), so the circle, square and triangle of one size have the
same bounding box (fill ratios pi/4, 1 and 1/2), which is what the analyzer measures.
"""
from __future__ import annotations

import numpy as np

SUPERSAMPLE = 4  # sub-pixels per pixel side used for anti-aliased coverage


def coverage(shape: str, cx: float, cy: float, r: float, height: int, width: int) -> np.ndarray:
    """Fraction in [0, 1] of each pixel covered by `shape` centred at (cx, cy) with half-size r: [H, W]."""
    s = SUPERSAMPLE
    ys = (np.arange(height * s, dtype=np.float32) + 0.5) / s
    xs = (np.arange(width * s, dtype=np.float32) + 0.5) / s
    dx = xs[None, :] - cx
    dy = ys[:, None] - cy
    if shape == "circle":
        inside = dx * dx + dy * dy <= r * r
    elif shape == "square":
        inside = (np.abs(dx) <= r) & (np.abs(dy) <= r)
    elif shape == "triangle":
        # Apex at the top (cy - r), base at cy + r spanning 2r: |dx| <= (dy + r) / 2.
        inside = (dy <= r) & (np.abs(dx) <= (dy + r) / 2.0)
    else:
        raise ValueError(f"Cannot draw shape: '{shape}' is not one of circle, square, triangle")
    return inside.reshape(height, s, width, s).mean(axis=(1, 3), dtype=np.float32)


def paint(canvas: np.ndarray, cover: np.ndarray, rgb: tuple[int, int, int]) -> None:
    """Blend colour `rgb` into float canvas [H, W, 3] with per-pixel coverage [H, W] (in place)."""
    a = cover[..., None]
    canvas *= 1.0 - a
    canvas += a * np.asarray(rgb, dtype=np.float32)


def to_uint8(canvas: np.ndarray) -> np.ndarray:
    """Round a float canvas in [0, 255] to uint8."""
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
