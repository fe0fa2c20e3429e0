"""Core ML conversion of one traced block: flexible input shapes from the bundle's symbolic dims, the
bundle's input and output names, fp16 or fp32 compute, an ML Program (.mlpackage) for iOS 17+. int64
inputs (T5 token ids) become int32 (Core ML has no int64 arrays; the device converts, range-checked).

Two torch ops are re-registered (coremltools' documented `register_torch_op(override=True)`), with the
same semantics:
- `int`: coremltools 9.0 casts a constant shape value with `int(np.array([n]))`, which numpy ≥ 2.4
  refuses ("only 0-dimensional arrays can be converted to Python scalars");
- `group_norm`: coremltools builds a constant [N, G, C/G, ...] shape, which fails for a flexible batch
  (the VAE's) and makes a rank-6 tensor for 5-D input (the temporal VAE's); ours normalises over
  [N, G, -1] from the runtime shape and reshapes back.
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


@register_torch_op(override=True)
def group_norm(context, node) -> None:  # noqa: ANN001 (coremltools converter signature)
    """aten::group_norm(x, groups, weight, bias, eps, cudnn): GroupNorm for any rank and a flexible batch."""
    x, groups, weight, bias, eps = _get_inputs(context, node, expected=6)[:5]
    g = int(groups.val)
    shape = mb.shape(x=x)
    grouped = mb.concat(values=[mb.slice_by_index(x=shape, begin=[0], end=[1]), np.array([g, -1], np.int32)], axis=0)
    y = mb.reshape(x=x, shape=grouped)
    mean = mb.reduce_mean(x=y, axes=[2], keep_dims=True)
    centered = mb.sub(x=y, y=mean)
    var = mb.reduce_mean(x=mb.mul(x=centered, y=centered), axes=[2], keep_dims=True)
    y = mb.real_div(x=centered, y=mb.sqrt(x=mb.add(x=var, y=np.float32(eps.val))))
    y = mb.reshape(x=y, shape=shape)
    channel = [1, -1] + [1] * (x.rank - 2)
    if weight is not None:
        y = mb.mul(x=y, y=mb.reshape(x=weight, shape=channel))
    if bias is not None:
        y = mb.add(x=y, y=mb.reshape(x=bias, shape=channel))
    context.add(mb.identity(x=y, name=node.name))


def parse_dims(text: str | None) -> dict[str, tuple[int, int]]:
    """`"B=2,T=1:32,vae.N=1:8"` → {"B": (2, 2), ...}: a fixed size or an inclusive range per symbol,
    optionally for one stage only (`stage.SYMBOL`)."""
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


def stage_dims(stage: str, spec: Mapping, given: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Ranges of a stage's symbolic input dims: defaults from its bundle.json object, then `given`.

    Defaults: batch ≤ 4 (one prompt with CFG is 2); text ≤ the max length; latent frames ≤ 64 and patch
    grids ≤ 128×128 (Hp/Wp = × patch) for the denoiser; a chunk's latents, a micro-batch of frames and
    latent grids ≤ 128×128 (1024 px) for the VAE.
    """
    if stage == "text":
        dims = {"B": (1, 4), "L": (1, int(spec["max_length"]))}
    elif stage == "denoiser":
        _, ph, pw = spec["patch_size"]
        dims = {"B": (1, 4), "T": (1, 64), "Tm": (1, 64), "H": (1, 128), "W": (1, 128),
                "Hp": (1, 128 * ph), "Wp": (1, 128 * pw), "L": (1, int(spec["model_max_length"]))}
    else:
        frames = max(int(spec["spatial_micro_batch"]), int(spec["chunk_frames"]))
        dims = {"B": (1, 4), "T": (1, int(spec["chunk_latents"])), "N": (1, frames), "H": (1, 128), "W": (1, 128)}
    dims.update({k: v for k, v in given.items() if "." not in k})
    dims.update({k.split(".", 1)[1]: v for k, v in given.items() if k.startswith(f"{stage}.")})
    return dims


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
        dtype = np.int32 if entry["dtype"] == "int64" else np.float32
        types.append(ct.TensorType(name=entry["name"], shape=ct.Shape(shape), dtype=dtype))
    return types


def convert_block(module: torch.nn.Module, args: Sequence[torch.Tensor], block: Mapping, *,
                  dims: Mapping[str, tuple[int, int]], precision: str, target: str) -> ct.models.MLModel:
    """Trace `module(*args)` and convert it with the block's io names (outputs by their ONNX graph names)."""
    if any(io["dtype"] not in ("float32", "int64") for io in block["inputs"]) or \
            any(io["dtype"] != "float32" for io in block["outputs"]):
        raise ValueError(f"Cannot convert block '{block['name']}': only float32/int64 inputs and float32 outputs")
    args = [a.to(torch.int32) if a.dtype == torch.int64 else a for a in args]
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
