"""The default model's trainers: exact resume, deterministic steps, sampling helpers."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from export.train import dit as train_dit

from export.train import vae as train_vae
from export.train.dit_steps import sample_s
from export.train.rf_sample import latent_shape, rflow_timesteps, tdtm_operators
from export.train.common import load_checkpoint, step_rng

VAE_ARGS = ["--steps", "3", "2", "1", "--batch", "2", "1", "1", "--eval-clips", "1", "--stats-clips", "16",
            "--save-minutes", "100", "--threads", "1"]
DIT_ARGS = ["--steps", "3", "--batch", "2", "--clips", "4", "--save-minutes", "100", "--threads", "1"]
BUCKET_ARGS = ["--buckets", "--steps", "2", "--clips", "2", "--warmup", "1", "--ema", "0.9", "--save-minutes", "100",
               "--threads", "1"]


def _same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny VAE and DiT run straight through, and the same runs stopped and resumed."""
    root = tmp_path_factory.mktemp("train")
    cwd = Path.cwd()
    try:
        import os
        os.chdir(root)  # the latent cache lives in ./.odsora-cache
        torch.set_num_threads(1)
        train_vae.main(["--out", str(root / "a/vae.pt"), *VAE_ARGS])
        for _ in range(4):  # stopped after every step (one phase boundary crossed mid-way)
            train_vae.main(["--out", str(root / "b/vae.pt"), *VAE_ARGS, "--stop-after", "2"])
        train_dit.main(["--out", str(root / "a/dit.pt"), "--vae", str(root / "a/vae.pt"), *DIT_ARGS])
        for _ in range(2):
            train_dit.main(["--out", str(root / "b/dit.pt"), "--vae", str(root / "a/vae.pt"), *DIT_ARGS,
                            "--stop-after", "2"])
        # The bucket stages: fine-tuned from the finished checkpoints, straight (c) and stopped/resumed (d).
        for d in ("c", "d"):
            (root / d).mkdir()
            shutil.copy(root / "a/vae.pt", root / d / "vae.pt")
            shutil.copy(root / "a/dit.pt", root / d / "dit.pt")
        train_vae.main(["--out", str(root / "c/vae.pt"), *VAE_ARGS, "--bucket-steps", "2"])
        train_dit.main(["--out", str(root / "c/dit.pt"), "--vae", str(root / "c/vae.pt"), *BUCKET_ARGS])
        for _ in range(2):
            train_vae.main(["--out", str(root / "d/vae.pt"), *VAE_ARGS, "--bucket-steps", "2", "--stop-after", "1"])
            train_dit.main(["--out", str(root / "d/dit.pt"), "--vae", str(root / "c/vae.pt"), *BUCKET_ARGS,
                            "--stop-after", "1"])
    finally:
        os.chdir(cwd)
    return {"root": root}


def test_vae_resumed_run_equals_uninterrupted(trained: dict) -> None:
    a = load_checkpoint(trained["root"] / "a/vae.pt")
    b = load_checkpoint(trained["root"] / "b/vae.pt")
    assert a["done"] and b["done"]
    _same_state(a["model"], b["model"])
    assert not torch.equal(a["model"]["scale"], torch.ones_like(a["model"]["scale"]))


def test_dit_resumed_run_equals_uninterrupted(trained: dict) -> None:
    a = load_checkpoint(trained["root"] / "a/dit.pt")
    b = load_checkpoint(trained["root"] / "b/dit.pt")
    assert a["step"] == b["step"] == 3
    for k in ("dit", "t5", "ema_dit", "ema_t5"):
        _same_state(a[k], b[k])
    assert not torch.equal(a["dit"]["final_layer.linear.weight"], a["ema_dit"]["final_layer.linear.weight"])


