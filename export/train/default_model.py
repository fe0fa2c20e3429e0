"""Sizes of odsora's embedded default model: Open-Sora v1.2's module types, scaled down for the synthetic world.

64×64 RGB, 17 frames → spatial AutoencoderKL 8× (8×8×4) → temporal VAE 4× in time (5 latent frames a
17-frame chunk, as v1.2) → STDiT3 (patch 1×2×2: 16 tokens a frame) conditioned on a tiny T5 v1.1 encoder
over a word-level vocabulary. Every config here is a plain dict/dataclass the team's modules accept.
"""
from __future__ import annotations

from export.models.stdit3_config import STDiT3Config
from export.world.clips import WorldConfig

WORLD = WorldConfig(frames=17, height=64, width=64)  # the first training stage's clips (train_vae, train_dit)
DEFAULT_FRAMES = 34    # the shipped model's default length (10 latent frames), trained in the bucket stage
FPS = 8
TEXT_MAX_LENGTH = 24

SPATIAL_VAE = {
    "in_channels": 3, "out_channels": 3, "latent_channels": 4,
    "block_out_channels": [16, 32, 64, 64], "layers_per_block": 1, "norm_num_groups": 8,
}
TEMPORAL_VAE = {
    "in_out_channels": 4, "latent_embed_dim": 4, "embed_dim": 4, "filters": 32, "num_res_blocks": 1,
    "channel_multipliers": [1, 2, 2, 2], "temporal_downsample": [False, True, True], "num_groups": 8,
    "activation_fn": "swish",
}
CHUNK_FRAMES = 17      # pixel frames per temporal-VAE chunk (v1.2: micro_frame_size)
CHUNK_LATENTS = 5      # latent frames per chunk
SPATIAL_MICRO_BATCH = 4


def t5_config(vocab_size: int) -> dict:
    """The tiny T5 v1.1 encoder (gated-GELU, relative position buckets) over `vocab_size` words."""
    return {
        "vocab_size": vocab_size, "d_model": 128, "d_kv": 32, "d_ff": 256, "num_layers": 2, "num_heads": 4,
        "relative_attention_num_buckets": 16, "relative_attention_max_distance": 32,
        "layer_norm_epsilon": 1e-6, "feed_forward_proj": "gated-gelu",
    }


def stdit3_config() -> STDiT3Config:
    """The STDiT3 denoiser: hidden 128, depth 4 (4 spatial + 4 temporal blocks), 4 heads, patch (1, 2, 2)."""
    return STDiT3Config(hidden_size=128, depth=4, num_heads=4, patch_size=(1, 2, 2), in_channels=4,
                        pred_sigma=True, caption_channels=128, model_max_length=TEXT_MAX_LENGTH,
                        input_sq_size=512, qk_norm=True)
