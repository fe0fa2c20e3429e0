"""Bundles from golden fixture folders (shared/golden layout): which stage a fixture exercises, where its
weights are, and the partial bundle that holds just that stage.

A fixture's config.json tells the stage by its keys: "model" → denoiser (STDiT3), "t5" → text,
"temporal"/"spatial"/"pipeline" → vae. Weights are `weights.safetensors` in the folder, or, for fixtures
that reuse another fixture's model (on-device LPL/TDTM), the folder named in "shared_inputs"
("../rflow_sample/{weights,inputs}.safetensors").
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from export.models.weights import WeightError, WeightSource


class FixtureError(Exception):
    """A folder is not a usable golden fixture."""


def read_fixture_config(fixture_dir: str | Path) -> dict:
    """The parsed config.json of a fixture folder."""
    d = Path(fixture_dir)
    p = d / "config.json"
    if not d.is_dir():
        raise FixtureError(f"Cannot read fixture: '{d}' is not a folder")
    if not p.exists():
        raise FixtureError(f"Cannot read fixture: '{p}' does not exist")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise FixtureError(f"Cannot read fixture: '{p}' is not valid JSON ({e})") from e


def fixture_stage(cfg: Mapping[str, Any]) -> str:
    """'denoiser', 'text' or 'vae' from the config's keys."""
    if "model" in cfg:
        return "denoiser"
    if "t5" in cfg:
        return "text"
    if any(k in cfg for k in ("temporal", "spatial", "pipeline")):
        return "vae"
    raise FixtureError(f"Cannot tell the fixture's stage: config keys {sorted(cfg)} have none of "
                       "'model', 't5', 'temporal', 'spatial', 'pipeline'")


def model_dir(fixture_dir: str | Path, cfg: Mapping[str, Any]) -> Path:
    """The folder holding this fixture's weights (and model inputs): itself or its "shared_inputs" folder."""
    d = Path(fixture_dir)
    if (d / "weights.safetensors").exists():
        return d
    shared = str(cfg.get("shared_inputs", ""))
    m = re.search(r"(\.\./[^/{}\s]+)/", shared)
    if m and (d / m.group(1) / "weights.safetensors").exists():
        return (d / m.group(1)).resolve()
    raise FixtureError(f"Cannot find fixture weights: no weights.safetensors in '{d}'"
                       + (f" nor in the shared_inputs folder named by '{shared}'" if shared else ""))


def fixture_source(fixture_dir: str | Path, cfg: Mapping[str, Any]) -> WeightSource:
    """The fixture's weights as a strict lazy WeightSource."""
    try:
        return WeightSource.open(model_dir(fixture_dir, cfg) / "weights.safetensors")
    except WeightError as e:
        raise FixtureError(str(e)) from e


def fixture_builder(fixture_dir: str | Path) -> tuple[str, Callable[[Path], dict]]:
    """(bundle name, build function for bundle.write_bundle) for the fixture's one stage."""
    d = Path(fixture_dir)
    cfg = read_fixture_config(d)
    stage = fixture_stage(cfg)
    name = str(cfg.get("fixture") or d.name)

    def build(tmp: Path) -> dict:
        source = fixture_source(d, cfg)
        if stage == "denoiser":
            from export.onnx.denoiser import export_denoiser, write_null_caption
            from export.models.stdit3_config import from_fixture
            return {"denoiser": export_denoiser(from_fixture(cfg), source, tmp),
                    "null_caption": write_null_caption(source, tmp)}
        if stage == "text":
            from export.onnx.text import export_text, text_config_from_fixture
            return {"text": export_text(text_config_from_fixture(cfg), source, tmp)}
        from export.onnx.vae import export_vae, vae_config_from_fixture
        return {"vae": export_vae(vae_config_from_fixture(cfg), source, tmp)}

    return name, build