def test_bucket_stages_fine_tune_the_finished_checkpoints_and_resume_exactly(trained: dict) -> None:
    root = trained["root"]
    va, vc, vd = (load_checkpoint(root / d / "vae.pt") for d in "acd")
    assert vc["bucket_step"] == vd["bucket_step"] == 2 and vc["done"]
    _same_state(vc["model"], vd["model"])
    assert torch.equal(vc["model"]["scale"], va["model"]["scale"])  # the DiT's latent scale is kept
    assert not torch.equal(vc["model"]["temporal_vae.encoder.conv_in.conv.weight"],
                           va["model"]["temporal_vae.encoder.conv_in.conv.weight"])
    a, c, d = (load_checkpoint(root / x / "dit.pt") for x in "acd")
    assert c["stage"] == d["stage"] == "buckets" and c["step"] == d["step"] == 2
    assert c["init"]["step"] == a["step"] == 3
    for k in ("dit", "t5", "ema_dit", "ema_t5"):
        _same_state(c[k], d[k])
    assert not torch.equal(c["dit"]["final_layer.linear.weight"], a["dit"]["final_layer.linear.weight"])
    with pytest.raises(train_dit.TrainError, match="add --buckets"):
        train_dit.main(["--out", str(root / "c/dit.pt"), "--vae", str(root / "c/vae.pt"), *DIT_ARGS])


def test_dit_refuses_an_unfinished_vae(tmp_path: Path) -> None:
    train_vae.main(["--out", str(tmp_path / "vae.pt"), *VAE_ARGS, "--stop-after", "1"])
    with pytest.raises(train_dit.TrainError, match="is not finished"):
        train_dit.main(["--out", str(tmp_path / "dit.pt"), "--vae", str(tmp_path / "vae.pt"), *DIT_ARGS])


def test_step_rng_depends_on_seed_phase_and_step() -> None:
    draws = {(s, p, k): step_rng(s, p, k)[0].random() for s in (0, 1) for p in (0, 1) for k in (0, 1)}
    assert len(set(draws.values())) == len(draws)
    assert step_rng(3, 1, 7)[1].initial_seed() == step_rng(3, 1, 7)[1].initial_seed()


def test_sample_s_stays_inside_and_covers_the_interval() -> None:
    s = sample_s(np.random.default_rng(0), 20000)
    assert 0 < s.min() and s.max() < 1
    assert abs(s.mean() - 0.5) < 0.02
    assert (s < 0.1).mean() > 0.05 and (s > 0.9).mean() > 0.05


def test_latent_shape_follows_the_v12_frame_rule() -> None:
    assert [latent_shape(f, 64, 64)[1] for f in (1, 16, 17, 34, 51)] == [1, 4, 5, 10, 15]
    assert latent_shape(17, 64, 96) == (4, 5, 8, 12)


def test_rflow_timesteps_shift_towards_low_noise_for_small_videos() -> None:
    plain = rflow_timesteps(30, 64, 64, 17, shift=False)
    shifted = rflow_timesteps(30, 64, 64, 17)
    assert plain[0] == shifted[0] == 1000.0 and len(shifted) == 30
    assert all(s < p for s, p in zip(shifted[1:], plain[1:]))
    big = rflow_timesteps(30, 240, 426, 51)
    assert big[1] == pytest.approx(985.96, abs=0.05)  # spec §4.2 (r = 2.4187 without bf16 rounding)


