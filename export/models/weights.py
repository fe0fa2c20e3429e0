"""Lazy, strict access to checkpoint tensors.

A `WeightSource` reads one tensor at a time from safetensors files (single or sharded, memory-mapped)
or from PyTorch `.bin` shards (loaded with `weights_only=True`, one shard at a time), so an exporter can
build one block, export it and free it without ever holding the whole checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import torch


class WeightError(Exception):
    """A checkpoint cannot be used: missing file, missing/unknown keys, wrong shapes."""


class WeightSource:
    """Key -> tensor access over one or more checkpoint files, optionally under a key prefix."""

    def __init__(self, index: Mapping[str, Callable[[], torch.Tensor]], shapes: Mapping[str, tuple[int, ...]],
                 prefix: str = "") -> None:
        self._index = index
        self._shapes = shapes
        self._prefix = prefix

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def open(path: str | Path) -> "WeightSource":
        """Open a safetensors file, a `.bin`, an HF `*.index.json`, or a folder holding one of those."""
        p = Path(path)
        if not p.exists():
            raise WeightError(f"Cannot open checkpoint: '{p}' does not exist")
        if p.is_dir():
            for pattern in ("model.safetensors.index.json", "pytorch_model.bin.index.json", "*.safetensors",
                            "pytorch_model.bin", "*.bin"):
                hits = sorted(p.glob(pattern))
                if hits:
                    if pattern.endswith(".safetensors") and len(hits) > 1:
                        return WeightSource._from_files(hits)
                    return WeightSource.open(hits[0])
            raise WeightError(f"Cannot open checkpoint: no .safetensors/.bin/index.json in '{p}'")
        if p.name.endswith(".index.json"):
            files = sorted(set(json.loads(p.read_text())["weight_map"].values()))
            return WeightSource._from_files([p.parent / f for f in files])
        return WeightSource._from_files([p])

    @staticmethod
    def from_tensors(tensors: Mapping[str, torch.Tensor]) -> "WeightSource":
        """Wrap in-memory tensors (random weights, tests)."""
        return WeightSource({k: (lambda v=v: v) for k, v in tensors.items()},
                            {k: tuple(v.shape) for k, v in tensors.items()})

    @staticmethod
    def _from_files(files: Iterable[Path]) -> "WeightSource":
        index: dict[str, Callable[[], torch.Tensor]] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        for f in files:
            if not f.exists():
                raise WeightError(f"Cannot open checkpoint shard: '{f}' does not exist")
            if f.suffix == ".safetensors":
                from safetensors import safe_open
                with safe_open(str(f), framework="pt") as h:
                    for k in h.keys():
                        shapes[k] = tuple(h.get_slice(k).get_shape())
                        index[k] = (lambda f=f, k=k: _read_safetensor(f, k))
            else:
                shard = _BinShard(f)
                for k, shape in shard.shapes().items():
                    shapes[k] = shape
                    index[k] = (lambda shard=shard, k=k: shard.get(k))
        return WeightSource(index, shapes)

    # -- access --------------------------------------------------------------------------------
    def sub(self, prefix: str) -> "WeightSource":
        """A view of the keys under `prefix` (e.g. 'spatial_vae.module.'), with the prefix stripped."""
        return WeightSource(self._index, self._shapes, self._prefix + prefix)

    def keys(self) -> list[str]:
        n = len(self._prefix)
        return [k[n:] for k in self._index if k.startswith(self._prefix)]

    def shape(self, key: str) -> tuple[int, ...]:
        return self._shapes[self._prefix + key]

    def __contains__(self, key: str) -> bool:
        return (self._prefix + key) in self._index

    def get(self, key: str) -> torch.Tensor:
        full = self._prefix + key
        if full not in self._index:
            raise WeightError(f"Cannot read weight: key '{full}' is missing from the checkpoint")
        return self._index[full]().to(torch.float32)

    def load_into(self, module: torch.nn.Module, prefix: str = "", optional: Iterable[str] = ()) -> None:
        """Strictly load `module`'s state dict from the keys under `prefix`.

        Raises WeightError listing missing keys, unexpected keys under the prefix (only when the module is
        the whole prefix's owner) and shape mismatches. Keys in `optional` may be absent.
        """
        expected = module.state_dict()
        optional = set(optional)
        missing = [k for k in expected if (prefix + k) not in self and k not in optional]
        if missing:
            raise WeightError(f"Cannot load {type(module).__name__}: missing keys {missing[:20]}"
                              + (f" (+{len(missing) - 20} more)" if len(missing) > 20 else ""))
        state = {}
        bad = []
        for k, v in expected.items():
            if (prefix + k) not in self:
                state[k] = v
                continue
            t = self.get(prefix + k)
            if tuple(t.shape) != tuple(v.shape):
                bad.append(f"{prefix + k}: checkpoint {list(t.shape)} vs model {list(v.shape)}")
            state[k] = t
        if bad:
            raise WeightError("Cannot load weights: wrong shapes: " + "; ".join(bad[:20]))
        module.load_state_dict(state, strict=True)

    def check_no_unknown(self, known: Iterable[str]) -> None:
        """Raise WeightError naming every key in this view that is not in `known`."""
        known = set(known)
        unknown = sorted(k for k in self.keys() if k not in known)
        if unknown:
            raise WeightError(f"Cannot load checkpoint: unknown keys {unknown[:20]}"
                              + (f" (+{len(unknown) - 20} more)" if len(unknown) > 20 else ""))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())


def _read_safetensor(f: Path, key: str) -> torch.Tensor:
    from safetensors import safe_open
    with safe_open(str(f), framework="pt") as h:
        return h.get_tensor(key)


class _BinShard:
    """A pickled PyTorch shard, opened with weights_only=True and mmap so tensors page in on use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sd: dict[str, torch.Tensor] | None = None

    def _load(self) -> dict[str, torch.Tensor]:
        if self._sd is None:
            try:
                self._sd = torch.load(str(self.path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:
                # Old (non-zipfile) serialization cannot be mmapped; still weights_only.
                self._sd = torch.load(str(self.path), map_location="cpu", weights_only=True)
        return self._sd

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self._load().items()}

    def get(self, key: str) -> torch.Tensor:
        return self._load()[key]
