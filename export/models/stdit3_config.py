"""STDiT3 configuration: the fields of Open-Sora v1.2's `STDiT3Config` that change the weights or the math.

Presets: `tiny` (the golden fixtures' size), `xl` (STDiT3-XL/2, the released v1.2 model) and `3b`
(STDiT3-3B/2, registered upstream but never released). `from_fixture` reads a golden fixture's config.json.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping


class ConfigError(Exception):
    """A model configuration is unknown or inconsistent."""


@dataclass(frozen=True)
class STDiT3Config:
    """Hyper-parameters of one STDiT3 model (defaults: STDiT3-XL/2 as used by Open-Sora v1.2 inference)."""

    hidden_size: int = 1152
    depth: int = 28
    num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: tuple[int, int, int] = (1, 2, 2)
    in_channels: int = 4
    pred_sigma: bool = True
    caption_channels: int = 4096
    model_max_length: int = 300
    input_sq_size: int = 512
    qk_norm: bool = True

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"Cannot build STDiT3: hidden_size '{self.hidden_size}' is not a multiple of "
                              f"num_heads '{self.num_heads}'")
        if self.head_dim % 2 or self.hidden_size % 4:
            raise ConfigError(f"Cannot build STDiT3: head_dim '{self.head_dim}' must be even and hidden_size "
                              f"'{self.hidden_size}' a multiple of 4 (RoPE pairs, 2D sin-cos position embedding)")
        if len(self.patch_size) != 3:
            raise ConfigError(f"Cannot build STDiT3: patch_size '{list(self.patch_size)}' must have 3 entries")

    @property
    def out_channels(self) -> int:
        return self.in_channels * 2 if self.pred_sigma else self.in_channels

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def patch_volume(self) -> int:
        pt, ph, pw = self.patch_size
        return pt * ph * pw

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["patch_size"] = list(self.patch_size)
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "STDiT3Config":
        """Build from a dict with `STDiT3Config` field names; unknown keys (dropout, flags) are ignored."""
        names = {f.name for f in dataclasses.fields(STDiT3Config)}
        kw = {k: v for k, v in d.items() if k in names}
        if "patch_size" in kw:
            kw["patch_size"] = tuple(int(v) for v in kw["patch_size"])
        return STDiT3Config(**kw)


PRESETS: dict[str, STDiT3Config] = {
    "tiny": STDiT3Config(hidden_size=64, depth=2, num_heads=4, caption_channels=32, model_max_length=8),
    "small": STDiT3Config(hidden_size=128, depth=4, num_heads=4, caption_channels=64, model_max_length=16),
    "mid": STDiT3Config(hidden_size=512, depth=8, num_heads=8, caption_channels=512, model_max_length=64),
    "xl": STDiT3Config(),
    "3b": STDiT3Config(hidden_size=1872, num_heads=26),
}


def preset(name: str) -> STDiT3Config:
    """A named preset (`tiny`, `small`, `mid`, `xl`, `3b`)."""
    if name not in PRESETS:
        raise ConfigError(f"Cannot find STDiT3 preset: '{name}' is not one of {sorted(PRESETS)}")
    return PRESETS[name]


def from_fixture(config: str | Path | Mapping[str, Any]) -> STDiT3Config:
    """The model config of a golden fixture (its config.json path, folder, or parsed dict; key "model")."""
    if not isinstance(config, Mapping):
        p = Path(config)
        if p.is_dir():
            p = p / "config.json"
        if not p.exists():
            raise ConfigError(f"Cannot read fixture config: '{p}' does not exist")
        config = json.loads(p.read_text())
    if "model" not in config:
        raise ConfigError("Cannot read STDiT3 config: the fixture config has no 'model' key")
    return STDiT3Config.from_dict(config["model"])
