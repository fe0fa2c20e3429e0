"""Export STDiT3 as the bundle's `denoiser` stage (export/BUNDLE.md), streaming one block at a time.

`export_denoiser` checks every key and shape of the source first (nothing is written for a bad
checkpoint), then builds `embed`, exports it and frees it, then each spatial/temporal block, then `final`:
at most one block's weights and graph are alive at once. `random_denoiser_source` is a lazily generated
random checkpoint (each tensor made on first read) so even XL exports stream.
"""
from __future__ import annotations

import gc
import zlib
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from export.onnx.denoiser_blocks import BLOCK_IO, DenoiserBlock, EmbedBlock, FinalBlock, example_inputs
from export.onnx.block import export_block
from export.models.stdit3 import STDiT3, STDiT3Config
from export.models.stdit3_layers import RotaryEmbedding
from export.models.weights import WeightError, WeightSource

OPTIONAL_KEYS = ("rope.freqs",)  # a parameter with a fixed value; older savers may drop it
NULL_CAPTION_KEY = "y_embedder.y_embedding"


def expected_shapes(cfg: STDiT3Config) -> dict[str, tuple[int, ...]]:
    """Every checkpoint key of this config and its shape (built on the meta device: no memory)."""
    with torch.device("meta"):
        model = STDiT3(cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_denoiser_keys(cfg: STDiT3Config, source: WeightSource) -> None:
    """Raise WeightError naming missing keys, unknown keys and wrong shapes (all of each kind, up to 20)."""
    want = expected_shapes(cfg)
    have = set(source.keys())
    missing = sorted(k for k in want if k not in have and k not in OPTIONAL_KEYS)
    unknown = sorted(k for k in have if k not in want)
    bad = [f"'{k}': checkpoint {list(source.shape(k))} vs model {list(s)}"
           for k, s in want.items() if k in have and tuple(source.shape(k)) != s]
    problems = []
    for label, items in (("missing keys", missing), ("unknown keys", unknown), ("wrong shapes", bad)):
        if items:
            shown = ", ".join(i if i.startswith("'") else f"'{i}'" for i in items[:20])
            problems.append(f"{label} [{shown}]" + (f" (+{len(items) - 20} more)" if len(items) > 20 else ""))
    if problems:
        raise WeightError(f"Cannot load STDiT3 (hidden {cfg.hidden_size}, depth {cfg.depth}) checkpoint: "
                          + "; ".join(problems))


def rope_freqs(cfg: STDiT3Config, source: WeightSource) -> torch.Tensor:
    """The checkpoint's `rope.freqs`, or the standard 10000^(−2i/head_dim) when it is absent."""
    if "rope.freqs" in source:
        return source.get("rope.freqs")
    return RotaryEmbedding(cfg.head_dim).freqs.detach()


def _build(factory: Callable[[], nn.Module]) -> nn.Module:
    """Construct without initialising (meta), then allocate empty CPU storage for loading."""
    with torch.device("meta"):
        module = factory()
    return module.to_empty(device="cpu").eval()


def _export(module: nn.Module, cfg: STDiT3Config, kind: str, name: str, out_dir: Path) -> dict:
    io = BLOCK_IO[kind]
    return export_block(module, example_inputs(cfg, kind), input_names=io["inputs"], output_names=io["outputs"],
                        dynamic_axes=io["axes"], out_dir=out_dir, rel_file=f"denoiser/{name}.onnx", name=name)


def block_names(cfg: STDiT3Config) -> list[str]:
    """Stage block names in execution order: embed, spatial_00, temporal_00, …, final."""
    names = ["embed"]
    for i in range(cfg.depth):
        names += [f"spatial_{i:02d}", f"temporal_{i:02d}"]
    return names + ["final"]


def block_kind(name: str) -> str:
    """The `BLOCK_IO` kind of stage block `name`: 'embed', 'final', 'temporal' (takes rope_pos) or 'block'."""
    if name in ("embed", "final"):
        return name
    return "temporal" if name.startswith("temporal_") else "block"


def build_denoiser_block(cfg: STDiT3Config, name: str, source: WeightSource,
                         freqs: torch.Tensor | None = None) -> tuple[nn.Module, str]:
    """(module, kind) of stage block `name` ('embed', 'spatial_NN', 'temporal_NN', 'final') with its weights
    from `source` (`freqs`: the rope frequencies, read from `source` when None): the module the ONNX export
    writes and the Core ML export converts."""
    if name == "embed":
        module = _build(lambda: EmbedBlock(cfg))
        for sub in ("x_embedder", "t_embedder", "fps_embedder", "t_block", "y_embedder"):
            source.load_into(getattr(module, sub), prefix=f"{sub}.")
        return module, "embed"
    if name == "final":
        module = _build(lambda: FinalBlock(cfg))
        source.load_into(module.final_layer, prefix="final_layer.")
        return module, "final"
    part, _, idx = name.partition("_")
    if part not in ("spatial", "temporal") or not idx.isdigit() or int(idx) >= cfg.depth:
        raise ValueError(f"Cannot build denoiser block '{name}': not one of {block_names(cfg)}")
    temporal = part == "temporal"
    freqs = rope_freqs(cfg, source) if freqs is None and temporal else freqs
    module = _build(lambda: DenoiserBlock(cfg, temporal, torch.zeros_like(freqs) if temporal else None))
    if temporal:
        with torch.no_grad():
            module.rope_freqs.copy_(freqs)
    source.load_into(module.block, prefix=f"{part}_blocks.{int(idx)}.")
    return module, block_kind(name)


def export_denoiser(cfg: STDiT3Config | Mapping, source: WeightSource, out_dir: Path, *,
                    log: Callable[[str], None] | None = None) -> dict:
    """Write out_dir/denoiser/*.onnx from `source` and return the bundle.json `denoiser` stage object."""
    cfg = cfg if isinstance(cfg, STDiT3Config) else STDiT3Config.from_dict(cfg)
    check_denoiser_keys(cfg, source)
    out_dir = Path(out_dir)
    freqs = rope_freqs(cfg, source)
    blocks = []
    for name in block_names(cfg):
        module, kind = build_denoiser_block(cfg, name, source, freqs)
        with torch.no_grad():
            blocks.append(_export(module, cfg, kind, name, out_dir))
        del module
        gc.collect()
        if log:
            log(f"denoiser/{name}: {blocks[-1]['bytes'] / 1e6:.1f} MB")
    return {
        "hidden_size": cfg.hidden_size, "num_heads": cfg.num_heads, "depth": cfg.depth,
        "patch_size": list(cfg.patch_size), "in_channels": cfg.in_channels, "out_channels": cfg.out_channels,
        "caption_channels": cfg.caption_channels, "model_max_length": cfg.model_max_length,
        "input_sq_size": cfg.input_sq_size,
        "inputs": ["x", "timestep", "y", "y_mask", "x_mask", "fps", "height", "width", "merge_t", "unmerge_t",
                   "rope_pos"],
        "output": "out",
        "blocks": blocks,
    }


def write_null_caption(source: WeightSource, out_dir: Path) -> dict:
    """Write `y_embedder.y_embedding` [L, Cc] as raw little-endian float32 null_caption.bin; return its entry."""
    if NULL_CAPTION_KEY not in source:
        raise WeightError(f"Cannot write the null caption: key '{NULL_CAPTION_KEY}' is missing from the checkpoint")
    y = source.get(NULL_CAPTION_KEY).contiguous().numpy().astype("<f4")
    (Path(out_dir) / "null_caption.bin").write_bytes(y.tobytes())
    return {"file": "null_caption.bin", "dtype": "float32", "dims": [int(d) for d in y.shape]}


def random_denoiser_source(cfg: STDiT3Config, seed: int = 0) -> WeightSource:
    """Random STDiT3 weights, each tensor generated (seeded by key) on first read, never all held."""
    shapes = expected_shapes(cfg)
    C = cfg.hidden_size

    def make(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
        if key == "rope.freqs":
            return RotaryEmbedding(cfg.head_dim).freqs.detach().clone()
        if key.endswith("_norm.weight"):
            return torch.ones(shape)
        if key.endswith("scale_shift_table"):
            return torch.randn(shape, generator=g) / C ** 0.5
        if key == NULL_CAPTION_KEY:
            return torch.randn(shape, generator=g) / shape[1] ** 0.5
        if key.endswith(".bias"):
            return torch.randn(shape, generator=g) * 0.02
        fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
        return torch.randn(shape, generator=g) * (2.0 / (fan_in + fan_out)) ** 0.5

    return WeightSource({k: (lambda k=k, s=s: make(k, s)) for k, s in shapes.items()}, dict(shapes))
