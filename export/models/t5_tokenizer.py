"""Write the bundle's tokenizer.json for the T5 text encoder (Hugging Face tokenizers format).

Accepts a tokenizer.json (copied), a SentencePiece `spiece.model` (its pieces, scores and normalizer
charsmap read with protobuf, then built as transformers' T5 tokenizer: no sentencepiece package needed),
or a folder holding one of them.
"""
from __future__ import annotations

import shutil
from pathlib import Path


class TokenizerError(Exception):
    """A tokenizer file is missing or unreadable."""


def find_tokenizer(path: str | Path) -> Path:
    """The tokenizer.json or spiece.model at `path` (a file or a folder holding one)."""
    p = Path(path)
    if p.is_dir():
        for name in ("tokenizer.json", "spiece.model"):
            if (p / name).is_file():
                return p / name
        raise TokenizerError(f"Cannot find a tokenizer: '{p}' has no tokenizer.json or spiece.model")
    if not p.is_file():
        raise TokenizerError(f"Cannot find a tokenizer: '{p}' does not exist")
    return p


def write_t5_tokenizer(path: str | Path, out_file: Path, extra_ids: int = 100) -> None:
    """Write `out_file` (tokenizer.json) from a tokenizer.json or spiece.model found at `path`."""
    src = find_tokenizer(path)
    if src.suffix == ".json":
        from tokenizers import Tokenizer
        try:
            Tokenizer.from_file(str(src))
        except Exception as e:  # noqa: BLE001 (tokenizers raises plain Exception)
            raise TokenizerError(f"Cannot read tokenizer: '{src}' is not a tokenizers JSON file ({e})") from e
        shutil.copyfile(src, out_file)
        return
    from transformers import T5Tokenizer
    from transformers.utils import sentencepiece_model_pb2_new as spm_pb
    proto = spm_pb.ModelProto()
    try:
        proto.ParseFromString(src.read_bytes())
    except Exception as e:  # noqa: BLE001 (protobuf's DecodeError)
        raise TokenizerError(f"Cannot convert tokenizer: '{src}' is not a SentencePiece model ({e})") from e
    if not proto.pieces:
        raise TokenizerError(f"Cannot convert tokenizer: '{src}' is not a SentencePiece model (no pieces)")
    vocab = [(p.piece, float(p.score)) for p in proto.pieces]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(extra_ids - 1, -1, -1)]  # T5 sentinels, reversed
    charsmap = proto.normalizer_spec.precompiled_charsmap or None
    tok = T5Tokenizer(vocab=vocab, _spm_precompiled_charsmap=charsmap, extra_ids=extra_ids)
    tok.backend_tokenizer.save(str(out_file))
