"""Export the Open-Sora v1.2 video VAE decoders as the bundle's `vae` stage (export/BUNDLE.md).

Public API used by the CLI / bundle writer:
- `vae_config_from_fixture(cfg_json)`, `vae_config(name)` ("tiny", "v1.2"): config dicts (see vae.py)
- `random_vae_source(cfg, seed)`: random weights with the checkpoint's key names
- `load_vae(cfg, source)`: the strictly loaded `VideoAutoencoderPipeline` (encoders included, for training)
- `export_vae(cfg, source, out_dir)`: writes out_dir/vae/*.onnx, returns the stage object
- `check_vae_fixture(fixture_dir, bundle_dir)`: (label, rel L2) of the bundle's vae stage vs a fixture

A stage may hold only one decoder (a fixture of just the temporal or just the spatial VAE). The additive key
`parts` lists what it holds, in block order (["temporal", "spatial"] for a full VAE); the factors of a
missing part are 1, so the chunk arithmetic stays the identity for it.
"""
from __future__ import annotations

import gc
import math
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from export.onnx.block import export_block
from export.models.vae import SCALING_FACTOR, VideoAutoencoderPipeline
from export.parity.vae import check_vae_fixture  # noqa: F401  (re-exported API)
from export.models.weights import WeightSource, WeightError

_TEMPORAL_V12 = dict(in_out_channels=4, latent_embed_dim=4, embed_dim=4, filters=128, num_res_blocks=4,
                     channel_multipliers=[1, 2, 2, 4], temporal_downsample=[False, True, True], num_groups=32)
_SPATIAL_V12 = dict(in_channels=3, out_channels=3, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                    latent_channels=4, norm_num_groups=32)
_PIPE_V12 = dict(scale=[3.85, 2.32, 2.33, 3.06], shift=[-0.10, 0.34, 0.27, 0.98], micro_frame_size=17,
                 micro_batch_size=4, scaling_factor=SCALING_FACTOR)
_TEMPORAL_KEYS = ("in_out_channels", "latent_embed_dim", "embed_dim", "filters", "num_res_blocks",
                  "channel_multipliers", "temporal_downsample", "num_groups")
_SPATIAL_KEYS = ("in_channels", "out_channels", "block_out_channels", "layers_per_block", "latent_channels",
                 "norm_num_groups")


def vae_config(name: str) -> dict:
    """A preset: "v1.2" (OpenSoraVAE_V1_2, 393M parameters) or "tiny" (the fixtures' widths, full wiring)."""
    if name == "v1.2":
        return dict(temporal=dict(_TEMPORAL_V12), spatial=dict(_SPATIAL_V12), **_PIPE_V12)
    if name == "tiny":
        return dict(temporal=dict(_TEMPORAL_V12, filters=4, num_res_blocks=1, num_groups=2),
                    spatial=dict(_SPATIAL_V12, block_out_channels=[8, 8, 16, 16], layers_per_block=1,
                                 norm_num_groups=4), **_PIPE_V12)
    raise ValueError(f"Cannot pick VAE config: '{name}' is not one of ['tiny', 'v1.2']")


def vae_config_from_fixture(cfg_json: Mapping) -> dict:
    """Config of a vae_temporal_decode / vae_spatial_decode / vae_pipeline_decode fixture."""
    t, s, pipe = cfg_json.get("temporal"), cfg_json.get("spatial"), cfg_json.get("pipeline", {})
    if not t and not s:
        raise ValueError(f"Cannot read VAE fixture config: '{cfg_json.get('fixture')}' has neither "
                         "a 'temporal' nor a 'spatial' section")
    if t and t.get("activation_fn", "swish") != "swish":
        raise ValueError(f"Cannot read VAE fixture config: activation_fn '{t['activation_fn']}' is not 'swish'")
    return dict(
        temporal={k: t[k] for k in _TEMPORAL_KEYS} if t else None,
        spatial={k: s[k] for k in _SPATIAL_KEYS} if s else None,
        scale=cfg_json.get("scale"), shift=cfg_json.get("shift"),
        micro_frame_size=int(pipe.get("micro_frame_size", 17)),
        micro_batch_size=int(pipe.get("micro_batch_size", cfg_json.get("micro_batch_size", 4))),
        scaling_factor=float(cfg_json.get("spatial_diffusers_config", {}).get("scaling_factor", SCALING_FACTOR)),
    )


def _prefixes(cfg: Mapping, source: WeightSource) -> str:
    """'' when the checkpoint is the pipeline (spatial_vae.module.*, temporal_vae.*), else the part's prefix."""
    keys = source.keys()
    if any(k.startswith(("temporal_vae.", "spatial_vae.")) for k in keys):
        return ""
    parts = [p for p in ("temporal", "spatial") if cfg.get(p)]
    if len(parts) != 1:
        raise WeightError("Cannot load VAE: the checkpoint has no 'temporal_vae.'/'spatial_vae.module.' keys "
                          f"but the config has parts {parts}")
    return "temporal_vae." if parts[0] == "temporal" else "spatial_vae.module."


def load_vae(cfg: Mapping, source: WeightSource) -> VideoAutoencoderPipeline:
    """Build the VAE of `cfg` and strictly load every key (missing, unknown and mis-shaped keys are errors).

    `source` is a pipeline checkpoint, or (for a one-part config) that part's own state dict. The buffers
    `scale`/`shift` may be absent from a pipeline checkpoint; the config's values are kept then.
    """
    pipe = VideoAutoencoderPipeline(cfg).eval()
    prefix = _prefixes(cfg, source)
    if prefix:  # a bare part's own state dict (a one-part fixture): load just that part
        part = pipe.spatial_vae.module if prefix.startswith("spatial") else pipe.temporal_vae
        source.load_into(part)
        source.check_no_unknown(part.state_dict().keys())
    else:
        # scale/shift: spec §9 leaves open whether the official file stores them; absent → the config's values
        source.load_into(pipe, optional=("scale", "shift"))
        source.check_no_unknown(pipe.state_dict().keys())
    return pipe


