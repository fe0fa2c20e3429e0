"""Rebuild a bundle's blocks as torch modules, with the weights the bundle was exported from.

A random bundle names its config and seed in bundle.json (`source.config`, `source.seed`), a checkpoint
bundle its checkpoint paths (`source.checkpoints`; older bundles: the `source.detail` line, see
export/onnx/bundle.py `source_fields`); for other bundles (trained, fixture) the caller passes the
checkpoints (`--stdit`, `--t5`, `--vae`). Each stage gives, per block name, the module to convert (the very block module the ONNX
export writes: export/onnx/, rank ≤ 5 throughout) and example inputs for tracing and the parity check.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import torch

from export.models import t5
from export.onnx.builders import random_configs, text_config_for
from export.onnx.bundle import source_fields
from export.onnx.denoiser_blocks import example_inputs
from export.onnx.denoiser import block_kind, build_denoiser_block, random_denoiser_source
from export.models.stdit3_config import STDiT3Config
from export.onnx.text import random_text_source
from export.onnx.vae import build_vae_block, load_vae, random_vae_source
from export.onnx.vae import vae_config
from export.models.weights import WeightSource

STAGES = ("text", "denoiser", "vae")


class CoreMLExportError(Exception):
    """A bundle cannot be converted (no weights for it, a block that does not match, bad options)."""


@dataclass
class StageSource:
    """How to rebuild one stage's blocks: `build(name)` → module, `example(name)` → traced inputs."""

    build: Callable[[str], torch.nn.Module]
    example: Callable[[str], tuple[torch.Tensor, ...]]


def _checkpoint(bundle: Mapping, key: str, given: str | None) -> str:
    checkpoints = (source_fields(bundle).get("checkpoints") or {}) if bundle["source"]["kind"] == "checkpoint" else {}
    path = given or checkpoints.get(key)
    if not path:
        raise CoreMLExportError(f"Cannot find the weights of bundle '{bundle['name']}': its source is "
                                f"'{bundle['source']['kind']}'; pass --{key} CHECKPOINT (the weights it was exported from)")
    return path


def _random(bundle: Mapping) -> tuple[tuple, int] | None:
    if bundle["source"]["kind"] != "random":
        return None
    d = source_fields(bundle)
    return random_configs(d["config"]), int(d["seed"])


def denoiser_source(bundle: Mapping, stdit: str | None) -> StageSource:
    d = bundle["denoiser"]
    rnd = _random(bundle) if stdit is None else None
    if rnd:
        cfg, source = rnd[0][0], random_denoiser_source(rnd[0][0], rnd[1])
    else:
        source = WeightSource.open(_checkpoint(bundle, "stdit", stdit))
        mlp = source.shape("spatial_blocks.0.mlp.fc1.weight")[0] / d["hidden_size"]
        cfg = STDiT3Config.from_dict({**d, "mlp_ratio": mlp, "pred_sigma": d["out_channels"] == 2 * d["in_channels"]})
    def build(name: str) -> torch.nn.Module:
        return build_denoiser_block(cfg, name, source)[0]

    return StageSource(build, lambda name: example_inputs(cfg, block_kind(name)))


def text_source(bundle: Mapping, t5_path: str | None) -> StageSource:
    if bundle.get("quantization") and bundle["quantization"].get("text"):
        raise CoreMLExportError(f"Cannot convert the text stage of bundle '{bundle['name']}': its T5 weights are "
                                f"'{bundle['quantization']['text']}' (convert --stages denoiser,vae; compress T5 "
                                "for Core ML with coremltools.optimize instead)")
    rnd = _random(bundle) if t5_path is None else None
    if rnd:
        cfg = rnd[0][1]
        source = random_text_source(cfg, rnd[1])
    else:
        path = _checkpoint(bundle, "t5", t5_path)
        cfg, source = text_config_for(Path(path), bundle["text"]["max_length"]), WeightSource.open(path)

    def example(name: str) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(0)
        if name == "embed":
            mask = torch.ones(2, 5, dtype=torch.int64)
            mask[1, 3:] = 0
            return torch.randint(2, cfg["vocab_size"], (2, 5), generator=g), mask
        hidden = torch.randn(2, 5, cfg["d_model"], generator=g)
        return (hidden,) if name == "final" else (hidden, torch.randn(2, cfg["num_heads"], 5, 5, generator=g))

    return StageSource(lambda name: t5.build_block(cfg, name, source), example)


def vae_source(bundle: Mapping, vae_path: str | None) -> StageSource:
    rnd = _random(bundle) if vae_path is None else None
    if rnd:
        cfg = rnd[0][2]
        pipe = load_vae(cfg, random_vae_source(cfg, rnd[1]))
    else:
        cfg = vae_config("v1.2")
        pipe = load_vae(cfg, WeightSource.open(_checkpoint(bundle, "vae", vae_path)))
    latent = bundle["vae"]["latent_channels"]

    return StageSource(lambda name: build_vae_block(cfg, pipe, name), lambda name: (torch.randn(1, latent, 2, 3, 5, generator=torch.Generator().manual_seed(0)),))


def stage_source(bundle: Mapping, stage: str, checkpoints: Mapping[str, str | None]) -> StageSource:
    """The rebuild recipe of `stage` ('text', 'denoiser', 'vae') of a parsed bundle.json."""
    if stage not in STAGES or not bundle.get(stage):
        raise CoreMLExportError(f"Cannot convert stage '{stage}': bundle '{bundle['name']}' has no such stage")
    make = {"text": lambda: text_source(bundle, checkpoints.get("t5")),
            "denoiser": lambda: denoiser_source(bundle, checkpoints.get("stdit")),
            "vae": lambda: vae_source(bundle, checkpoints.get("vae"))}[stage]
    return make()
