"""Shared pieces of the default model's trainers: seeding, per-step RNG, schedules, checkpoints, logs.

Every random draw of step k comes from generators seeded by (seed, phase, k), so a run stopped and resumed
from a checkpoint takes exactly the same batches and noise as an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

TRAIN_DIR = Path("models/train")


class TrainError(Exception):
    """A training run cannot start or continue (bad checkpoint, bad arguments)."""


def setup(threads: int, device: str) -> torch.device:
    """Set torch's thread count and return the device (`cpu` or `cuda`), refusing a missing GPU clearly."""
    torch.set_num_threads(threads)
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainError("Cannot train on 'cuda': no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise TrainError(f"Cannot train on '{device}': use 'cpu' or 'cuda'")
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return torch.device(device)


def step_seed(seed: int, phase: int, step: int) -> int:
    """A 63-bit seed for the random draws of `step` in `phase`."""
    return int(np.random.SeedSequence([seed, phase, step]).generate_state(2, dtype=np.uint32).astype(np.uint64)
               .dot(np.array([1, 1 << 31], dtype=np.uint64)) & ((1 << 63) - 1))


def step_rng(seed: int, phase: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """NumPy and torch (CPU) generators for one step; torch noise is drawn on CPU and moved to the device."""
    s = step_seed(seed, phase, step)
    return np.random.default_rng(s), torch.Generator().manual_seed(s)


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warm-up to `peak`, then cosine decay to `floor`·peak at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model, parameters and float buffers."""
    for e, m in zip(ema.state_dict().values(), model.state_dict().values()):
        if e.dtype.is_floating_point:
            e.mul_(decay).add_(m.detach(), alpha=1 - decay)
        else:
            e.copy_(m)


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """torch.save to a temp file, then rename (never a half-written checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` (weights_only=True)."""
    path = Path(path)
    if not path.exists():
        raise TrainError(f"Cannot resume: checkpoint '{path}' does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


class Log:
    """Appends one JSON object a line to a log file and prints a short line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.start = time.time()

    def __call__(self, **rec: Any) -> None:
        rec = {"time": round(time.time(), 1), **rec}
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()
                       if k != "time"), flush=True)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [−1, 1] (peak-to-peak 2)."""
    mse = float(torch.mean((a.clamp(-1, 1) - b.clamp(-1, 1)) ** 2))
    return 10 * math.log10(4.0 / max(mse, 1e-12))


def video_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames [..., F, H, W, 3] → float video [..., 3, F, H, W] in [−1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(127.5).sub_(1.0)
    return x.movedim(-1, -4)
