"""T5 v1.1 encoder as bundle blocks (embed, layer_NN, final) built on transformers' T5 modules.

Chaining embed → layer_00 … → final equals `T5EncoderModel(...).last_hidden_state` (spec §2). Each block is
built on its own from a `WeightSource` with HF key names, so the 4.7B-parameter XXL encoder is never held
whole: one layer is built, loaded, exported and freed at a time.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from transformers import T5Config
from transformers.models.t5.modeling_t5 import T5Attention, T5Block, T5LayerNorm

from export.models.weights import WeightSource, WeightError

REL_BIAS_KEY = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"


def hf_config(cfg: Mapping) -> T5Config:
    """A transformers T5Config for an encoder-only stack with eager attention (traceable for ONNX)."""
    conf = T5Config(vocab_size=cfg["vocab_size"], d_model=cfg["d_model"], d_kv=cfg["d_kv"], d_ff=cfg["d_ff"],
                    num_layers=cfg["num_layers"], num_heads=cfg["num_heads"],
                    relative_attention_num_buckets=cfg["relative_attention_num_buckets"],
                    relative_attention_max_distance=cfg["relative_attention_max_distance"],
                    dropout_rate=0.0, layer_norm_epsilon=cfg["layer_norm_epsilon"],
                    feed_forward_proj=cfg["feed_forward_proj"], is_decoder=False, use_cache=False,
                    is_encoder_decoder=False, pad_token_id=0, eos_token_id=1)
    conf._attn_implementation = "eager"
    return conf


class T5Embed(nn.Module):
    """(input_ids, attention_mask) → hidden [B, L, d], bias [B, heads, L, L].

    bias = layer 0's relative position bias + (1 − mask)·float32.min over keys, added to every layer's scores.
    """

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
        self.relative_attention_bias = nn.Embedding(cfg["relative_attention_num_buckets"], cfg["num_heads"])
        self.num_buckets = cfg["relative_attention_num_buckets"]
        self.max_distance = cfg["relative_attention_max_distance"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.embed_tokens(input_ids)
        length = input_ids.shape[1]
        pos = torch.arange(length, dtype=torch.long, device=input_ids.device)
        buckets = T5Attention._relative_position_bucket(pos[None, :] - pos[:, None], bidirectional=True,
                                                        num_buckets=self.num_buckets,
                                                        max_distance=self.max_distance)
        rel = self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)
        pad = (1.0 - attention_mask.to(hidden.dtype))[:, None, None, :] * torch.finfo(hidden.dtype).min
        return hidden, rel + pad

    def load(self, source: WeightSource) -> None:
        key = "shared.weight" if "shared.weight" in source else "encoder.embed_tokens.weight"
        _load_named(self, source, {"embed_tokens.weight": key, "relative_attention_bias.weight": REL_BIAS_KEY})


class T5Layer(nn.Module):
    """One encoder block: (hidden, bias) → hidden (transformers' T5Block with the shared bias passed in)."""

    def __init__(self, cfg: Mapping, index: int) -> None:
        super().__init__()
        self.index = index
        self.block = T5Block(hf_config(cfg), has_relative_attention_bias=False, layer_idx=index)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.block(hidden, attention_mask=None, position_bias=bias)[0]

    def load(self, source: WeightSource) -> None:
        source.load_into(self.block, prefix=f"encoder.block.{self.index}.")


class T5Final(nn.Module):
    """hidden → y (final RMSNorm)."""

    def __init__(self, cfg: Mapping) -> None:
        super().__init__()
        self.final_layer_norm = T5LayerNorm(cfg["d_model"], eps=cfg["layer_norm_epsilon"])

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.final_layer_norm(hidden)

    def load(self, source: WeightSource) -> None:
        source.load_into(self.final_layer_norm, prefix="encoder.final_layer_norm.")


def expected_keys(cfg: Mapping) -> list[str]:
    """Every key a T5 v1.1 encoder checkpoint holds (HF names; `encoder.embed_tokens.weight` is optional)."""
    keys = ["shared.weight", REL_BIAS_KEY, "encoder.final_layer_norm.weight"]
    for i in range(cfg["num_layers"]):
        p = f"encoder.block.{i}.layer."
        keys += [p + f"0.SelfAttention.{n}.weight" for n in "qkvo"] + [p + "0.layer_norm.weight"]
        keys += [p + f"1.DenseReluDense.{n}.weight" for n in ("wi_0", "wi_1", "wo")] + [p + "1.layer_norm.weight"]
    return keys


def check_keys(cfg: Mapping, source: WeightSource) -> None:
    """Raise WeightError naming missing and unknown keys before any block is built."""
    need = expected_keys(cfg)
    missing = [k for k in need if k not in source and not (k == "shared.weight"
                                                           and "encoder.embed_tokens.weight" in source)]
    if missing:
        raise WeightError(f"Cannot load T5 encoder: missing keys {missing[:20]}"
                          + (f" (+{len(missing) - 20} more)" if len(missing) > 20 else ""))
    source.check_no_unknown(need + ["encoder.embed_tokens.weight"])


def _load_named(module: nn.Module, source: WeightSource, names: Mapping[str, str]) -> None:
    """Load `module`'s parameters from explicitly mapped checkpoint keys, checking shapes."""
    state = {}
    for local, key in names.items():
        t = source.get(key)
        want = tuple(module.state_dict()[local].shape)
        if tuple(t.shape) != want:
            raise WeightError(f"Cannot load weights: wrong shapes: {key}: checkpoint {list(t.shape)} vs model {list(want)}")
        state[local] = t
    module.load_state_dict(state, strict=True)


def build_block(cfg: Mapping, name: str, source: WeightSource | None = None) -> nn.Module:
    """Build block `embed`, `layer_NN` or `final` (loaded from `source` when given), in eval mode."""
    if name == "embed":
        m: nn.Module = T5Embed(cfg)
    elif name == "final":
        m = T5Final(cfg)
    elif name.startswith("layer_") and name[6:].isdigit() and int(name[6:]) < cfg["num_layers"]:
        m = T5Layer(cfg, int(name[6:]))
    else:
        raise ValueError(f"Cannot build T5 block: '{name}' is not embed, final or layer_00..layer_{cfg['num_layers'] - 1:02d}")
    if source is not None:
        m.load(source)
    return m.eval()


def block_names(cfg: Mapping) -> list[str]:
    return ["embed"] + [f"layer_{i:02d}" for i in range(cfg["num_layers"])] + ["final"]


def encode(cfg: Mapping, source: WeightSource, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Run the block chain in torch, one block alive at a time (reference for the exported stage)."""
    with torch.no_grad():
        hidden, bias = build_block(cfg, "embed", source)(input_ids, attention_mask)
        for name in block_names(cfg)[1:-1]:
            hidden = build_block(cfg, name, source)(hidden, bias)
        return build_block(cfg, "final", source)(hidden)
