"""export/world/eval_prompts.py: the plain and the paraphrased evaluation prompt sets."""
from __future__ import annotations

from export.world.eval_prompts import paraphrased_set, prompt_set
from export.world.captions import plain_caption, vocabulary


def test_paraphrased_prompts_keep_labels_change_wording_and_stay_in_vocabulary() -> None:
    plain, para = prompt_set(), paraphrased_set()
    assert len(para) == len(plain) >= 60 and any(p["heldout"] for p in para)
    words = set(vocabulary())
    for a, b in zip(plain, para):
        assert {k: v for k, v in a.items() if k != "prompt"} == {k: v for k, v in b.items() if k != "prompt"}
        assert b["prompt"] != plain_caption(b["color"], b["shape"], b["motion"], b["background"])
        assert b["color"] in b["prompt"] and b["shape"] in b["prompt"] and b["background"] in b["prompt"]
        assert set(b["prompt"].lower().split()) <= words
    assert len({p["prompt"].split()[0] for p in para}) > 1