def test_exported_bundle_matches_the_trained_torch_model(trained: dict) -> None:
    """export_default's bundle, run block by block with onnxruntime, equals the torch EMA model and VAE."""
    import json
    import os

    from export.parity.chain import run_stage
    from export.train.default_model import CHUNK_FRAMES, CHUNK_LATENTS
    from export.train.dit_steps import embed_text
    from export.train.export_default import export_default
    from export.train.dit import load_vae
    from export.train.monitor import load_text_to_video
    from export.models.vae import pipeline_decode

    root = trained["root"]
    cwd = Path.cwd()
    try:
        os.chdir(root)  # the preview fit reads the latent cache written there
        export_default(root / "bundle", root / "a/vae.pt", root / "a/dit.pt")
    finally:
        os.chdir(cwd)
    out = root / "bundle"
    doc = json.loads((out / "bundle.json").read_text())
    assert doc["source"]["kind"] == "trained" and doc["text"]["prompt_suffix"] == ""
    assert doc["video"] == {"fps": 8, "default_frames": 34, "default_height": 64, "default_width": 64}
    dit, t5, tok, _ = load_text_to_video(root / "a/dit.pt")
    vae = load_vae(root / "a/vae.pt")
    with torch.no_grad():
        y, mask = embed_text(t5, tok, ["a red circle moving left on a black background", "blue square , gray"],
                             torch.device("cpu"))
        env = run_stage(out, doc["text"], {"input_ids": _ids(tok), "attention_mask": mask.numpy()})
        assert np.allclose(env["y"], y.numpy(), atol=1e-4)
        null = np.fromfile(out / "null_caption.bin", dtype="<f4").reshape(doc["null_caption"]["dims"])
        assert np.array_equal(null, dit.null_caption().numpy())
        g = torch.Generator().manual_seed(0)
        x, t = torch.randn(2, 4, 5, 8, 8, generator=g), torch.tensor([900.0, 250.0])
        eye = torch.eye(5)
        # unmerged, and TDTM as odsora's variants merge (key frame alone, merged frames at their mean time)
        for merge, unmerge, pos in [(eye, eye, torch.arange(5.0)), tdtm_operators(5, chunk=5, time=True)]:
            ref = dit(x, t, y, mask=mask, fps=torch.full((2,), 8.0), height=torch.tensor([64.0]),
                      width=torch.tensor([64.0]), merge_t=merge, unmerge_t=unmerge, rope_pos=pos)
            env = run_stage(out, doc["denoiser"], {
                "x": x.numpy(), "timestep": t.numpy(), "y": y.numpy(), "y_mask": mask.float().numpy(),
                "x_mask": np.ones((2, 5), np.float32), "fps": np.full(2, 8.0, np.float32),
                "height": np.array([64.0], np.float32), "width": np.array([64.0], np.float32),
                "merge_t": merge.numpy(), "unmerge_t": unmerge.numpy(), "rope_pos": pos.numpy()})
            assert np.allclose(env["out"], ref.numpy(), atol=1e-4)
        z = torch.randn(1, 4, 5, 8, 8, generator=g)
        video = pipeline_decode(vae, z, 17, chunk_latents=CHUNK_LATENTS, chunk_frames=CHUNK_FRAMES, micro_batch=4)
        env = run_stage(out, doc["vae"], {"z": z.numpy()}, blocks=["temporal_decode"])
        env = run_stage(out, doc["vae"], {"z_frames": env["z_frames"][:, :, 3:]}, blocks=["spatial_decode"])
        assert np.allclose(env["frames"], video.numpy(), atol=1e-4)


def _ids(tok) -> np.ndarray:
    from export.train.default_model import TEXT_MAX_LENGTH
    from export.world.tokenizer_words import encode
    return encode(tok, ["a red circle moving left on a black background", "blue square , gray"], TEXT_MAX_LENGTH)[0].numpy()


def test_bundle_provenance_names_both_stages_of_a_bucket_checkpoint(trained: dict) -> None:
    from export.train.export_default import steps_text
    assert steps_text(load_checkpoint(trained["root"] / "a/dit.pt")) == "3 DiT steps"
    assert steps_text(load_checkpoint(trained["root"] / "c/dit.pt")) == "3 DiT steps on 17-frame clips + 2 on buckets"


def test_tdtm_operators_match_the_plugin() -> None:
    """The monitor's TDTM operators are plugins/tdtm.ts's (`oddFrame: alone`): pairs, or key frames alone per
    chunk with the merged frames at their mean time."""
    merge, unmerge, pos = tdtm_operators(10)
    assert merge.shape == (5, 10) and pos is None
    assert torch.equal(unmerge.argmax(1), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]))
    merge, unmerge, pos = tdtm_operators(10, chunk=5, time=True)
    assert torch.equal(unmerge.argmax(1), torch.tensor([0, 1, 1, 2, 2, 3, 4, 4, 5, 5]))
    assert pos.tolist() == [0, 1.5, 3.5, 5, 6.5, 8.5]
    assert torch.allclose(merge.sum(1), torch.ones(6)) and torch.equal(unmerge.sum(1), torch.ones(10))
    assert tdtm_operators(5, chunk=5)[0].shape == (3, 5) and tdtm_operators(9, chunk=5)[0].shape == (6, 9)
