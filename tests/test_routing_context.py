"""Task classifier, follow-ups and the verdict memory: the context a decision is made in."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.config.settings import Settings
from app.core.routing import features, followup, tasks, tasktype
from app.core.routing.memory import Memory
from app.core.routing.policy import route
from training import train_tasks

PROOF = [{"role": "user", "content": "Prove that there are infinitely many primes."},
         {"role": "assistant", "content": "Suppose there were finitely many ..."}]


def test_task_classifier_accuracy_on_the_everyday_set():
    """The everyday set is never trained on; the labelled examples are (CV in the report)."""
    items = train_tasks.everyday()
    right = sum(tasktype.guess(features.prepare(e["prompt"])).task == e["task"] for e in items)
    assert right / len(items) >= 0.8


@pytest.mark.parametrize(("prompt", "task"), [
    ("hey there!", "greeting"), ("What is the capital of Peru?", "factual"),
    ("Translate 'good night' into French", "translate"),
    ("Summarise this article in two sentences: ...", "summarize"),
    ("Write a Python function that checks if a string is a palindrome", "code_write"),
    ("Why does this throw a NullPointerException? here is the stack trace", "code_debug"),
    ("Prove that sqrt(5) is irrational", "proof"),
    ("Is this clause in my employment contract enforceable?", "expert"),
    ("Write a limerick about a sleepy dog", "creative"),
    ("Compare Redis and Memcached for session storage and recommend one", "analysis"),
])
def test_task_types_are_what_a_person_would_say(prompt, task):
    assert tasktype.guess(features.prepare(prompt)).task == task


def test_the_instruction_before_pasted_material_decides_the_task_type():
    log = ("2024-05-01 12:00:01 ERROR worker.py:212 Task failed: ConnectionResetError\n"
           "2024-05-01 12:00:02 WARN retrying in 5s (attempt 3/3)\n")
    asks = {"Analyze this error log and suggest a fix": "code_debug",
            "Pull out every timestamp and level from this log": "extraction",
            "Summarise this log for the incident channel": "summarize"}
    for instruction, task in asks.items():
        prep = features.prepare(f"{instruction}:\n{log}")
        assert tasks.lead_words(prep) == instruction.lower().split()
        words = {t for t in tasks.task_tokens(prep) if t[0].isalnum()}
        assert "connectionreseterror" not in words and "worker" not in words
        assert tasktype.guess(prep).task == task, instruction
    # Nothing pasted after the colon: the whole prompt is read.
    short = features.prepare("Question: why is the sky blue?")
    assert tasks.lead_words(short) == [] and "sky" in tasks.task_tokens(short)


def test_user_examples_steer_the_task_type_without_retraining():
    prompt = "the flux capacitor on unit 7 keeps tripping after the overnight batch"
    before = route(prompt, Settings())
    s = Settings(router={"task_examples": {"code_debug": [
        "the flux capacitor on unit 3 keeps tripping after the nightly batch"]}})
    after = route(prompt, s)
    assert after.task_type == "code_debug" != before.task_type
    assert after.tier == "premium"


@pytest.mark.parametrize("prompt", ["and why?", "shorter", "and in French?", "what about Go?",
                                    "is that right?", "can you make it simpler"])
def test_follow_ups_inherit_the_question_they_continue(prompt):
    d = route(prompt, Settings(), PROOF)
    assert d.tier == "premium"
    assert d.follow_up.startswith("Prove that there are")
    assert "follow-up to: Prove that" in d.reason
    assert any(s.label.startswith("follow-up") for s in d.signals)
    assert route(prompt, Settings()).follow_up == ""


@pytest.mark.parametrize("prompt", ["hi", "thanks!", "thank you so much", "ok cool",
                                    "hello there", "hi there!", "thanks everyone", "hey all",
                                    "hello again", "hi again", "hey, it's me again",
                                    "thanks again", "I just wanted to say thanks",
                                    "What is the capital of France?", "Write a haiku about tea"])
def test_greetings_and_new_questions_never_inherit(prompt):
    d = route(prompt, Settings(), PROOF)
    assert d.follow_up == "" and "follow-up" not in d.reason
    assert d.tier == "cheap"


def test_again_alone_still_asks_for_another_go():
    # "again" goes with a greeting ("hello again") but is none by itself.
    assert route("again", Settings(), PROOF).follow_up.startswith("Prove that")


@pytest.mark.parametrize("prompt", ["Summarize this:\nline two of the text",
                                    "Translate this: good morning to all",
                                    "Fix this\nfor i in range(3) print(i)"])
def test_a_prompt_that_brings_its_own_text_is_not_a_follow_up(prompt):
    # "this" points at the text that follows it, not at the earlier proof.
    d = route(prompt, Settings(), PROOF)
    assert d.follow_up == "" and "follow-up" not in d.reason
    assert route("Summarize this", Settings(), PROOF).follow_up.startswith("Prove that")


def test_follow_up_chain_goes_back_to_the_question_that_began_it():
    history = [*PROOF, {"role": "user", "content": "shorter"},
               {"role": "assistant", "content": "..."}]
    assert followup.anchor("and in French?", history).startswith("Prove that")


def test_follow_ups_can_be_switched_off():
    s = Settings(router={"follow_ups": False})
    assert route("and why?", s, PROOF).follow_up == ""


def test_memory_moves_similar_prompts_at_once():
    prompt = "Write a limerick about my cat Mittens who steals socks"
    s = Settings()
    assert route(prompt, s).tier == "cheap"
    mem = Memory([("Write a limerick about my cat Mittens stealing socks", "premium_better")])
    d = route(prompt, s, memory=mem)
    assert d.tier == "premium"
    assert "you judged a similar prompt: premium was better" in d.reason
    assert d.memory_note and d.score >= d.threshold
    other = route("What is the boiling point of water?", s, memory=mem)
    assert other.memory_note == "" and other.tier == "cheap"


def test_cheap_verdict_outranks_the_built_in_task_policy():
    prompt = "Review this contract clause for compliance issues with our vendor"
    s = Settings()
    assert route(prompt, s).tier == "premium"
    mem = Memory([("Review this contract clause for compliance issues", "cheap_enough")])
    d = route(prompt, s, memory=mem)
    assert d.tier == "cheap" and "cheap was enough" in d.reason


def test_memory_validates_and_builds_from_label_rows():
    with pytest.raises(ValueError, match="unknown verdict"):
        Memory([("x", "great")])
    rows = [{"prompt": "a b c", "verdict": "tie"}, {"prompt": "", "verdict": "tie"},
            {"prompt": "d e f", "verdict": "??"}]
    assert len(Memory.from_rows(rows)) == 1


def test_similar_prompts_do_not_depend_on_word_order():
    # Twelve rare query words tie on their posting lists and only ten are read: which ten
    # must not depend on the order the words come in (a set's order changes per process
    # with string hashing, and route, audit and the console run in different processes).
    from app.core.routing.neighbours import Index

    words = [f"word{i:02d}" for i in range(12)]
    index = Index([frozenset(words[:6]), frozenset(words[6:])])
    forward = index.query(words, k=2)
    assert forward == index.query(list(reversed(words)), k=2)
    assert forward == index.query(words[3:] + words[:3], k=2)


def test_memory_of_thousands_stays_fast():
    mem = Memory((f"question {i} about topic{i % 300} and detail{i % 97} in area{i % 13}",
                  "premium_better" if i % 2 else "cheap_enough") for i in range(3000))
    s = Settings()
    prompt = "question about topic17 and detail5 in area3 please"
    route(prompt, s, memory=mem)
    t = time.perf_counter()
    for _ in range(200):
        route(prompt, s, memory=mem)
    assert (time.perf_counter() - t) / 200 < 0.005  # generous: a loaded CI machine


def _judge(prompts, verdict):
    from app.core.ledger.records import AttemptRecord
    from app.core.ledger.store import SQLiteStore

    with SQLiteStore.open() as store:
        for p in prompts:
            ids = [store.record_attempt(AttemptRecord(
                turn_id=f"{tier}-{p}", attempt=1, session_id=None, tier=tier, model=model,
                provider="openai", status="ok", started_at=time.time(), prompt=p,
                answer="a", cost_usd=cost, premium_cost_usd=0.01))
                for tier, model, cost in (("cheap", "gpt-4o-mini", 0.001),
                                          ("premium", "gpt-4o", 0.01))]
            store.add_compare_pair(p, *ids)
            store.add_verdict(*ids, verdict, kept_request_id=ids[0])


def test_eval_mine_shows_before_and_after_the_memory_leave_one_out():
    # Pairs of near-identical prompts the router alone gets wrong: with the memory of the
    # other verdicts (never its own) each is routed the way the user judged its twin.
    hard = [f"write a limerick about my cat {n} who steals socks at night" for n in ("Tom", "Tim")]
    easy = [f"compare the two cafes on {s} street and recommend one for a quick coffee"
            for s in ("Elm", "Oak")]
    _judge(hard, "premium_better")
    _judge(easy, "cheap_enough")
    out = json.loads(CliRunner().invoke(cli, ["eval", "--mine", "--json"]).stdout)
    overall = out["groups"]["overall"]
    assert overall["with-memory"]["apgr"] > overall["router"]["apgr"]
    assert overall["with-memory"]["apgr"] == overall["oracle"]["apgr"]
    text = CliRunner().invoke(cli, ["eval", "--mine"]).stdout
    assert "+ your verdicts" in text and "left out" in text


def test_a_task_type_the_classifier_is_unsure_of_says_so():
    from app.core.routing.classify import UNSURE_TASK, classify

    vague = classify("purple elephants on tuesday")
    assert vague.task_confidence < UNSURE_TASK and vague.task_label.endswith("?")
    sure = classify("Translate 'good morning' into Spanish")
    assert sure.task_confidence >= UNSURE_TASK and not sure.task_label.endswith("?")
    d = route("purple elephants on tuesday", Settings())
    assert d.task_label == vague.task_label and f"task: {vague.task_label}" in [
        s.label for s in d.signals]
    # A user's own example decides the type: no doubt left to show.
    steered = classify("purple elephants on tuesday",
                       examples={"creative": ["purple elephants on tuesday"]})
    assert steered.task_type == "creative" and not steered.task_label.endswith("?")


async def test_an_offline_session_projects_the_follow_ups_a_connected_one_makes(
        loopback, loopback_settings):
    from app.core.calling.events import RouteDecided
    from app.core.config.loader import load_settings
    from app.core.conversation.session import ConsoleSession

    async def decisions(settings) -> list:
        session = ConsoleSession(settings)
        session.open()
        out = []
        try:
            for prompt in ("Prove that sqrt(2) is irrational.", "and in French?"):
                out += [ev.decision async for ev in session.run_turn(session.start_turn(prompt))
                        if isinstance(ev, RouteDecided)]
            assert not any(m["content"] == "" for m in session.conversation.history())
        finally:
            await session.aclose()
        return out

    offline, connected = await decisions(load_settings(None)), await decisions(
        loopback_settings())
    assert offline[1].follow_up.startswith("Prove that sqrt(2)")
    assert offline[1].follow_up == connected[1].follow_up
    assert offline[1].tier == "premium" and connected[1].tier == "premium"
