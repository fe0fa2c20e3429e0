"""The rectified-flow training step of the default model (STDiT3 + T5 trained together on cached latents).

Open-Sora v1.2's objective: x_s = (1 − s)·x0 + s·ε, the model at timestep t = 1000·s predicts the velocity
v = x0 − ε in its first `in_channels` output channels (MSE); captions are replaced by the null caption
(`y_embedder.y_embedding`, keeping the caption's mask) with probability `CFG_DROPOUT`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import T5EncoderModel

from export.train import default_model as dm
from export.train.buckets import Bucket, bucket_spec, pick_bucket
from export.models.stdit3 import STDiT3
from export.world.tokenizer_words import encode
from export.world.clips import sample_spec
from export.world.captions import caption

CFG_DROPOUT = 0.1


def embed_text(t5: T5EncoderModel, tok: Tokenizer, captions: list[str], device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """T5 embeddings y [B, L, Cc] and the int64 mask [B, L] of `captions` (padded to TEXT_MAX_LENGTH)."""
    ids, mask = encode(tok, captions, dm.TEXT_MAX_LENGTH)
    ids, mask = ids.to(device), mask.to(device)
    return t5(input_ids=ids, attention_mask=mask).last_hidden_state, mask


def sample_s(rng: np.random.Generator, n: int) -> np.ndarray:
    """Noise levels s in (0, 1): half uniform, half logit-normal(0, 1) (Open-Sora's training sampler)."""
    uniform = rng.uniform(0.0, 1.0, size=n)
    logit = 1.0 / (1.0 + np.exp(-rng.normal(0.0, 1.0, size=n)))
    return np.where(rng.random(n) < 0.5, uniform, logit).clip(1e-4, 1 - 1e-4)


def conditioning(batch: int, device: torch.device, height: int = dm.WORLD.height, width: int = dm.WORLD.width
                 ) -> dict[str, torch.Tensor]:
    """The fps/height/width inputs of the default model's videos."""
    return {"fps": torch.full((batch,), float(dm.FPS), device=device),
            "height": torch.tensor([float(height)], device=device),
            "width": torch.tensor([float(width)], device=device)}


def rf_step(dit: STDiT3, t5: T5EncoderModel, tok: Tokenizer, latents: torch.Tensor, data_seed: int,
            rng: np.random.Generator, gen: torch.Generator, batch: int, device: torch.device
            ) -> dict[str, torch.Tensor]:
    """One rectified-flow loss on `batch` random cached clips with freshly drawn captions."""
    idx = rng.integers(0, latents.shape[0], size=batch)
    x0 = latents[torch.from_numpy(idx)].to(device)
    captions = [caption(sample_spec(data_seed, int(i), "train", dm.WORLD), rng) for i in idx]
    return rf_loss(dit, t5, tok, x0, captions, rng, gen, device, dm.WORLD.height, dm.WORLD.width)


def rf_loss(dit: STDiT3, t5: T5EncoderModel, tok: Tokenizer, x0: torch.Tensor, captions: list[str],
            rng: np.random.Generator, gen: torch.Generator, device: torch.device, height: int, width: int
            ) -> dict[str, torch.Tensor]:
    """The rectified-flow loss of latents x0 [B, C, t, h, w] of `height`×`width` videos and their captions."""
    batch = x0.shape[0]
    y, mask = embed_text(t5, tok, captions, device)
    drop = torch.from_numpy(rng.random(batch) < CFG_DROPOUT).to(device)
    y = torch.where(drop[:, None, None], dit.null_caption()[None].to(y.dtype), y)
    s = torch.from_numpy(sample_s(rng, batch)).float().to(device)
    eps = torch.randn(x0.shape, generator=gen).to(device)
    sv = s[:, None, None, None, None]
    xt = (1 - sv) * x0 + sv * eps
    out = dit(xt, s * 1000.0, y, mask=mask, **conditioning(batch, device, height, width))
    loss = F.mse_loss(out[:, : x0.shape[1]], x0 - eps)
    return {"loss": loss}


def bucket_rf_step(dit: STDiT3, t5: T5EncoderModel, tok: Tokenizer, latents: list[torch.Tensor],
                   buckets: tuple[Bucket, ...], data_seed: int, rng: np.random.Generator, gen: torch.Generator,
                   device: torch.device) -> dict[str, torch.Tensor]:
    """One rectified-flow loss on a batch of one bucket (drawn by weight): its batch size, length and size."""
    bi = pick_bucket(rng, buckets)
    b = buckets[bi]
    idx = rng.integers(0, latents[bi].shape[0], size=b.batch)
    x0 = latents[bi][torch.from_numpy(idx)].to(device)
    captions = [caption(bucket_spec(data_seed, bi, int(i), buckets), rng) for i in idx]
    return {**rf_loss(dit, t5, tok, x0, captions, rng, gen, device, b.height, b.width), "bucket": bi}
