"""T5 text stage: torch blocks and exported ONNX blocks vs the t5_encoder fixture and transformers' encoder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from export.models import t5
from export.parity.chain import run_stage
from export.onnx.text import (check_t5_fixture, export_text, random_text_source, text_config,
                                text_config_from_fixture)
from export.models.weights import WeightError, WeightSource

torch.set_num_threads(1)


def cfg_and_source(golden: Path):
    FIXTURE = golden / "t5_encoder"
    cfg = text_config_from_fixture(json.loads((FIXTURE / "config.json").read_text()))
    return cfg, WeightSource.open(FIXTURE / "weights.safetensors")


def reference_encoder(golden: Path, cfg):
    """transformers' own T5EncoderModel with the fixture weights: an independent reference at any shape."""
    from transformers import T5EncoderModel
    model = T5EncoderModel(t5.hf_config(cfg)).eval()
    state = load_file(str(golden / "t5_encoder" / "weights.safetensors"))
    model.load_state_dict(state, strict=True)
    return model


def test_torch_blocks_match_fixture(golden: Path):
    cfg, source = cfg_and_source(golden)
    io = load_file(str(golden / "t5_encoder" / "io.safetensors"))
    y = t5.encode(cfg, source, io["input_ids"], io["attention_mask"])
    ref = io["last_hidden_state"]
    assert float((y - ref).norm() / ref.norm()) <= 1e-4


def test_missing_unknown_and_misshaped_keys_are_named(golden: Path):
    cfg, _ = cfg_and_source(golden)
    state = load_file(str(golden / "t5_encoder" / "weights.safetensors"))
    gone = "encoder.block.1.layer.1.DenseReluDense.wo.weight"
    with pytest.raises(WeightError, match=r"missing keys \['encoder\.block\.1\.layer\.1\.DenseReluDense\.wo\.weight'\]"):
        t5.check_keys(cfg, WeightSource.from_tensors({k: v for k, v in state.items() if k != gone}))
    with pytest.raises(WeightError, match=r"unknown keys \['encoder\.block\.2\.layer\.0\.layer_norm\.weight'\]"):
        t5.check_keys(cfg, WeightSource.from_tensors({**state, "encoder.block.2.layer.0.layer_norm.weight": torch.ones(32)}))
    bad = {**state, "encoder.block.0.layer.0.SelfAttention.q.weight": torch.zeros(32, 16)}
    with pytest.raises(WeightError, match="wrong shapes"):
        t5.build_block(cfg, "layer_00", WeightSource.from_tensors(bad))
    with pytest.raises(ValueError, match="Cannot build T5 block: 'layer_02'"):
        t5.build_block(cfg, "layer_02")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, golden):
    cfg, source = cfg_and_source(golden)
    out = tmp_path_factory.mktemp("t5_fx")
    stage = export_text(cfg, source, out)
    (out / "bundle.json").write_text(json.dumps({"schema": "odsora.bundle/1", "text": stage}))
    return cfg, out, stage


def test_stage_object(bundle):
    cfg, out, stage = bundle
    assert [b["name"] for b in stage["blocks"]] == ["embed", "layer_00", "layer_01", "final"]
    assert stage["inputs"] == ["input_ids", "attention_mask"] and stage["output"] == "y"
    assert (stage["max_length"], stage["pad_id"], stage["eos_id"], stage["caption_channels"]) == (16, 0, 1, 32)
    assert stage["tokenizer"] is None
    embed, layer = stage["blocks"][0], stage["blocks"][1]
    assert embed["outputs"][1]["dims"] == ["B", 4, "L", "L"]
    assert [i["name"] for i in layer["inputs"]] == ["hidden", "bias"] and layer["outputs"][0]["name"] == "hidden"
    for b in stage["blocks"]:
        on_disk = (out / b["file"]).stat().st_size + ((out / b["data"]).stat().st_size if b["data"] else 0)
        assert b["bytes"] == on_disk


def test_onnx_stage_matches_fixture(bundle, golden: Path):
    _, out, _ = bundle
    rows = check_t5_fixture(golden / "t5_encoder", out)
    assert len(rows) == 3
    for label, err in rows:
        assert err <= 1e-4, (label, err)


@pytest.mark.parametrize("batch,length,lens", [(1, 7, [7]), (3, 12, [12, 4, 1])])
def test_onnx_stage_dynamic_shapes_match_transformers(bundle, golden, batch, length, lens):
    cfg, out, stage = bundle
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(2, cfg["vocab_size"], (batch, length), generator=g)
    mask = torch.zeros(batch, length, dtype=torch.long)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
        ids[b, n - 1] = 1
        ids[b, n:] = 0
    y = run_stage(out, stage, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})["y"]
    with torch.no_grad():
        ref = reference_encoder(golden, cfg)(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
    assert y.shape == (batch, length, 32)
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) <= 1e-4


def test_random_source_is_deterministic_and_uses_t5_init_scales():
    cfg = text_config("xxl")
    source = random_text_source(cfg, seed=1)
    t5.check_keys(cfg, source)  # every XXL key is declared, with its shape, without generating anything
    assert source.shape("encoder.block.23.layer.1.DenseReluDense.wo.weight") == (4096, 10240)
    key = "encoder.block.5.layer.0.SelfAttention.k.weight"
    w = source.get(key)
    assert torch.equal(w, random_text_source(cfg, seed=1).get(key))
    assert not torch.equal(w, random_text_source(cfg, seed=2).get(key))
    assert abs(float(w.std()) - 4096 ** -0.5) < 1e-3
    assert torch.equal(source.get("encoder.final_layer_norm.weight"), torch.ones(4096))
