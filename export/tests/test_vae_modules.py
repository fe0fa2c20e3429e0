"""VAE modules in PyTorch vs the golden fixtures (encode and decode), strict loading, chunk planning."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from export.models.vae import (SCALING_FACTOR, VideoAutoencoderPipeline, diagonal_gaussian, pipeline_decode,
                        pipeline_encode, spatial_decode, spatial_encode, temporal_chunks, temporal_encode)
from export.onnx.vae import load_vae, random_vae_source, vae_config, vae_config_from_fixture
from export.models.weights import WeightError, WeightSource

TOL = 1e-4
torch.set_num_threads(1)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).norm() / b.norm())


def fixture(golden: Path, name: str):
    cfg_json = json.loads((golden / name / "config.json").read_text())
    cfg = vae_config_from_fixture(cfg_json)
    vae = load_vae(cfg, WeightSource.open(golden / name / "weights.safetensors"))
    return cfg, cfg_json, vae, load_file(str(golden / name / "io.safetensors"))


def test_temporal_encode_matches_fixture(golden: Path):
    _, _, vae, io = fixture(golden, "vae_temporal_decode")
    with torch.no_grad():
        moments = vae.temporal_vae.encode(io["t_enc_x"])
        mean, logvar = temporal_encode(vae.temporal_vae, io["t_enc_x"])
    _, _, std = diagonal_gaussian(moments)
    assert rel(moments, io["t_enc_moments"]) <= TOL
    assert rel(mean, io["t_enc_mean"]) <= TOL
    assert rel(logvar, io["t_enc_logvar"]) <= TOL
    assert rel(std, io["t_enc_std"]) <= TOL
    assert rel(mean + std * io["t_enc_eps"], io["t_enc_sample"]) <= TOL


def test_temporal_decode_matches_fixture_for_every_num_frames(golden: Path):
    _, _, vae, io = fixture(golden, "vae_temporal_decode")
    nfs = [int(n) for n in io["t_dec_num_frames"].tolist()]
    assert nfs and all(f"t_dec_out_nf{n}" in io for n in nfs)
    with torch.no_grad():
        for n in nfs:
            assert rel(vae.temporal_vae.decode_frames(io["t_dec_z"], n), io[f"t_dec_out_nf{n}"]) <= TOL


def test_spatial_encode_and_decode_match_fixture(golden: Path):
    cfg, _, vae, io = fixture(golden, "vae_spatial_decode")
    with torch.no_grad():
        mean, logvar = spatial_encode(vae.spatial_vae.module, io["s_enc_x"], cfg["micro_batch_size"])
        out = spatial_decode(vae.spatial_vae.module, io["s_dec_z"], cfg["micro_batch_size"])
    std = torch.exp(0.5 * logvar)
    assert rel(mean, io["s_enc_mean"]) <= TOL
    assert rel(std, io["s_enc_std"]) <= TOL
    assert rel((mean + std * io["s_enc_eps"]) * SCALING_FACTOR, io["s_enc_sample_scaled"]) <= TOL
    assert rel(out, io["s_dec_out"]) <= TOL


def test_pipeline_decode_matches_fixture(golden: Path):
    cfg, cfg_json, vae, io = fixture(golden, "vae_pipeline_decode")
    assert vae.scale is not None and vae.scale.shape == (1, 4, 1, 1, 1)
    chunk_latents = -(-cfg["micro_frame_size"] // vae.temporal_vae.time_factor)
    with torch.no_grad():
        out = pipeline_decode(vae, io["p_dec_z"], int(io["p_num_frames"]), chunk_latents=chunk_latents,
                              chunk_frames=cfg["micro_frame_size"], micro_batch=cfg["micro_batch_size"])
    assert rel(out, io["p_dec_out"]) <= TOL


def test_missing_unknown_and_misshaped_keys_are_named(golden: Path):
    cfg, _, _, _ = fixture(golden, "vae_pipeline_decode")
    state = load_file(str(golden / "vae_pipeline_decode" / "weights.safetensors"))
    gone = "temporal_vae.decoder.conv_out.conv.weight"
    with pytest.raises(WeightError, match=gone.replace(".", r"\.")):
        load_vae(cfg, WeightSource.from_tensors({k: v for k, v in state.items() if k != gone}))
    with pytest.raises(WeightError, match=r"unknown keys \['spatial_vae\.module\.extra\.weight'\]"):
        load_vae(cfg, WeightSource.from_tensors({**state, "spatial_vae.module.extra.weight": torch.zeros(1)}))
    no_buffers = load_vae(cfg, WeightSource.from_tensors({k: v for k, v in state.items() if k not in ("scale", "shift")}))
    assert no_buffers.scale.flatten().tolist() == pytest.approx(cfg["scale"])  # spec §9: fall back to config
    bad = "spatial_vae.module.decoder.conv_in.weight"
    with pytest.raises(WeightError, match="wrong shapes"):
        load_vae(cfg, WeightSource.from_tensors({**state, bad: torch.zeros(1, 2, 3, 3)}))


def test_temporal_chunks_follow_open_sora_bookkeeping():
    plan = temporal_chunks(15, 51, 5, 17, 4)
    assert [(c.start, c.stop, c.num_frames, c.drop) for c in plan] == [(0, 5, 17, 3), (5, 10, 17, 3), (10, 15, 17, 3)]
    # a short last chunk: 3 latents with 9 frames left -> 12 decoded, 3 dropped
    assert [(c.stop - c.start, c.drop) for c in temporal_chunks(8, 26, 5, 17, 4)] == [(5, 3), (3, 3)]
    assert [(c.num_frames, c.drop) for c in temporal_chunks(1, 1, 5, 17, 4)] == [(1, 3)]
    # another chunking (9-frame chunks -> 3 latents) and factor 2
    assert [(c.start, c.stop, c.drop) for c in temporal_chunks(7, 19, 3, 9, 2)] == [(0, 3, 1), (3, 6, 1), (6, 7, 1)]
    with pytest.raises(ValueError, match="Cannot plan temporal decode"):
        temporal_chunks(10, 17, 5, 17, 4)


@pytest.mark.parametrize("frames,latent", [(1, 1), (16, 4), (17, 5), (20, 6)])
def test_pipeline_encode_gives_open_sora_latent_length(frames, latent):
    cfg = vae_config("tiny")
    vae = load_vae(cfg, random_vae_source(cfg, seed=3))
    x = torch.rand(1, 3, frames, 16, 24) * 2 - 1
    with torch.no_grad():
        z = pipeline_encode(vae, x, chunk_frames=cfg["micro_frame_size"], micro_batch=cfg["micro_batch_size"],
                            generator=torch.Generator().manual_seed(0))
    assert z.shape == (1, 4, latent, 2, 3)
    assert torch.isfinite(z).all()


def test_tiny_and_v12_presets_have_the_checkpoint_layout():
    tiny = VideoAutoencoderPipeline(vae_config("tiny"))
    keys = set(tiny.state_dict())
    assert {"scale", "shift", "temporal_vae.decoder.conv_blocks.2.conv.weight",
            "spatial_vae.module.decoder.mid_block.attentions.0.to_out.0.weight"} <= keys
    with torch.device("meta"):
        full = VideoAutoencoderPipeline(vae_config("v1.2"))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(full.spatial_vae) == 83_653_863  # spec §7.1
    assert count(full.temporal_vae) == 309_687_144
