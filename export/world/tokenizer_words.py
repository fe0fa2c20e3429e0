"""The default model's word-level tokenizer, built with the `tokenizers` library (tokenizer.json format).

Lowercase normalizer, whitespace pre-tokenizer, `<pad>` = 0, `</s>` = 1 appended by the post-processor,
`<unk>` = 2, then the world's vocabulary. The runtime's @huggingface/tokenizers reads the same file, so a
prompt encodes to the same ids on both sides; padding/truncation to `max_length` are the bundle's job
(`text.max_length`), done here by `encode` the same way (truncate the words, keep the EOS, pad with 0).
"""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

from export.world.captions import vocabulary

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def build_tokenizer(words: list[str] | None = None) -> Tokenizer:
    """A word-level tokenizer over `words` (default: the world's vocabulary)."""
    words = vocabulary() if words is None else words
    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, 1)])
    return tok


def encode(tok: Tokenizer, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask, int64 [B, max_length] each (EOS kept when truncating)."""
    ids = torch.zeros(len(texts), max_length, dtype=torch.int64)
    mask = torch.zeros(len(texts), max_length, dtype=torch.int64)
    for i, enc in enumerate(tok.encode_batch(texts)):
        seq = enc.ids
        if len(seq) > max_length:
            seq = seq[: max_length - 1] + [tok.token_to_id(EOS)]
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.int64)
        mask[i, : len(seq)] = 1
    return ids, mask


def save_tokenizer(tok: Tokenizer, path: Path) -> None:
    """Write tokenizer.json atomically."""
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tok.save(str(tmp))
    tmp.replace(path)
