"""Run a bundle stage's blocks with onnxruntime, chained over a named-tensor environment.

This is the Python twin of the runtime's stage runner (export/BUNDLE.md, "Stage contracts"): each block
reads its inputs by name from `env` and writes its outputs back. Used by `python -m export.parity` and the
exporter's tests, so what is proven here is what the Deno runtime executes.

Inside `against_torch(build)`, every block run also runs `build(block_name)` (the torch block module the
ONNX file was exported from) on the same inputs and records the worst relative L2 error per block: the
block-by-block parity of `python -m export.parity`.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import onnxruntime as ort
import torch

_AGAINST: ContextVar[tuple[Callable[[str], torch.nn.Module], dict, dict] | None] = ContextVar("against", default=None)


@contextmanager
def against_torch(build: Callable[[str], torch.nn.Module]) -> Iterator[dict[str, float]]:
    """Compare each block run inside the context with its torch module `build(name)` (built once per name);
    yields {block name: worst relative L2 of its outputs over its calls}, filled as blocks run."""
    errors: dict[str, float] = {}
    token = _AGAINST.set((build, {}, errors))
    try:
        yield errors
    finally:
        _AGAINST.reset(token)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    """Relative L2 in float64 over the finite entries of `b`; other entries must be equal (else inf)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    finite = np.isfinite(b)
    if a.shape != b.shape or not np.array_equal(a[~finite], b[~finite]):
        return float("inf")
    return float(np.linalg.norm(a[finite] - b[finite]) / max(np.linalg.norm(b[finite]), 1e-30))


def _check_torch(block: Mapping, feeds: Mapping[str, np.ndarray], outputs: list[np.ndarray]) -> None:
    active = _AGAINST.get()
    if active is None:
        return
    build, modules, errors = active
    name = block["name"]
    module = modules.get(name) or modules.setdefault(name, build(name).eval())
    with torch.no_grad():
        got = module(*(torch.from_numpy(np.ascontiguousarray(feeds[s["name"]])) for s in block["inputs"]))
    got = got if isinstance(got, (tuple, list)) else (got,)
    worst = max(_rel(g.numpy(), o) for g, o in zip(got, outputs))
    errors[name] = max(errors.get(name, 0.0), worst)


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
    outputs = sess.run(graph_names, feeds)
    _check_torch(block, feeds, outputs)
    for spec, v in zip(block["outputs"], outputs):
        env[spec["name"]] = v
    return env


def run_stage(bundle_dir: Path, stage: Mapping, env: dict[str, np.ndarray],
              blocks: list[str] | None = None) -> dict[str, np.ndarray]:
    """Run every block of `stage` (or the named subset, in stage order) over `env`; return `env`."""
    for block in stage["blocks"]:
        if blocks is None or block["name"] in blocks:
            run_block(bundle_dir, block, env)
    return env
