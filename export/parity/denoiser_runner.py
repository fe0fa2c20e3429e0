"""Run a bundle's denoiser stage the way the runtime does (numpy in, numpy out, ONNX blocks via chain.py).

The caller-side duties of the denoiser contract live here: zero-pad the latent to the patch grid, tile
per-prompt inputs to the (CFG-doubled) batch, default x_mask / merge operators, crop the output back.
Also the reference TDTM operators (On-device-Sora merge.py: pair averages, odd T drops its last frame;
unmerge repeats each merged frame twice, plus the last once more when Tm is odd and not 15).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from export.parity.chain import run_stage


def pad_to_patch(x: np.ndarray, patch: tuple[int, int, int]) -> np.ndarray:
    """Zero-pad x [B, C, T, H, W] at the end of T, H, W up to multiples of `patch`."""
    pads = [(0, 0), (0, 0)] + [(0, (-n) % p) for n, p in zip(x.shape[2:], patch)]
    return np.pad(x, pads)


def reference_tdtm_operators(T: int) -> tuple[np.ndarray, np.ndarray]:
    """(merge_t [Tm, T], unmerge_t [T, Tm]) of the On-device-Sora reference; ValueError where it breaks."""
    Tm = T // 2
    merge = np.zeros((Tm, T), np.float32)
    rows: list[int] = []
    for j in range(Tm):
        merge[j, 2 * j] = merge[j, 2 * j + 1] = 0.5
        rows += [j, j]
    if Tm % 2 == 1 and Tm != 15:
        rows.append(Tm - 1)
    if len(rows) != T or Tm == 0:
        raise ValueError(f"Cannot build reference TDTM operators: T '{T}' unmerges to '{len(rows)}' frames "
                         "(the reference only supports T % 4 in {0, 3} or T == 30)")
    unmerge = np.zeros((T, Tm), np.float32)
    unmerge[np.arange(T), rows] = 1.0
    return merge, unmerge


def _tile(a: np.ndarray, B: int) -> np.ndarray:
    a = np.asarray(a)
    if a.shape[0] == B:
        return a
    if B % a.shape[0]:
        raise ValueError(f"Cannot tile an input of batch '{a.shape[0]}' to batch '{B}'")
    return np.concatenate([a] * (B // a.shape[0]), axis=0)


def run_denoiser(bundle_dir: Path, stage: Mapping, x: np.ndarray, timestep: np.ndarray, y: np.ndarray, *,
                 y_mask: np.ndarray | None = None, x_mask: np.ndarray | None = None, fps: np.ndarray | None = None,
                 height: float = 512.0, width: float = 512.0, merge_t: np.ndarray | None = None,
                 unmerge_t: np.ndarray | None = None, rope_pos: np.ndarray | None = None) -> np.ndarray:
    """The model output [B, out_channels, T, H, W] for latent x [B, C, T, H, W] (any size, padded here).

    y is [B, L, Cc] or [B, 1, L, Cc]; y_mask [n | B, L] (default all tokens); x_mask [B, T] (default ones);
    fps [n | B] (default 24); merge_t/unmerge_t default to the identity (no merge), rope_pos [Tm] to 0..Tm−1.
    """
    B, _, Tx, Hx, Wx = x.shape
    patch = tuple(stage["patch_size"])
    xp = pad_to_patch(np.asarray(x, np.float32), patch)
    T = xp.shape[2] // patch[0]
    y = np.asarray(y, np.float32).reshape(B, y.shape[-2], y.shape[-1])
    eye = np.eye(T, dtype=np.float32)
    env = {
        "x": xp,
        "timestep": np.asarray(timestep, np.float32).reshape(B),
        "y": y,
        "y_mask": _tile(np.ones(y.shape[:2]) if y_mask is None else y_mask, B).astype(np.float32),
        "x_mask": (np.ones((B, T)) if x_mask is None else np.asarray(x_mask)).astype(np.float32),
        "fps": _tile(np.full((1,), 24.0) if fps is None else np.asarray(fps).reshape(-1), B).astype(np.float32),
        "height": np.asarray([height], np.float32),
        "width": np.asarray([width], np.float32),
        "merge_t": eye if merge_t is None else np.asarray(merge_t, np.float32),
        "unmerge_t": eye if unmerge_t is None else np.asarray(unmerge_t, np.float32),
    }
    Tm = env["merge_t"].shape[0]
    env["rope_pos"] = np.arange(Tm, dtype=np.float32) if rope_pos is None else np.asarray(rope_pos, np.float32)
    missing = [n for n in stage["inputs"] if n not in env]
    if missing:
        raise ValueError(f"Cannot run denoiser: stage inputs {missing} are not provided")
    out = run_stage(Path(bundle_dir), stage, env)[stage["output"]]
    return out[:, :, :Tx, :Hx, :Wx]
