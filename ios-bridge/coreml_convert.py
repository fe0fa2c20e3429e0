"""Core ML conversion of one traced block: flexible input shapes from the bundle's symbolic dims, the
bundle's input and output names, fp16 or fp32 compute, an ML Program (.mlpackage) for iOS 17+.

coremltools 9.0 casts a constant shape value to int with `int(np.array([n]))`, which numpy ≥ 2.4
refuses ("only 0-dimensional arrays can be converted to Python scalars"); `_int` below re-registers
that one torch op with the same semantics, reading the single element explicitly.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch

import coremltools as ct
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.frontend.torch.ops import _get_inputs
from coremltools.converters.mil.frontend.torch.torch_op_registry import register_torch_op

PRECISIONS = {"fp16": ct.precision.FLOAT16, "fp32": ct.precision.FLOAT32}
TARGETS = {"iOS17": ct.target.iOS17, "iOS18": ct.target.iOS18}


@register_torch_op(torch_alias=["int"], override=True)
def _int(context, node) -> None:  # noqa: ANN001 (coremltools converter signature)
    """aten::Int: a scalar or single-element tensor to int32 (constant-folded when it is known)."""
    x = _get_inputs(context, node, expected=1)[0]
    if x.can_be_folded_to_const():
        res = mb.const(val=np.int32(np.asarray(x.val).reshape(-1)[0]), name=node.name)
    else:
        if len(x.shape) > 0:
            x = mb.squeeze(x=x, name=node.name + "_item")
        res = mb.cast(x=x, dtype="int32", name=node.name)
    context.add(res, node.name)


def parse_dims(text: str | None) -> dict[str, tuple[int, int]]:
    """`"B=2,T=1:32"` → {"B": (2, 2), "T": (1, 32)}: a fixed size or an inclusive range per symbol."""
    out: dict[str, tuple[int, int]] = {}
    for part in filter(None, (text or "").split(",")):
        key, _, value = part.partition("=")
        lo, _, hi = value.partition(":")
        try:
            bounds = (int(lo), int(hi or lo))
        except ValueError:
            raise ValueError(f"Cannot read --dims entry '{part}': expected SYMBOL=N or SYMBOL=MIN:MAX") from None
        if not key.strip() or bounds[0] < 1 or bounds[1] < bounds[0]:
            raise ValueError(f"Cannot read --dims entry '{part}': sizes must satisfy 1 <= MIN <= MAX")
        out[key.strip()] = bounds
    return out


def default_dims(max_length: int, patch: Sequence[int]) -> dict[str, tuple[int, int]]:
    """Ranges for every symbolic dim: batch ≤ 4 (one prompt with CFG is 2), ≤ 64 latent frames,
    patch grids ≤ 128×128 (1024 px), text ≤ the model's max length; Hp/Wp follow H/W × patch."""
    _, ph, pw = patch
    return {"B": (1, 4), "T": (1, 64), "Tm": (1, 64), "H": (1, 128), "W": (1, 128),
            "Hp": (1, 128 * ph), "Wp": (1, 128 * pw), "L": (1, max_length)}


def _input_types(io: Sequence[Mapping], args: Sequence[torch.Tensor],
                 dims: Mapping[str, tuple[int, int]]) -> list[ct.TensorType]:
    shared: dict[str, ct.RangeDim | int] = {}
    types = []
    for entry, example in zip(io, args):
        shape = []
        for d, n in zip(entry["dims"], example.shape):
            if isinstance(d, int):
                shape.append(d)
                continue
            if d not in dims:
                raise ValueError(f"Cannot convert input '{entry['name']}': symbolic dim '{d}' has no range "
                                 f"(give one with --dims {d}=MIN:MAX)")
            lo, hi = dims[d]
            if d not in shared:
                shared[d] = lo if lo == hi else ct.RangeDim(lo, hi, default=min(max(int(n), lo), hi))
            shape.append(shared[d])
        types.append(ct.TensorType(name=entry["name"], shape=ct.Shape(shape), dtype=np.float32))
    return types


def convert_block(module: torch.nn.Module, args: Sequence[torch.Tensor], block: Mapping, *,
                  dims: Mapping[str, tuple[int, int]], precision: str, target: str) -> ct.models.MLModel:
    """Trace `module(*args)` and convert it with the block's io names (outputs by their ONNX graph names)."""
    if any(io["dtype"] != "float32" for io in [*block["inputs"], *block["outputs"]]):
        raise ValueError(f"Cannot convert block '{block['name']}': only float32 inputs and outputs are supported")
    with torch.no_grad():
        traced = torch.jit.trace(module.eval(), tuple(args), check_trace=False)
    outputs = [ct.TensorType(name=o.get("onnx_name", o["name"])) for o in block["outputs"]]
    return ct.convert(traced, inputs=_input_types(block["inputs"], args, dims), outputs=outputs,
                      convert_to="mlprogram", compute_precision=PRECISIONS[precision],
                      minimum_deployment_target=TARGETS[target], skip_model_load=True)


def spec_summary(model: ct.models.MLModel) -> dict:
    """Input names with their shape ranges, and output names, as the saved model describes them."""
    spec = model.get_spec()
    inputs = {}
    for i in spec.description.input:
        arr = i.type.multiArrayType
        ranges = arr.shapeRange.sizeRanges
        inputs[i.name] = ([[r.lowerBound, r.upperBound] for r in ranges] if ranges
                          else [[int(n), int(n)] for n in arr.shape])
    return {"inputs": inputs, "outputs": [o.name for o in spec.description.output]}
