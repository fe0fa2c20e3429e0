"""tokenizer.json for the T5 text stage: from a SentencePiece model (converted) or a tokenizer.json (copied)."""
from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from export.models.t5_tokenizer import TokenizerError, find_tokenizer, write_t5_tokenizer

PIECES = [("<pad>", 0.0, 3), ("</s>", 0.0, 3), ("<unk>", 0.0, 2), ("▁a", -1.0, 1), ("▁cat", -2.0, 1),
          ("▁", -3.0, 1), ("a", -4.0, 1), ("c", -4.0, 1), ("t", -4.0, 1)]


def toy_spiece(path: Path) -> Path:
    """A minimal unigram SentencePiece model proto (T5 layout: pad 0, eos 1, unk 2)."""
    from transformers.utils import sentencepiece_model_pb2_new as pb
    m = pb.ModelProto()
    m.trainer_spec.model_type = 1
    m.trainer_spec.vocab_size = len(PIECES)
    m.trainer_spec.pad_id, m.trainer_spec.eos_id, m.trainer_spec.unk_id, m.trainer_spec.bos_id = 0, 1, 2, -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    for piece, score, kind in PIECES:
        p = m.pieces.add()
        p.piece, p.score, p.type = piece, score, kind
    path.write_bytes(m.SerializeToString())
    return path


def test_spiece_model_is_converted(tmp_path: Path) -> None:
    toy_spiece(tmp_path / "spiece.model")
    write_t5_tokenizer(tmp_path, tmp_path / "tokenizer.json", extra_ids=0)
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert tok.token_to_id("▁cat") == 4 and tok.token_to_id("</s>") == 1
    ids = tok.encode("a cat").ids
    assert ids[-1] == 1 and 4 in ids  # T5 appends EOS; "▁cat" is one piece


def test_tokenizer_json_is_copied_and_bad_input_is_named(tmp_path: Path) -> None:
    toy_spiece(tmp_path / "spiece.model")
    write_t5_tokenizer(tmp_path, tmp_path / "first.json", extra_ids=0)
    write_t5_tokenizer(tmp_path / "first.json", tmp_path / "copy.json")
    assert (tmp_path / "copy.json").read_bytes() == (tmp_path / "first.json").read_bytes()
    with pytest.raises(TokenizerError, match="has no tokenizer.json or spiece.model"):
        find_tokenizer(tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else tmp_path)
    (tmp_path / "junk.model").write_bytes(b"not a proto")
    with pytest.raises(TokenizerError, match="Cannot convert tokenizer"):
        write_t5_tokenizer(tmp_path / "junk.model", tmp_path / "x.json")
