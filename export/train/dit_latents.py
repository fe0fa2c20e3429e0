"""The DiT's training set: latents of the world's training clips, encoded once by the trained VAE and cached.

Clip i of the set is `sample_spec(data_seed, i, "train")`; its caption is drawn afresh every time it is
used. The cache (float32 [N, 4, t, h, w], temporal posterior means, normalised by scale/shift) lives in
`.odsora-cache/` and is rebuilt whenever the VAE weights or the clip count change.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from export.train import default_model as dm
from export.train.common import video_tensor
from export.models.vae import VideoAutoencoderPipeline
from export.train.vae_steps import encode_clips
from export.world.clips import render, sample_spec

CACHE_DIR = Path(".odsora-cache")


def vae_digest(vae: VideoAutoencoderPipeline) -> str:
    """A short hash of the VAE's weights (the cache key)."""
    h = hashlib.sha256()
    for k, v in sorted(vae.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def training_latents(vae: VideoAutoencoderPipeline, clips: int, data_seed: int, device: torch.device,
                     log=print, batch: int = 16) -> torch.Tensor:
    """Latents [clips, 4, t, h, w] of training clips 0..clips−1, from the cache when it matches."""
    path = CACHE_DIR / f"default_latents_{vae_digest(vae)}_s{data_seed}_n{clips}.pt"
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    vae.eval()
    out = []
    for start in range(0, clips, batch):
        specs = [sample_spec(data_seed, i, "train", dm.WORLD) for i in range(start, min(start + batch, clips))]
        x = video_tensor(np.stack([render(s) for s in specs])).to(device)
        out.append(encode_clips(vae, x).cpu())
        if (start // batch) % 25 == 0:
            log(event="encode", clips=start + len(specs), of=clips)
    z = torch.cat(out)
    CACHE_DIR.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(z, tmp)
    os.replace(tmp, path)
    return z
