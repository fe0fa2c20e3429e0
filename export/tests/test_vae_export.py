"""VAE stage through the exported ONNX blocks (onnxruntime): fixture parity, dynamic shapes, other chunkings."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from export.parity.chain import run_block
from export.models.vae import pipeline_decode, spatial_decode
from export.parity.vae import decode_video
from export.onnx.vae import (check_vae_fixture, export_vae, load_vae, random_vae_source, vae_config,
                               vae_config_from_fixture)
from export.models.weights import WeightSource

torch.set_num_threads(1)


def write_bundle(out: Path, stage: dict) -> None:
    (out / "bundle.json").write_text(json.dumps({"schema": "odsora.bundle/1", "vae": stage}))


@pytest.mark.parametrize("name,parts", [("vae_temporal_decode", ["temporal"]), ("vae_spatial_decode", ["spatial"]),
                                        ("vae_pipeline_decode", ["temporal", "spatial"])])
def test_fixture_parity_through_onnx(tmp_path: Path, golden: Path, name: str, parts: list[str]):
    cfg = vae_config_from_fixture(json.loads((golden / name / "config.json").read_text()))
    stage = export_vae(cfg, WeightSource.open(golden / name / "weights.safetensors"), tmp_path)
    write_bundle(tmp_path, stage)
    assert stage["parts"] == parts
    assert [b["name"] for b in stage["blocks"]] == [f"{p}_decode" for p in parts]
    for b in stage["blocks"]:
        on_disk = (tmp_path / b["file"]).stat().st_size + ((tmp_path / b["data"]).stat().st_size if b["data"] else 0)
        assert b["bytes"] == on_disk
    rows = check_vae_fixture(golden / name, tmp_path)
    assert rows
    for label, err in rows:
        assert err <= 1e-4, (label, err)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg = vae_config("tiny")
    source = random_vae_source(cfg, seed=7)
    out = tmp_path_factory.mktemp("vae_tiny")
    stage = export_vae(cfg, source, out)
    write_bundle(out, stage)
    return cfg, load_vae(cfg, source), out, stage


@pytest.mark.parametrize("shape", [(1, 4, 5, 4, 6), (2, 4, 2, 3, 5)])
def test_temporal_decode_dynamic_shapes(tiny, shape):
    cfg, vae, out, stage = tiny
    z = torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    got = run_block(out, stage["blocks"][0], {"z": z.numpy()})["z_frames"]
    with torch.no_grad():
        want = vae.temporal_vae.decode(z * vae.scale + vae.shift).numpy()
    assert got.shape == (shape[0], 4, 4 * shape[2], shape[3], shape[4])
    assert np.linalg.norm(got - want) / np.linalg.norm(want) <= 1e-5


@pytest.mark.parametrize("shape", [(1, 4, 3, 4, 4), (2, 4, 2, 3, 5)])
def test_spatial_decode_dynamic_shapes(tiny, shape):
    cfg, vae, out, stage = tiny
    z = torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    got = run_block(out, stage["blocks"][1], {"z_frames": z.numpy()})["frames"]
    with torch.no_grad():
        want = spatial_decode(vae.spatial_vae.module, z).numpy()
    assert got.shape == (shape[0], 3, shape[2], 8 * shape[3], 8 * shape[4])
    assert np.linalg.norm(got - want) / np.linalg.norm(want) <= 1e-5


def test_decode_follows_manifest_chunking(tiny):
    """Another chunking than the fixtures (9-frame chunks = 3 latents, micro-batch 3): ONNX twin == torch."""
    cfg, vae, out, stage = tiny
    stage = {**stage, "chunk_frames": 9, "chunk_latents": 3, "spatial_micro_batch": 3}
    z = torch.randn(1, 4, 8, 2, 3, generator=torch.Generator().manual_seed(1))  # 25 frames: 9 + 9 + 7
    got = decode_video(out, stage, z.numpy(), 25)
    with torch.no_grad():
        want = pipeline_decode(vae, z, 25, chunk_latents=3, chunk_frames=9, micro_batch=3).numpy()
    assert got.shape == (1, 3, 25, 16, 24)
    assert np.linalg.norm(got - want) / np.linalg.norm(want) <= 1e-5


def test_stage_numbers(tiny):
    _, _, _, stage = tiny
    assert {k: stage[k] for k in ("latent_channels", "spatial_factor", "temporal_factor", "chunk_latents",
                                  "chunk_frames", "spatial_micro_batch")} == {
        "latent_channels": 4, "spatial_factor": 8, "temporal_factor": 4, "chunk_latents": 5, "chunk_frames": 17,
        "spatial_micro_batch": 4}
    t, s = stage["blocks"]
    assert t["inputs"][0]["dims"] == ["B", 4, "T", "H", "W"] and t["outputs"][0]["dims"] == ["B", 4, "N", "H", "W"]
    assert s["inputs"][0]["name"] == "z_frames" and s["outputs"][0]["dims"] == ["B", 3, "N", "Hp", "Wp"]
