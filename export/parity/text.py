"""Parity of a bundle's text stage (ONNX blocks chained as the runtime does) with a t5_encoder fixture."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from export.parity.chain import run_stage


def check_t5_fixture(fixture_dir: Path, bundle_dir: Path) -> list[tuple[str, float]]:
    """Run the bundle's text stage (ONNX, via export/parity/chain.py) on a t5_encoder fixture's inputs."""
    bundle = json.loads((Path(bundle_dir) / "bundle.json").read_text())
    stage = bundle.get("text")
    if not stage:
        raise ValueError(f"Cannot check t5 fixture: bundle '{bundle_dir}' has no text stage")
    io = load_file(str(Path(fixture_dir) / "io.safetensors"))
    env = {"input_ids": io["input_ids"].astype(np.int64), "attention_mask": io["attention_mask"].astype(np.int64)}
    y = run_stage(Path(bundle_dir), stage, env)[stage["output"]]
    ref = io["last_hidden_state"]
    rows = [("t5_encoder/last_hidden_state", _rel(y, ref))]
    rows += [(f"t5_encoder/last_hidden_state[{b}]", _rel(y[b], ref[b])) for b in range(ref.shape[0])]
    return rows


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))