def random_vae_source(cfg: Mapping, seed: int = 0) -> WeightSource:
    """Random pipeline weights: PyTorch default init plus N(0, 0.02²) noise (as the fixtures), real scale/shift."""
    torch.manual_seed(seed)
    pipe = VideoAutoencoderPipeline(cfg)
    g = torch.Generator().manual_seed(seed + 1)
    state = {k: (v if k in ("scale", "shift") else v + 0.02 * torch.randn(v.shape, generator=g))
             for k, v in pipe.state_dict().items()}
    return WeightSource.from_tensors(state)


class TemporalDecodeBlock(nn.Module):
    """z [B, C, t, h, w] → z_frames [B, C, f·t, h, w]: (z·scale + shift), post_quant_conv, decoder."""

    def __init__(self, pipe: VideoAutoencoderPipeline) -> None:
        super().__init__()
        self.post_quant_conv = pipe.temporal_vae.post_quant_conv
        self.decoder = pipe.temporal_vae.decoder
        if pipe.scale is not None:
            self.register_buffer("scale", pipe.scale.clone())
            self.register_buffer("shift", pipe.shift.clone())
        else:
            self.scale = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            z = z * self.scale + self.shift
        return self.decoder(self.post_quant_conv(z))


def build_vae_block(cfg: Mapping, pipe: VideoAutoencoderPipeline, name: str) -> nn.Module:
    """The stage block `name` ('temporal_decode', 'spatial_decode') over `pipe`: the module the ONNX export
    writes, the Core ML export converts and the parity check compares with its ONNX file."""
    if name == "temporal_decode":
        return TemporalDecodeBlock(pipe).eval()
    if name == "spatial_decode":
        return SpatialDecodeBlock(pipe, float(cfg.get("scaling_factor", SCALING_FACTOR))).eval()
    raise ValueError(f"Cannot build VAE block '{name}': not 'temporal_decode' or 'spatial_decode'")


class SpatialDecodeBlock(nn.Module):
    """z_frames [B, C, n, h, w] → frames [B, 3, n, f·h, f·w]: ÷scaling_factor, post_quant_conv, decoder."""

    def __init__(self, pipe: VideoAutoencoderPipeline, scaling_factor: float) -> None:
        super().__init__()
        self.post_quant_conv = pipe.spatial_vae.module.post_quant_conv
        self.decoder = pipe.spatial_vae.module.decoder
        self.scaling_factor = scaling_factor

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, c, n, h, w = z.shape
        x = z.permute(0, 2, 1, 3, 4).reshape(b * n, c, h, w) / self.scaling_factor
        x = self.decoder(self.post_quant_conv(x))
        return x.reshape(b, n, x.shape[1], x.shape[2], x.shape[3]).permute(0, 2, 1, 3, 4)


def export_vae(cfg: Mapping, source: WeightSource, out_dir: Path) -> dict:
    """Write vae/temporal_decode.onnx and/or vae/spatial_decode.onnx and return the bundle.json `vae` object."""
    pipe = load_vae(cfg, source)
    out_dir = Path(out_dir)
    g = torch.Generator().manual_seed(0)
    blocks, parts = [], []
    t_factor, s_factor = 1, 1
    latent = (cfg.get("temporal") or {}).get("embed_dim") or cfg["spatial"]["latent_channels"]
    if pipe.temporal_vae is not None:
        t_factor = pipe.temporal_vae.time_factor
        z = torch.randn(1, latent, 2, 3, 5, generator=g)
        blocks.append(export_block(build_vae_block(cfg, pipe, "temporal_decode"), (z,), input_names=["z"],
                                   output_names=["z_frames"],
                                   dynamic_axes={"z": {0: "B", 2: "T", 3: "H", 4: "W"},
                                                 "z_frames": {0: "B", 2: "N", 3: "H", 4: "W"}},
                                   out_dir=out_dir, rel_file="vae/temporal_decode.onnx", name="temporal_decode"))
        parts.append("temporal")
    if pipe.spatial_vae is not None:
        s_factor = pipe.spatial_vae.module.spatial_factor
        z = torch.randn(1, latent, 2, 3, 5, generator=g)
        blocks.append(export_block(build_vae_block(cfg, pipe, "spatial_decode"), (z,), input_names=["z_frames"], output_names=["frames"],
                                   dynamic_axes={"z_frames": {0: "B", 2: "N", 3: "H", 4: "W"},
                                                 "frames": {0: "B", 2: "N", 3: "Hp", 4: "Wp"}},
                                   out_dir=out_dir, rel_file="vae/spatial_decode.onnx", name="spatial_decode"))
        parts.append("spatial")
    del pipe
    gc.collect()
    chunk_frames = int(cfg.get("micro_frame_size") or 17) if t_factor > 1 else 1
    return {
        "latent_channels": int(latent),
        "spatial_factor": int(s_factor),
        "temporal_factor": int(t_factor),
        "chunk_latents": int(math.ceil(chunk_frames / t_factor)),
        "chunk_frames": chunk_frames,
        "spatial_micro_batch": int(cfg.get("micro_batch_size") or 4),
        "parts": parts,
        "blocks": blocks,
    }
