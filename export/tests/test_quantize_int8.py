"""int8 weight-only text blocks: fp32 activations, real size reduction, embeddings close to fp32."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from export.parity.chain import run_stage
from export.onnx.text import export_text, random_text_source, text_config, text_config_from_fixture
from export.models.weights import WeightSource

torch.set_num_threads(1)


def token_cosines(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return cos[mask.astype(bool)]


def export_pair(tmp: Path, cfg: dict, make_source) -> tuple[dict, dict]:
    stages = []
    for q in (False, True):
        out = tmp / ("int8" if q else "fp32")
        out.mkdir()
        stages.append(export_text(cfg, make_source(), out, int8=q))
    return stages[0], stages[1]


def run(tmp: Path, sub: str, stage: dict, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return run_stage(tmp / sub, stage, {"input_ids": ids, "attention_mask": mask})["y"]


def test_int8_fixture_blocks(tmp_path: Path, golden: Path):
    FIXTURE = golden / "t5_encoder"
    cfg = text_config_from_fixture(json.loads((FIXTURE / "config.json").read_text()))
    fp32, int8 = export_pair(tmp_path, cfg, lambda: WeightSource.open(FIXTURE / "weights.safetensors"))
    from safetensors.numpy import load_file
    io = load_file(str(FIXTURE / "io.safetensors"))
    a = run(tmp_path, "fp32", fp32, io["input_ids"], io["attention_mask"])
    b = run(tmp_path, "int8", int8, io["input_ids"], io["attention_mask"])
    assert token_cosines(a, b, io["attention_mask"]).min() > 0.999
    assert not np.array_equal(a, b)  # the weights really changed
    layer = onnx.load(str(tmp_path / "int8" / "text" / "layer_00.onnx"))
    ops = [(n.domain, n.op_type) for n in layer.graph.node]
    assert ops.count(("com.microsoft", "MatMulNBits")) == 7  # q, k, v, o, wi_0, wi_1, wo
    assert all(dict((a.name, a.i) for a in n.attribute)["bits"] == 8 for n in layer.graph.node
               if n.op_type == "MatMulNBits")
    # every graph input/output stays float32 (activations are not quantized)
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in [*layer.graph.input, *layer.graph.output])
    for b in int8["blocks"]:
        on_disk = (tmp_path / "int8" / b["file"]).stat().st_size
        on_disk += (tmp_path / "int8" / b["data"]).stat().st_size if b["data"] else 0
        assert b["bytes"] == on_disk


def test_int8_tiny_vocab_table_and_size(tmp_path: Path):
    cfg = text_config("tiny")
    fp32, int8 = export_pair(tmp_path, cfg, lambda: random_text_source(cfg, seed=5))
    size = lambda st: sum(b["bytes"] for b in st["blocks"])  # noqa: E731
    assert size(int8) / size(fp32) < 0.35  # dominated by the 32128 x 32 embedding
    embed = onnx.load(str(tmp_path / "int8" / "text" / "embed.onnx"))
    int8_tables = [t for t in embed.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert [list(t.dims) for t in int8_tables] == [[32128, 32]]
    g = np.random.default_rng(0)
    ids = g.integers(2, cfg["vocab_size"], (2, 24)).astype(np.int64)
    mask = np.ones((2, 24), np.int64)
    mask[1, 10:] = 0
    a, b = run(tmp_path, "fp32", fp32, ids, mask), run(tmp_path, "int8", int8, ids, mask)
    assert token_cosines(a, b, mask).min() > 0.999
