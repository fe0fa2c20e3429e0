"""Build functions for `bundle.write_bundle`: real Open-Sora v1.2 checkpoints, and random weights.

Every builder checks all its sources (keys, shapes, tokenizer) before the first block is exported, then
streams each stage one block at a time.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping

from export.onnx.denoiser import check_denoiser_keys, export_denoiser, random_denoiser_source, write_null_caption
from export.models.stdit3_config import STDiT3Config, preset
from export.models.t5_tokenizer import find_tokenizer, write_t5_tokenizer
from export.models.weights import WeightError, WeightSource

PROMPT_SUFFIX = " aesthetic score: 6.5."  # Open-Sora v1.2 appends this to every prompt (spec §5.3)
Log = Callable[[str], None]


def complete_text_stage(text: dict, *, tokenizer: str | None, null_caption: dict | None,
                        prompt_suffix: str = PROMPT_SUFFIX, lowercase: bool = True) -> dict:
    """Fill the text stage fields the T5 exporter leaves to the bundle writer."""
    return {**text, "tokenizer": tokenizer, "prompt_suffix": prompt_suffix, "lowercase": lowercase,
            "null_caption": null_caption}


def _json_beside(path: Path) -> dict | None:
    p = path / "config.json" if path.is_dir() else path.parent / "config.json"
    return json.loads(p.read_text()) if p.is_file() else None


def stdit_config_for(path: Path) -> STDiT3Config:
    """STDiT3 config from the checkpoint's config.json (HF STDiT3Config fields), else STDiT3-XL/2."""
    conf = _json_beside(path)
    return STDiT3Config.from_dict(conf) if conf and "hidden_size" in conf else preset("xl")


def text_config_for(path: Path, max_length: int) -> dict:
    """T5 config from the encoder folder's config.json, else T5 v1.1 XXL; L = the denoiser's max length."""
    from export.onnx.text import text_config, text_config_from_fixture
    conf = _json_beside(path)
    if conf and "d_model" in conf:
        return text_config_from_fixture({"t5": conf, "inputs": {"L": max_length}})
    return {**text_config("xxl"), "max_length": max_length}


def opensora_builder(stdit: str, vae: str, t5: str, tokenizer: str | None, int8_text: bool,
                     log: Log | None = None, *, stdit_preset: str | None = None,
                     vae_preset: str = "v1.2") -> Callable[[Path], dict]:
    """Check the three checkpoints and the tokenizer now; return the build function that exports them.

    The STDiT3 config comes from `stdit_preset`, else the checkpoint's config.json, else XL; the VAE
    config is the `vae_preset` ("v1.2" for the released checkpoint).
    """
    from export.models import t5 as t5_model
    from export.onnx.vae import vae_config
    stdit_p, vae_p, t5_p = Path(stdit), Path(vae), Path(t5)
    stdit_src = WeightSource.open(stdit_p)
    cfg = preset(stdit_preset) if stdit_preset else stdit_config_for(stdit_p)
    vae_cfg = vae_config(vae_preset)
    check_denoiser_keys(cfg, stdit_src)
    t5_src = WeightSource.open(t5_p)
    text_cfg = text_config_for(t5_p, cfg.model_max_length)
    if int(text_cfg["d_model"]) != cfg.caption_channels:
        raise WeightError(f"Cannot combine checkpoints: T5 d_model '{text_cfg['d_model']}' is not the STDiT3 "
                          f"caption_channels '{cfg.caption_channels}'")
    t5_model.check_keys(text_cfg, t5_src)
    vae_src = WeightSource.open(vae_p)
    tok_src = find_tokenizer(tokenizer if tokenizer else t5_p)

    def build(tmp: Path) -> dict:
        from export.onnx.text import export_text
        from export.onnx.preview_fit import fit_preview
        from export.onnx.vae import export_vae, load_vae
        write_t5_tokenizer(tok_src, tmp / "tokenizer.json")
        null = write_null_caption(stdit_src, tmp)
        text = export_text(text_cfg, t5_src, tmp, int8=int8_text)
        if log:
            log(f"text: {len(text['blocks'])} blocks")
        out = {"text": complete_text_stage(text, tokenizer="tokenizer.json", null_caption=null),
               "denoiser": export_denoiser(cfg, stdit_src, tmp, log=log),
               "vae": export_vae(vae_cfg, vae_src, tmp),
               "preview": fit_preview(load_vae(vae_cfg, vae_src)),
               "null_caption": null,
               "quantization": {"text": "int8-weight"} if int8_text else None}
        return out

    return build


def random_configs(name: str) -> tuple[STDiT3Config, dict, dict]:
    """(STDiT3, T5, VAE) configs of a random bundle: XL-sized names get T5-XXL and the v1.2 VAE."""
    from export.onnx.text import text_config
    from export.onnx.vae import vae_config
    cfg = preset(name)
    big = cfg.caption_channels == 4096
    text_cfg = {**text_config("xxl" if big else "tiny"), "max_length": cfg.model_max_length}
    if not big:
        text_cfg["d_model"] = cfg.caption_channels
    return cfg, text_cfg, vae_config("v1.2" if big else "tiny")


def random_builder(name: str, stages: list[str], seed: int, tokenizer: str | None, int8_text: bool = False,
                   log: Log | None = None) -> Callable[[Path], dict]:
    """The build function of a random-weight bundle with the chosen stages (weights made lazily, per key)."""
    bad = [s for s in stages if s not in ("text", "denoiser", "vae")]
    if bad or not stages:
        raise ValueError(f"Cannot export random bundle: stages {stages} must be a non-empty subset of "
                         "['text', 'denoiser', 'vae']")
    cfg, text_cfg, vae_cfg = random_configs(name)
    tok_src = find_tokenizer(tokenizer) if tokenizer else None

    def build(tmp: Path) -> dict:
        out: dict = {}
        src = random_denoiser_source(cfg, seed)
        null = write_null_caption(src, tmp)
        out["null_caption"] = null
        if "text" in stages:
            from export.onnx.text import export_text, random_text_source
            if tok_src:
                write_t5_tokenizer(tok_src, tmp / "tokenizer.json")
            text = export_text(text_cfg, random_text_source(text_cfg, seed), tmp, int8=int8_text)
            out["text"] = complete_text_stage(text, tokenizer="tokenizer.json" if tok_src else None,
                                              null_caption=null)
            out["quantization"] = {"text": "int8-weight"} if int8_text else None
        if "denoiser" in stages:
            out["denoiser"] = export_denoiser(cfg, src, tmp, log=log)
        if "vae" in stages:
            from export.onnx.preview_fit import fit_preview
            from export.onnx.vae import export_vae, load_vae, random_vae_source
            out["vae"] = export_vae(vae_cfg, random_vae_source(vae_cfg, seed), tmp)
            out["preview"] = fit_preview(load_vae(vae_cfg, random_vae_source(vae_cfg, seed)))
        return out

    return build


def describe(stages: Mapping) -> str:
    """A one-line summary of a manifest's stages (block counts and bytes)."""
    parts = []
    for s in ("text", "denoiser", "vae"):
        obj = stages.get(s)
        if obj:
            parts.append(f"{s}: {len(obj['blocks'])} blocks, {sum(b['bytes'] for b in obj['blocks']) / 1e6:.1f} MB")
    return "; ".join(parts) or "no stages"
