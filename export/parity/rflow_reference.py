"""Open-Sora v1.2 RFLOW sampling in numpy (spec §4), driving any `model(z_in, t_in, x_mask) -> out` callable.

Used by the parity command to check a bundle's denoiser over a whole 30-step run against the golden
`rflow_sample` / on-device fixtures. fp32 throughout, like the reference on CPU.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Model = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def base_timesteps(num_steps: int, num_timesteps: int = 1000, discrete: bool = False) -> list[float]:
    """t_i = (1 − i/N)·num_timesteps, i = 0..N−1 (rounded to integers first when `discrete`)."""
    ts = [(1.0 - i / num_steps) * num_timesteps for i in range(num_steps)]
    return [float(int(round(t))) for t in ts] if discrete else ts


def timestep_transform(t: np.ndarray, height: np.ndarray, width: np.ndarray, num_frames: np.ndarray,
                       num_timesteps: int = 1000) -> np.ndarray:
    """t' = r·s/(1 + (r − 1)·s)·N with s = t/N, r = sqrt(H·W/512²)·sqrt(floor(F/17)·5) (1 for images)."""
    f32 = np.float32
    s = np.asarray(t, f32) / f32(num_timesteps)
    ratio_space = np.sqrt(np.asarray(height, f32) * np.asarray(width, f32) / f32(512 * 512))
    nf = np.asarray(num_frames, f32)
    frames = np.ones_like(nf) if nf.reshape(-1)[0] == 1 else np.floor(nf / f32(17)) * f32(5)
    ratio = (ratio_space * np.sqrt(frames)).astype(f32)
    return (ratio * s / (f32(1) + (ratio - f32(1)) * s) * f32(num_timesteps)).astype(f32)


def schedule(num_steps: int, batch: int, *, height: np.ndarray, width: np.ndarray, num_frames: np.ndarray,
             transform: bool = True, discrete: bool = False, num_timesteps: int = 1000) -> np.ndarray:
    """[num_steps, batch] timesteps as the sampler feeds them to the model."""
    rows = []
    for t in base_timesteps(num_steps, num_timesteps, discrete):
        tb = np.full((batch,), t, np.float32)
        rows.append(timestep_transform(tb, height, width, num_frames, num_timesteps) if transform else tb)
    return np.stack(rows)


def sample(model: Model, z: np.ndarray, timesteps: np.ndarray, *, cfg_scale: float, in_channels: int,
           frame_mask: np.ndarray | None = None, num_timesteps: int = 1000) -> np.ndarray:
    """Euler integration with CFG from noise z [n, C, T, H, W]; `model` gets the doubled batch and the step index.

    frame_mask [n, T] (0/1): frames with 0 keep their value and get x_mask = 0 (the t = 0 modulation).
    """
    z = z.astype(np.float32)
    n, T = z.shape[0], z.shape[2]
    fm = np.ones((n, T), np.float32) if frame_mask is None else frame_mask.astype(np.float32)
    for i, t in enumerate(timesteps):
        upper = fm * num_timesteps >= t[:, None]  # [n, T]
        x0 = z
        out = model(np.concatenate([z, z]), np.concatenate([t, t]), np.concatenate([upper, upper]).astype(np.float32), i)
        pred = out[:, :in_channels]
        cond, uncond = pred[:n], pred[n:]
        v = uncond + np.float32(cfg_scale) * (cond - uncond)
        dt = (t - timesteps[i + 1]) if i < len(timesteps) - 1 else t
        z = z + v * (dt / np.float32(num_timesteps))[:, None, None, None, None]
        z = np.where(upper[:, None, :, None, None], z, x0).astype(np.float32)
    return z
