"""Run a bundle's `vae` stage with onnxruntime exactly as the runtime does, and compare with golden fixtures.

`decode_video` is the Python twin of the Deno runtime's VAE decode: it reads every number it needs
(temporal_factor, chunk_latents, chunk_frames, spatial_micro_batch) from the stage object, so a bundle
with other chunkings decodes the same way on both sides.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np

from export.parity.chain import run_block
from export.models.vae import temporal_chunks


def _block(stage: Mapping, name: str) -> Mapping:
    for b in stage["blocks"]:
        if b["name"] == name:
            return b
    raise ValueError(f"Cannot decode: vae stage has no block '{name}' (it has {[b['name'] for b in stage['blocks']]})")


def temporal_decode(bundle_dir: Path, stage: Mapping, z: np.ndarray, num_frames: int) -> np.ndarray:
    """Latent [B, C, t, h, w] → frame latents [B, C, num_frames, h, w], chunked per the manifest."""
    block = _block(stage, "temporal_decode")
    parts = []
    for ch in temporal_chunks(z.shape[2], num_frames, stage["chunk_latents"], stage["chunk_frames"],
                              stage["temporal_factor"]):
        env = {"z": np.ascontiguousarray(z[:, :, ch.start:ch.stop])}
        parts.append(run_block(bundle_dir, block, env)["z_frames"][:, :, ch.drop:])
    return np.concatenate(parts, axis=2)


def spatial_decode(bundle_dir: Path, stage: Mapping, z_frames: np.ndarray) -> np.ndarray:
    """Frame latents [B, C, n, h, w] → frames [B, 3, n, f·h, f·w], `spatial_micro_batch` frames per call."""
    block = _block(stage, "spatial_decode")
    step = stage["spatial_micro_batch"]
    parts = []
    for i in range(0, z_frames.shape[2], step):
        env = {"z_frames": np.ascontiguousarray(z_frames[:, :, i:i + step])}
        parts.append(run_block(bundle_dir, block, env)["frames"])
    return np.concatenate(parts, axis=2)


def decode_video(bundle_dir: Path, stage: Mapping, z: np.ndarray, num_frames: int) -> np.ndarray:
    """The whole decode: temporal (when the stage has it), then spatial (when it has it)."""
    parts = stage.get("parts") or [b["name"].removesuffix("_decode") for b in stage["blocks"]]
    x = temporal_decode(bundle_dir, stage, z, num_frames) if "temporal" in parts else z
    return spatial_decode(bundle_dir, stage, x) if "spatial" in parts else x


def check_vae_fixture(fixture_dir: Path, bundle_dir: Path) -> list[tuple[str, float]]:
    """Decode a VAE fixture's latents through the bundle's ONNX blocks; (label, rel L2 error) per output.

    vae_temporal_decode: one temporal_decode call on t_dec_z, leading (f − N % f) % f frames dropped, for
    every t_dec_out_nf{N}; vae_spatial_decode: s_dec_out; vae_pipeline_decode: p_dec_out (full chunked decode).
    """
    from safetensors.numpy import load_file
    fixture_dir, bundle_dir = Path(fixture_dir), Path(bundle_dir)
    stage = json.loads((bundle_dir / "bundle.json").read_text()).get("vae")
    if not stage:
        raise ValueError(f"Cannot check VAE fixture: bundle '{bundle_dir}' has no vae stage")
    name = json.loads((fixture_dir / "config.json").read_text()).get("fixture", fixture_dir.name)
    io = load_file(str(fixture_dir / "io.safetensors"))
    rows: list[tuple[str, float]] = []
    if "t_dec_z" in io:
        f = stage["temporal_factor"]
        full = run_block(bundle_dir, _block(stage, "temporal_decode"), {"z": io["t_dec_z"]})["z_frames"]
        for key in sorted(k for k in io if k.startswith("t_dec_out_nf")):
            n = int(key.removeprefix("t_dec_out_nf"))
            rows.append((f"{name}/{key}", _rel(full[:, :, (f - n % f) % f:], io[key])))
    if "s_dec_z" in io:
        rows.append((f"{name}/s_dec_out", _rel(spatial_decode(bundle_dir, stage, io["s_dec_z"]), io["s_dec_out"])))
    if "p_dec_z" in io:
        out = decode_video(bundle_dir, stage, io["p_dec_z"], int(io["p_num_frames"]))
        rows.append((f"{name}/p_dec_out", _rel(out, io["p_dec_out"])))
    if not rows:
        raise ValueError(f"Cannot check VAE fixture: '{fixture_dir}' has no t_dec_z, s_dec_z or p_dec_z")
    return rows


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"Cannot compare: shapes {list(a.shape)} vs reference {list(b.shape)}")
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))
