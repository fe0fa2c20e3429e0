"""Export the T5 v1.1 encoder as the bundle's `text` stage (export/BUNDLE.md), one block at a time.

Public API used by the CLI / bundle writer:
- `text_config_from_fixture(cfg_json)`, `text_config(name)` ("tiny", "xxl"): config dicts
- `random_text_source(cfg, seed)`: a lazily generated random WeightSource (HF key names, HF init scales)
- `export_text(cfg, source, out_dir, int8=False)`: writes out_dir/text/*.onnx, returns the stage object
"""
from __future__ import annotations

import gc
import zlib
from pathlib import Path
from typing import Mapping

import torch

from export.models import t5
from export.onnx.block import export_block
from export.models.weights import WeightSource

_T5_KEYS = ("vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads", "relative_attention_num_buckets",
            "relative_attention_max_distance", "layer_norm_epsilon", "feed_forward_proj")

_PRESETS: dict[str, dict] = {
    # The t5_encoder fixture's shape, but the real T5 vocabulary so a tokenizer.json can drive it.
    "tiny": dict(vocab_size=32128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=32, relative_attention_max_distance=128,
                 layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", max_length=300),
    # DeepFloyd/t5-v1_1-xxl encoder (spec §2).
    "xxl": dict(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128,
                layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", max_length=300),
}


def text_config_from_fixture(cfg_json: Mapping) -> dict:
    """Config of a t5_encoder fixture (its `t5` section; max_length = the fixture's L)."""
    t = cfg_json["t5"]
    cfg = {k: t[k] for k in _T5_KEYS}
    cfg["max_length"] = int(cfg_json.get("inputs", {}).get("L", 300))
    return _checked(cfg)


def text_config(name: str) -> dict:
    """A named preset: "tiny" (fixture-sized, T5 vocabulary) or "xxl" (T5 v1.1 XXL, 4.76B parameters)."""
    if name not in _PRESETS:
        raise ValueError(f"Cannot pick text config: '{name}' is not one of {sorted(_PRESETS)}")
    return _checked(dict(_PRESETS[name]))


def _checked(cfg: dict) -> dict:
    if cfg["feed_forward_proj"] != "gated-gelu":
        raise ValueError(f"Cannot use T5 config: feed_forward_proj '{cfg['feed_forward_proj']}' is not 'gated-gelu' (T5 v1.1)")
    return cfg


def random_text_source(cfg: Mapping, seed: int = 0) -> WeightSource:
    """Random T5 weights with transformers' init scales, each tensor generated on first read (never all held)."""
    d, kv, h, ff = cfg["d_model"], cfg["d_kv"], cfg["num_heads"], cfg["d_ff"]
    shapes: dict[str, tuple[tuple[int, ...], float]] = {
        "shared.weight": ((cfg["vocab_size"], d), 1.0),
        t5.REL_BIAS_KEY: ((cfg["relative_attention_num_buckets"], h), d ** -0.5),
        "encoder.final_layer_norm.weight": ((d,), 0.0),
    }
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer."
        shapes[p + "0.SelfAttention.q.weight"] = ((h * kv, d), (d * kv) ** -0.5)
        shapes[p + "0.SelfAttention.k.weight"] = ((h * kv, d), d ** -0.5)
        shapes[p + "0.SelfAttention.v.weight"] = ((h * kv, d), d ** -0.5)
        shapes[p + "0.SelfAttention.o.weight"] = ((d, h * kv), (h * kv) ** -0.5)
        shapes[p + "1.DenseReluDense.wi_0.weight"] = ((ff, d), d ** -0.5)
        shapes[p + "1.DenseReluDense.wi_1.weight"] = ((ff, d), d ** -0.5)
        shapes[p + "1.DenseReluDense.wo.weight"] = ((d, ff), ff ** -0.5)
        shapes[p + "0.layer_norm.weight"] = ((d,), 0.0)
        shapes[p + "1.layer_norm.weight"] = ((d,), 0.0)

    def make(key: str, shape: tuple[int, ...], std: float) -> torch.Tensor:
        if std == 0.0:  # RMSNorm gains start at one
            return torch.ones(shape)
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
        return torch.randn(shape, generator=g) * std

    return WeightSource({k: (lambda k=k, s=s, std=std: make(k, s, std)) for k, (s, std) in shapes.items()},
                        {k: s for k, (s, _) in shapes.items()})


def _example_inputs(cfg: Mapping, name: str, batch: int = 2, length: int = 5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    if name == "embed":
        ids = torch.randint(2, cfg["vocab_size"], (batch, length), generator=g)
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[1:, length - 2:] = 0
        return ids, mask
    hidden = torch.randn(batch, length, cfg["d_model"], generator=g)
    if name == "final":
        return (hidden,)
    return hidden, torch.randn(batch, cfg["num_heads"], length, length, generator=g)


_IO = {
    "embed": (["input_ids", "attention_mask"], ["hidden", "bias"]),
    "layer": (["hidden", "bias"], ["hidden"]),
    "final": (["hidden"], ["y"]),
}
_AXES = {"input_ids": {0: "B", 1: "L"}, "attention_mask": {0: "B", 1: "L"}, "hidden": {0: "B", 1: "L"},
         "bias": {0: "B", 2: "L", 3: "L"}, "y": {0: "B", 1: "L"}}


def export_text(cfg: Mapping, source: WeightSource, out_dir: Path, *, int8: bool = False) -> dict:
    """Write the text stage's blocks under out_dir/text/ and return the bundle.json `text` object.

    Blocks are built, exported and freed one at a time. With `int8`, each block's MatMul weights (and the
    embedding table) are stored as int8 with fp32 scales; activations stay fp32. The caller fills
    `tokenizer`, `prompt_suffix`, `lowercase`, `null_caption` and, with int8, the top-level
    `"quantization": {"text": "int8-weight"}`.
    """
    t5.check_keys(cfg, source)
    out_dir = Path(out_dir)
    blocks = []
    for name in t5.block_names(cfg):
        module = t5.build_block(cfg, name, source)
        ins, outs = _IO["layer" if name.startswith("layer_") else name]
        entry = export_block(module, _example_inputs(cfg, name), input_names=ins, output_names=outs,
                             dynamic_axes={n: _AXES[n] for n in ins + outs}, out_dir=out_dir,
                             rel_file=f"text/{name}.onnx", name=name)
        del module
        gc.collect()
        if int8:
            from export.onnx.quantize import quantize_block_int8
            entry = quantize_block_int8(out_dir, entry)
        blocks.append(entry)
    return {
        "tokenizer": None,
        "max_length": int(cfg["max_length"]),
        "pad_id": 0,
        "eos_id": 1,
        "caption_channels": int(cfg["d_model"]),
        "inputs": ["input_ids", "attention_mask"],
        "output": "y",
        "blocks": blocks,
    }
