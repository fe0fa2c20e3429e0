"""Export one torch module as one bundle block: an ONNX graph with its weights as external data.

This is the single place that calls `torch.onnx.export`; every stage exporter goes through it, and it
returns the block's entry for `bundle.json` (see export/BUNDLE.md).
"""
from __future__ import annotations

import gc
import io
import os
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import onnx
import torch

OPSET = 18

_DTYPES = {torch.float32: "float32", torch.int64: "int64", torch.uint8: "uint8", torch.bool: "bool"}


def _dims(t: torch.Tensor, axes: Mapping[int, str] | None) -> list[int | str]:
    axes = axes or {}
    return [axes.get(i, int(n)) for i, n in enumerate(t.shape)]


def export_block(module: torch.nn.Module, args: Sequence[torch.Tensor], *, input_names: Sequence[str],
                 output_names: Sequence[str], dynamic_axes: Mapping[str, Mapping[int, str]],
                 out_dir: Path, rel_file: str, name: str) -> dict:
    """Export `module(*args)` to `out_dir/rel_file` (+ `.data`) and return its bundle.json block entry."""
    module.eval()
    path = out_dir / rel_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        outs = module(*args)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    # ONNX graphs are SSA: an output cannot reuse an input's name (layer: hidden -> hidden). Such an output
    # gets the graph name '<name>_out'; its io entry records it as `onnx_name` (see BUNDLE.md, Block).
    graph_out = [f"{n}_out" if n in input_names else n for n in output_names]
    axes = {k: dict(v) for k, v in dynamic_axes.items()}
    axes.update({g: dict(dynamic_axes[n]) for g, n in zip(graph_out, output_names) if g != n and n in dynamic_axes})
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(args), buf, input_names=list(input_names),
                          output_names=graph_out, dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    del buf
    data_name = path.name + ".data"
    data_path = path.parent / data_name
    if data_path.exists():
        data_path.unlink()
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=1024, convert_attribute=False)
    del model
    gc.collect()
    has_data = data_path.exists()
    size = path.stat().st_size + (data_path.stat().st_size if has_data else 0)
    params = sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())
    return {
        "name": name,
        "file": rel_file,
        "data": (str(Path(rel_file).parent / data_name) if has_data else None),
        "bytes": int(size),
        "params": int(params),
        "inputs": [{"name": n, "dtype": _DTYPES[a.dtype], "dims": _dims(a, dynamic_axes.get(n))}
                   for n, a in zip(input_names, args)],
        "outputs": [{"name": n, "dtype": _DTYPES[o.dtype], "dims": _dims(o, dynamic_axes.get(n)),
                     **({"onnx_name": g} if g != n else {})}
                    for n, g, o in zip(output_names, graph_out, outs)],
    }


def block_path(bundle_dir: Path, block: Mapping) -> str:
    """Absolute path of a block's ONNX file (ORT resolves the external data beside it)."""
    return os.fspath(bundle_dir / block["file"])
