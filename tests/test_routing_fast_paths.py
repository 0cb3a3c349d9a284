"""The routing hot path's shortcuts (word families, split marks, the merged gram index, packed
task rows) give exactly what the plain computations give."""

from __future__ import annotations

import base64
import gzip
import json
from array import array
from pathlib import Path

import pytest

from app.core.routing import features, learned, lookup, tasks, tasktype

ROOT = Path(__file__).resolve().parents[1]


def _prompts() -> list[str]:
    out = ["", " ", "hi", "Thanks!", "日本語のテキスト", "x = 2^3 ≤ 9", "a. one\nB) two",
           "```py\ndef f(): return 1\n```", "Traceback (most recent call last):", "£5 + €3",
           "word " * 400, "Prove that √2 is irrational, step by step. " * 30]
    for name, col in (("everyday.tsv", 4), ("everyday_blind.tsv", 4), ("task_examples.tsv", 1)):
        for line in (ROOT / "training" / "data" / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if not line.startswith("#") and len(parts) > col:
                out.append(parts[col].replace("\\n", "\n"))
    return out


PROMPTS = _prompts()


def test_word_families_match_their_term_lists():
    lists = [(bit, terms) for bit, (_, _, terms) in zip(features._LEXICON_BITS,
                                                          features._LEXICONS, strict=True)]
    lists += [(bit, terms) for bit, (_, terms) in zip(tasks._CUE_BITS, tasks.CUES, strict=True)]

    def meets(grams, term: str) -> bool:  # a longer phrase: every one of its pairs
        w = term.split()
        return all(" ".join(w[i:i + 2]) in grams for i in range(max(1, len(w) - 1)))

    for prompt in PROMPTS:
        prep = features.prepare(prompt)
        for bit, terms in lists:
            assert bool(prep.families & bit) == any(meets(prep.grams, t) for t in terms), prompt


def test_split_marks_find_what_a_plain_scan_finds():
    marks = [features.CODE_MARKS, features.MATHS_MARKS, features._CODE_MARKS,
             features._MATHS_MARKS, tasks._CODE_MARKS]
    for prompt in PROMPTS:
        prep = features.prepare(prompt)
        for m in marks:
            assert prep.has(m) == any(x in prep.question for x in (*m.plain, *m.symbolic))


def _task_payload() -> dict:
    return json.loads(gzip.decompress(tasktype.MODEL_FILE.read_bytes()))


def test_indexed_models_match_their_plain_twins():
    """The shipped models read the merged index; copies that are not attached to it read
    their own tables. Both must give the same logits, scores and explanations, exactly."""
    task, router = tasktype.model(), learned.model()
    assert lookup.INDEX.task is task and lookup.INDEX.router is router
    plain_task, plain_router = tasktype.TaskModel(_task_payload()), learned.load()
    for prompt in PROMPTS:
        assert task.logits(features.prepare(prompt)) == plain_task.logits(
            features.prepare(prompt)), prompt
        probs = tasktype.guess(features.prepare(prompt)).probs
        assert router.score(prompt, probs) == plain_router.score(prompt, probs), prompt


def test_rows_that_do_not_pack_exactly_fall_back_to_fsum(monkeypatch):
    payload = _task_payload()
    flat = array("f")
    flat.frombytes(base64.b64decode(payload["weights_f32"]))
    flat[0] = 1e-30  # no multiple of 2**-40: this row cannot be packed exactly
    payload["weights_f32"] = base64.b64encode(flat.tobytes()).decode()
    assert payload["tokens"].split("\n")[0] == "#code"  # a marker of the code prompt below
    odd, plain = tasktype.TaskModel(payload), tasktype.TaskModel(payload)
    index = lookup.GramIndex()
    index.attach(task=odd)
    monkeypatch.setattr(lookup, "INDEX", index)
    for prompt in ["What is 2 + 2?", "```py\ndef f(): return 1\n```", *PROMPTS[:50]]:
        assert odd.logits(features.prepare(prompt)) == plain.logits(features.prepare(prompt))
    assert not odd._exact  # the code prompt met the row, and the model fell back


@pytest.mark.parametrize("row", [[0.5, -7.25, 0.0], [float("inf")], [float("nan")], [1e-30]])
def test_pack_is_exact_or_refuses(row):
    packed = tasktype._pack(row)
    if packed is None:
        assert any(not abs(w) < 2**12 or w * 2**40 != int(w * 2**40) for w in row)
    else:
        assert packed == sum(int(w * 2**40) << (64 * j) for j, w in enumerate(row))


def test_shared_estimates_follow_a_price_or_tier_edit():
    # Estimates are kept per token count once a tier's prices are known: an edit to the
    # same Settings object (the console's config reload mutates in place) must show at once.
    from app.core.config.settings import Settings
    from app.core.routing.policy import estimates

    s = Settings()
    prompt = "Summarise this paragraph in one sentence please."
    before = estimates(s, prompt)
    assert estimates(s, prompt) == before
    s.tiers[0].input_per_mtok, s.tiers[0].output_per_mtok = 100.0, 200.0
    after = estimates(s, prompt)
    e = after[0]
    assert e.cost_usd == pytest.approx((e.input_tokens * 100.0 + e.output_tokens * 200.0) / 1e6)
    assert after[1] == before[1]
    s.router.expected_output_tokens = 7
    assert {e.output_tokens for e in estimates(s, prompt)} == {7}


def test_a_warmed_index_holds_every_record_and_the_same_ones():
    """warm() (the console's warm-up thread) works out every record at once; they are the
    records the lazy path works out, so no decision changes."""
    lazy, warm = lookup.GramIndex(), lookup.GramIndex()
    for index in (lazy, warm):
        index.attach(task=tasktype.model(), router=learned.model())
    assert warm.warm() > 10_000 and warm.warm() == 0
    assert lookup._PENDING not in warm._current().values()
    for prompt in PROMPTS[:300]:
        grams = features.prepare(prompt).grams
        assert warm.lookup(grams) == lazy.lookup(grams), prompt


def test_word_families_find_phrases_longer_than_a_pair():
    # A prompt's grams are words and pairs, so "step by step" once never matched at all.
    from app.core.routing import demands
    from app.core.routing.features import prepare
    from app.core.routing.vocab import Vocabulary

    v = Vocabulary()
    bit = v.family(["step by step", "walk me"])
    grams = prepare("explain step by step how to boil an egg").grams
    assert v.mask(grams) & bit and v.mask(prepare("walk me through it").grams) & bit
    assert not v.mask(prepare("one step by one").grams) & bit  # the first pair alone
    assert not v.mask(prepare("by step step").grams) & bit
    assert "multi_step" in demands.detect(prepare("explain step by step"), "factual")
    assert demands.expert_domain(prepare("is this allowed by the terms of service?")) == "legal"
