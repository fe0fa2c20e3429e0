"""Weight-only int8 quantization of exported text (T5) blocks; activations stay float32.

- MatMul with a constant weight → `com.microsoft.MatMulNBits` (bits=8, symmetric, blocks of `block_size`
  along K), produced by onnxruntime.quantization's MatMulNBitsQuantizer. With accuracy_level unset the
  kernel dequantizes weights and multiplies in float32. Runs on CPU ORT and onnxruntime-node 1.30.
- Vocabulary Gather (a constant table with more than 256 rows: the T5 embedding) → int8 table + per-row
  float32 scale: Gather(int8) → Cast → Mul(Gather(scale)); only the looked-up rows are dequantized.
  (ORT's quantizer only offers 4-bit Gather.) Small tables such as the 32-bucket relative bias stay fp32.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TEXT_INT8 = "int8-weight"  # value for bundle.json "quantization": {"text": ...}
VOCAB_MIN_ROWS = 256


def quantize_model_int8(model: onnx.ModelProto, block_size: int = 128) -> onnx.ModelProto:
    """Return `model` with int8 weight-only MatMulNBits and int8 vocabulary Gathers."""
    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                 MatMulNBitsQuantizer)
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    _quantize_vocab_gathers(model)
    if any(n.op_type == "MatMul" for n in model.graph.node):
        cfg = DefaultWeightOnlyQuantConfig(block_size=block_size, is_symmetric=True, bits=8,
                                           quant_format=QuantFormat.QOperator, op_types_to_quantize=("MatMul",))
        q = MatMulNBitsQuantizer(model, algo_config=cfg)
        q.process()
        model = q.model.model
    return model


def _quantize_vocab_gathers(model: onnx.ModelProto) -> None:
    inits = {t.name: t for t in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        table = inits.get(node.input[0]) if node.op_type == "Gather" else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if table is None or table.data_type != TensorProto.FLOAT or len(table.dims) != 2 \
                or table.dims[0] <= VOCAB_MIN_ROWS or axis != 0:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(table).astype(np.float32)
        scale = np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-30) / 127.0
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        base = table.name
        model.graph.initializer.remove(table)
        model.graph.initializer.extend([numpy_helper.from_array(q, base + "_int8"),
                                        numpy_helper.from_array(scale.astype(np.float32), base + "_scale")])
        ids, out = node.input[1], node.output[0]
        nodes += [helper.make_node("Gather", [base + "_int8", ids], [out + "_q"], axis=0),
                  helper.make_node("Gather", [base + "_scale", ids], [out + "_s"], axis=0),
                  helper.make_node("Cast", [out + "_q"], [out + "_f"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [out + "_f", out + "_s"], [out])]
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def quantize_block_int8(out_dir: Path, entry: Mapping, block_size: int = 128) -> dict:
    """Quantize one exported block in place (written to a temp folder, then renamed); return its new entry."""
    out_dir = Path(out_dir)
    path = out_dir / entry["file"]
    model = quantize_model_int8(onnx.load(str(path)), block_size)
    tmp = path.parent / f".int8_{path.stem}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    data_name = path.name + ".data"
    onnx.save_model(model, str(tmp / path.name), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=1024, convert_attribute=False)
    del model
    has_data = (tmp / data_name).exists()
    old_data = path.parent / data_name
    if has_data:
        os.replace(tmp / data_name, old_data)
    elif old_data.exists():
        old_data.unlink()
    os.replace(tmp / path.name, path)
    tmp.rmdir()
    size = path.stat().st_size + (old_data.stat().st_size if has_data else 0)
    return {**entry, "bytes": int(size), "data": (str(Path(entry["file"]).parent / data_name) if has_data else None)}
