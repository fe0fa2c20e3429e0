"""Sample videos from the default model in PyTorch (the trainer's monitor; the runtime does the same in ONNX).

Open-Sora v1.2 RFLOW: K Euler steps on the grid t_i = (1 − i/K)·1000 shifted by
r = sqrt(H·W/512²)·sqrt(⌊F/17⌋·5), CFG v = v_null + s·(v_cond − v_null) with the null caption
`y_embedding` under the prompt's mask; then the VAE decode (chunks of 5 latent frames) and `save_sample`'s
uint8 rule.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import T5EncoderModel

from export.train import default_model as dm
from export.train.buckets import latent_frames
from export.train.dit_steps import conditioning, embed_text
from export.models.stdit3 import STDiT3
from export.models.vae import VideoAutoencoderPipeline, pipeline_decode


def rflow_timesteps(steps: int, height: int, width: int, frames: int, shift: bool = True) -> list[float]:
    """The K timesteps in (0, 1000], shifted as Open-Sora v1.2 inference does."""
    ts = [(1 - i / steps) * 1000.0 for i in range(steps)]
    if not shift:
        return ts
    r = math.sqrt(height * width / 512 ** 2) * (1.0 if frames == 1 else math.sqrt(math.floor(frames / 17) * 5))
    return [1000.0 * r * (t / 1000) / (1 + (r - 1) * (t / 1000)) for t in ts]


def latent_shape(frames: int, height: int, width: int) -> tuple[int, int, int, int]:
    """[C, t, h, w] of the latent of a `frames`×`height`×`width` video (spec §3.4)."""
    return (dm.SPATIAL_VAE["latent_channels"], latent_frames(frames), height // 8, width // 8)


TimeOps = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # merge_t, unmerge_t, rope_pos (None: 0..Tm−1)


def tdtm_operators(T: int, chunk: int | None = None, time: bool = False) -> TimeOps:
    """TDTM's time operators for T latent frames, as plugins/tdtm.ts builds them (`oddFrame: alone`): frame
    pairs from the first frame; with `chunk`, each chunk's first (key) frame alone and pairs after it; with
    `time`, each merged token's RoPE position is its frames' mean index (else None: 0..Tm−1)."""
    size = chunk or T
    groups: list[list[int]] = []
    for start in range(0, T, size):
        end = min(start + size, T)
        first = start
        if chunk:
            groups.append([start])
            first = start + 1
        groups += [list(range(i, min(i + 2, end))) for i in range(first, end, 2)]
    merge, unmerge = torch.zeros(len(groups), T), torch.zeros(T, len(groups))
    for j, g in enumerate(groups):
        merge[j, g] = 1 / len(g)
        unmerge[g, j] = 1
    return merge, unmerge, (torch.tensor([sum(g) / len(g) for g in groups]) if time else None)


@torch.no_grad()
def sample_latents(dit: STDiT3, t5: T5EncoderModel, tok: Tokenizer, prompts: list[str], seeds: list[int], *,
                   steps: int = 30, cfg_scale: float = 7.0, device: torch.device = torch.device("cpu"),
                   frames: int = dm.DEFAULT_FRAMES, height: int = dm.WORLD.height, width: int = dm.WORLD.width,
                   merge: TimeOps | None = None, merge_steps: int = 0) -> torch.Tensor:
    """Euler + CFG from seeded noise (torch.randn with each seed on CPU) → latents [B, C, t, h, w]; `merge`
    (TDTM's operators) wraps every attention for the first `merge_steps` steps."""
    n = len(prompts)
    shape = latent_shape(frames, height, width)
    z = torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(s)) for s in seeds]).to(device)
    y, mask = embed_text(t5, tok, prompts, device)
    null = dit.null_caption()[None].expand_as(y).to(y.dtype)
    y2, mask2 = torch.cat([y, null]), torch.cat([mask, mask])
    cond = conditioning(2 * n, device, height, width)
    ts = rflow_timesteps(steps, height, width, frames)
    for i, t in enumerate(ts):
        ops = dict(zip(("merge_t", "unmerge_t", "rope_pos"), merge)) if merge and i < merge_steps else {}
        out = dit(torch.cat([z, z]), torch.full((2 * n,), t, device=device), y2, mask=mask2, **cond, **ops)
        v_cond, v_null = out[:, : z.shape[1]].chunk(2)
        v = v_null + cfg_scale * (v_cond - v_null)
        dt = (t - (ts[i + 1] if i + 1 < len(ts) else 0.0)) / 1000.0
        z = z + v * dt
    return z


@torch.no_grad()
def decode_frames(vae: VideoAutoencoderPipeline, z: torch.Tensor, frames: int = dm.DEFAULT_FRAMES) -> np.ndarray:
    """Latents → uint8 frames [B, F, H, W, 3] by Open-Sora's save rule (clamp, (x+1)/2·255 + 0.5, truncate)."""
    video = pipeline_decode(vae, z, frames, chunk_latents=dm.CHUNK_LATENTS, chunk_frames=dm.CHUNK_FRAMES,
                            micro_batch=dm.SPATIAL_MICRO_BATCH)
    x = ((video.clamp(-1, 1) + 1) / 2 * 255 + 0.5).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 4, 1).cpu().numpy()
