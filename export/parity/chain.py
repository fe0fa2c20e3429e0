"""Run a bundle stage's blocks with onnxruntime, chained over a named-tensor environment.

This is the Python twin of the runtime's stage runner (export/BUNDLE.md, "Stage contracts"): each block
reads its inputs by name from `env` and writes its outputs back. Used by `python -m export.parity` and the
exporter's tests, so what is proven here is what the Deno runtime executes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import onnxruntime as ort


def session(bundle_dir: Path, block: Mapping) -> ort.InferenceSession:
    """An ORT session for one block (CPU, arena off, the graph's weights memory-mapped)."""
    opts = ort.SessionOptions()
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 3
    return ort.InferenceSession(str(Path(bundle_dir) / block["file"]), opts, providers=["CPUExecutionProvider"])


def run_block(bundle_dir: Path, block: Mapping, env: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run one block on `env` (in place) and return `env`."""
    sess = session(bundle_dir, block)
    feeds = {}
    for spec in block["inputs"]:
        if spec["name"] not in env:
            raise KeyError(f"Cannot run block '{block['name']}': input '{spec['name']}' is not in the stage environment")
        feeds[spec["name"]] = env[spec["name"]]
    graph_names = [o.get("onnx_name", o["name"]) for o in block["outputs"]]
    for spec, v in zip(block["outputs"], sess.run(graph_names, feeds)):
        env[spec["name"]] = v
    return env


def run_stage(bundle_dir: Path, stage: Mapping, env: dict[str, np.ndarray],
              blocks: list[str] | None = None) -> dict[str, np.ndarray]:
    """Run every block of `stage` (or the named subset, in stage order) over `env`; return `env`."""
    for block in stage["blocks"]:
        if blocks is None or block["name"] in blocks:
            run_block(bundle_dir, block, env)
    return env
