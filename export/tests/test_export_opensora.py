"""`python -m export opensora` on checkpoint folders laid out like the released ones (tiny sizes, random weights)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from export.onnx.bundle import read_bundle
from export.parity.chain import run_stage
from export.onnx.denoiser import random_denoiser_source
from export.parity.denoiser_runner import run_denoiser
from export.models.stdit3 import STDiT3, preset
from export.tests.test_t5_tokenizer import toy_spiece

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


def _save(source, folder: Path, config: dict | None) -> None:  # noqa: ANN001
    folder.mkdir()
    save_file({k: source.get(k).contiguous() for k in source.keys()}, str(folder / "model.safetensors"))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from export.onnx.text import random_text_source, text_config
    from export.onnx.vae import random_vae_source, vae_config
    root = tmp_path_factory.mktemp("ckpt")
    cfg = preset("tiny")
    _save(random_denoiser_source(cfg, seed=2), root / "stdit", {"model_type": "STDiT3", **cfg.to_json()})
    t5 = text_config("tiny")
    _save(random_text_source(t5, seed=2), root / "t5", {"model_type": "t5", **{k: v for k, v in t5.items()
                                                                                 if k != "max_length"}})
    toy_spiece(root / "t5" / "spiece.model")
    _save(random_vae_source(vae_config("tiny"), seed=2), root / "vae", None)
    return root


def export(root: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export", "opensora", "--stdit", str(root / "stdit"), "--t5",
                           str(root / "t5"), "--vae", str(root / "vae"), "--vae-config", "tiny", "--out", str(out),
                           "--threads", "1", "--quiet", *extra], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)


def test_full_bundle_from_checkpoint_folders(checkpoints: Path, tmp_path: Path) -> None:
    r = export(checkpoints, tmp_path / "b", "--int8-text")
    assert r.returncode == 0, r.stderr
    doc = read_bundle(tmp_path / "b")
    assert doc["source"]["kind"] == "checkpoint" and doc["quantization"] == {"text": "int8-weight"}
    text, den, vae = doc["text"], doc["denoiser"], doc["vae"]
    assert text["tokenizer"] == "tokenizer.json" and (tmp_path / "b" / "tokenizer.json").is_file()
    assert text["max_length"] == 8 and text["caption_channels"] == den["caption_channels"] == 32
    assert text["prompt_suffix"] == " aesthetic score: 6.5." and text["lowercase"] is True
    assert text["null_caption"] == doc["null_caption"] == {"file": "null_caption.bin", "dtype": "float32", "dims": [8, 32]}
    assert vae["parts"] == ["temporal", "spatial"] and den["depth"] == 2

    # text → denoiser, as the runtime chains them, equals the torch STDiT3 on the same text embedding
    ids = np.zeros((1, 8), np.int64)
    ids[0, :4] = [4, 3, 4, 1]
    mask = (np.arange(8) < 4).astype(np.int64)[None]
    y = run_stage(tmp_path / "b", text, {"input_ids": ids, "attention_mask": mask})["y"]
    assert y.shape == (1, 8, 32) and np.isfinite(y).all()
    model = STDiT3(preset("tiny")).eval()
    random_denoiser_source(preset("tiny"), seed=2).load_into(model)
    x = np.random.default_rng(0).standard_normal((1, 4, 2, 4, 6)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.tensor([700.0]), torch.from_numpy(y), mask=torch.from_numpy(mask),
                    fps=torch.tensor([24.0]), height=torch.tensor([240.0]), width=torch.tensor([426.0])).numpy()
    got = run_denoiser(tmp_path / "b", den, x, np.array([700.0]), y, y_mask=mask, height=240.0, width=426.0)
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-5


def test_bad_checkpoint_is_refused_before_writing(checkpoints: Path, tmp_path: Path) -> None:
    r = export(checkpoints, tmp_path / "b", "--stdit-config", "small")
    assert r.returncode == 1
    assert "Cannot load STDiT3 (hidden 128, depth 4) checkpoint" in r.stderr and "missing keys" in r.stderr
    r = export(checkpoints, tmp_path / "b", "--tokenizer", str(tmp_path / "none.model"))
    assert r.returncode == 1 and "Cannot find a tokenizer" in r.stderr
    assert list(tmp_path.iterdir()) == []
