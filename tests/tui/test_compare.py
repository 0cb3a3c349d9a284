"""Pilot tests of escalate/compare and verdicts against the loopback server, and `review`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.config.loader import load_settings
from app.core.ledger.reader import Ledger
from app.core.ledger.records import AttemptRecord
from app.core.ledger.store import open_store
from app.tui.review import ReviewApp
from app.tui.screens.compare import CompareScreen
from app.tui.widgets.chat import AnswerView
from app.tui.widgets.decision import DecisionPanel
from tests.tui.helpers import ask_and_wait, history, kept_answers, make_app
from tests.tui.test_console import SIZE, answers, last_toast, plain, wait_for

CHEAP = "Paris is the capital of France."
MID = "The capital of France is Paris, on the Seine."
PREMIUM = "The capital of France is **Paris**; it has been since the 10th century."


@pytest.fixture
def replies(loopback):
    loopback.reply = CHEAP
    loopback.replies["mid-model"] = MID
    loopback.replies["premium-model"] = PREMIUM
    return loopback


async def ask(pilot, text: str) -> None:
    await ask_and_wait(pilot, text)


async def open_compare(pilot, key: str = "ctrl+e") -> CompareScreen:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CompareScreen))
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.other is not None or bool(screen.failed))
    return screen


def chat_messages(body: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


def verdicts(app) -> list[str]:
    return [v["verdict"] for v in app.session.store().verdicts()]


async def test_escalate_shows_both_answers_and_premium_verdict_sticks(replies, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        assert kept_answers(app)[0].tier == "cheap"
        screen = await open_compare(pilot)
        left, right = screen.query(AnswerView)
        assert left.text == CHEAP and right.text == MID
        assert "mid-model" in plain(right.header) and "tok" in plain(right.header)
        assert "$" in plain(right.header) and "cheap-model" in plain(left.header)
        # The re-run had the turn's own history (none) and its prompt, on the next tier up.
        last = replies.bodies()[-1]
        assert last["model"] == "mid-model" and chat_messages(last) == [("user", "hi")]
        await pilot.press("r")  # another tier: premium
        await wait_for(pilot, lambda: screen.other is not None and screen.other.tier == "premium")
        right = list(screen.query(AnswerView))[-1]
        await wait_for(pilot, lambda: right.settled)
        assert right.text == PREMIUM and "premium-model" in plain(right.header)
        assert right.body.source == PREMIUM
        await pilot.press("2")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        # Premium was better: its answer replaced the cheap one in history, store and chat.
        assert history(app)[1]["content"] == PREMIUM
        store = app.session.store()
        assert store.messages(app.session.session_id)[1]["content"] == PREMIUM
        assert verdicts(app) == ["premium_better"]
        [answer] = answers(app)
        assert answer.text == PREMIUM and "kept after compare" in plain(answer.header)
        assert kept_answers(app)[-1].text == PREMIUM
        sat = Ledger(store).satisfaction()
        assert sat["cheap-model"].verdicts == 1 and sat["cheap-model"].rate == 0.0
        # Sticky premium for the rest of the session, with the verdict as the reason.
        assert app.session.state.sticky_tier == "premium"
        assert "staying on premium" in plain(app.query_one("#header-line"))
        assert "premium better on turn 1" in last_toast(app)
        await ask(pilot, "and Germany?")
        decision = app.query_one(DecisionPanel).decision
        assert decision.tier == "premium" and decision.rule == "sticky"
        assert decision.reason == "you judged premium better on turn 1"
        assert ("assistant", PREMIUM) in chat_messages(replies.bodies()[-1])
        # The pin key ends the stickiness first (routing automatic again, nothing pinned).
        await pilot.press("ctrl+t")
        assert app.session.state.sticky_tier is None and app.session.state.pinned_tier is None
        assert "no longer staying on premium" in last_toast(app)
        await ask(pilot, "hi")
        assert app.query_one(DecisionPanel).decision.tier == "cheap"


@pytest.mark.parametrize(("key", "verdict", "kept"), [
    ("c", "cheap_enough", CHEAP), ("p", "premium_better", MID), ("3", "tie", CHEAP),
])
async def test_verdict_keys_store_and_keep_the_right_answer(replies, loopback_settings, key,
                                                           verdict, kept):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        given_id = kept_answers(app)[0].request_ids[-1]
        await open_compare(pilot)
        new_id = app.session.pending.compared.request_ids[-1]
        await pilot.press(key)
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        assert history(app) == [{"role": "user", "content": "hi"},
                                       {"role": "assistant", "content": kept}]
        store = app.session.store()
        [v] = store.verdicts()
        assert v["verdict"] == verdict and v["answer_request_id"] == given_id
        assert v["compared_request_id"] == new_id
        assert v["kept_request_id"] == (new_id if kept == MID else given_id)
        [pair] = store.compare_pairs()
        assert pair["source"] == "console" and pair["verdict"] == verdict
        assert answers(app)[0].text == kept
        sticky = "mid" if verdict == "premium_better" else None
        assert app.session.state.sticky_tier == sticky
        # The verdict is said in the two tiers' names (cheap against mid here).
        said = {"cheap_enough": "cheap was enough", "premium_better": "mid was better",
                "tie": "tie"}[verdict]
        assert f"Verdict stored: {said}." in last_toast(app)


async def test_escape_leaves_without_verdict_and_the_cost_stays(replies, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        spent_before = app.session.ledger().spent_usd
        screen = await open_compare(pilot)
        assert screen.check_action("verdict", ("tie",))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        assert verdicts(app) == [] and app.session.pending is None
        assert history(app)[1]["content"] == CHEAP and answers(app)[0].text == CHEAP
        assert app.session.ledger().spent_usd > spent_before
        assert "calls       cheap 1 · mid 1" in plain(app.query_one("#ledger"))
        assert "routedeck review" in last_toast(app)
        assert len(app.session.store().compare_pairs(pending_only=True)) == 1


async def test_the_compare_keys_fit_a_narrow_terminal(replies, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, "hi")
        screen = await open_compare(pilot)
        await wait_for(pilot, lambda: not screen.streaming)
        keys = plain(screen.query_one("#compare-keys"))
        # Every key with its label on the one line: esc's "leave" was cut at 80 columns.
        assert len(keys.rstrip()) <= 78 and keys.rstrip().endswith("leave")
        assert "cheap ok" in keys and " 3/t " in keys
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        wide = plain(screen.query_one("#compare-keys"))
        assert "leave without verdict" in wide
        assert "1/c  cheap was enough" in wide and "2/p  mid was better" in wide


async def test_escalate_an_earlier_turn_selected_with_ctrl_up(replies, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        await ask(pilot, "hello again")
        first, second = answers(app)
        await pilot.press("ctrl+up")
        assert app.compare.selected == 1 and second.has_class("-selected")
        await pilot.press("ctrl+up")
        assert app.compare.selected == 0 and first.has_class("-selected")
        assert "turn 1 selected" in app.query_one("#prompt").placeholder
        await open_compare(pilot)
        body = replies.bodies()[-1]
        assert body["model"] == "mid-model" and chat_messages(body) == [("user", "hi")]
        await pilot.press("p")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        assert [m["content"] for m in history(app)] == ["hi", MID, "hello again", CHEAP]
        assert first.text == MID and second.text == CHEAP
        assert app.compare.selected is None and not first.has_class("-selected")
        # Ctrl+Down past the newest answer clears a selection.
        await pilot.press("ctrl+up", "ctrl+down")
        assert app.compare.selected is None


async def test_click_selects_an_answer(replies, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        await ask(pilot, "hello again")
        first = answers(app)[0]
        await pilot.click(first.header)
        assert app.compare.selected == 0 and "Turn 1 selected" in last_toast(app)


async def test_remapped_escalate_key(replies, loopback_settings):
    app = make_app(loopback_settings(extra='\n[keymap]\nescalate = "ctrl+b"\n'))
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        await pilot.press("ctrl+e")  # now only the prompt's own "end of line"
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        screen = await open_compare(pilot, "ctrl+b")
        assert screen.other is not None and screen.other.text == MID


async def test_top_tier_and_offline_say_so_and_send_nothing(replies, loopback_settings,
                                                           monkeypatch):
    monkeypatch.setenv("RD_COMPARE_KEY", "sk-test")
    app = make_app(loopback_settings(key_env="RD_COMPARE_KEY"), pin_tier="premium")
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        sent = len(replies.requests)
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        assert "already answered on the top tier (premium)" in last_toast(app)
        monkeypatch.delenv("RD_COMPARE_KEY")
        app.escalate(None, "cheap")  # the palette's "Compare with tier: cheap"
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        assert "offline" in last_toast(app).lower() and "nothing was sent" in last_toast(app)
        assert len(replies.requests) == sent


async def test_offline_console_toast():
    app = make_app(load_settings(None))
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        await pilot.press("ctrl+e")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        assert "offline" in last_toast(app).lower() and "nothing was sent" in last_toast(app)
        # F2 offline: what the verdicts need, the projection named, no empty model table.
        await pilot.press("f2")
        await pilot.pause()
        assert "Once a model answers" in plain(app.screen.query_one("#your-traffic"))
        assert "(offline)" in plain(app.screen.query_one("#cost-chart"))
        assert not app.screen.query_one("#model-table").display


async def test_ledger_details_show_your_traffic(replies, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        assert "no verdicts yet: press ctrl+e" in plain(app.screen.query_one("#your-traffic"))
        await pilot.press("escape")
        await ask(pilot, "hi")
        await open_compare(pilot)
        await pilot.press("1")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))
        await pilot.press("f2")
        text = plain(app.screen.query_one("#your-traffic"))
        assert "1 label(s)" in text and "APGR" in text
        assert "cheap-model" in text and "1 of 1 (100%)" in text


# --- routedeck review ---------------------------------------------------------------------
def test_review_without_pairs_says_so(loopback_config):
    result = CliRunner().invoke(cli, ["--config", str(loopback_config()), "review"])
    assert result.exit_code == 0, result.output
    assert "No answer pairs are waiting for a verdict" in result.output


def record(store, sid: int, tier: str, answer: str, prompt: str) -> int:
    return store.record_attempt(AttemptRecord(
        turn_id=f"{prompt}-{tier}", attempt=1, session_id=sid, tier=tier, model=f"{tier}-model",
        provider="loop", status="ok", started_at=1_760_000_000.0, prompt=prompt, answer=answer,
        input_tokens=12, output_tokens=30, usage_source="provider", cost_usd=0.0001,
        latency_s=0.5))


def _stored_pairs(settings, n: int):
    store = open_store(settings)
    sid = store.new_session("compare")
    for i in range(n):
        a = record(store, sid, "cheap", f"cheap answer {i}", f"prompt {i}")
        b = record(store, sid, "premium", f"premium answer {i}", f"prompt {i}")
        store.add_compare_pair(f"prompt {i}", a, b, session_id=sid)
    return store


async def test_review_app_judges_stored_pairs(loopback_settings):
    settings = loopback_settings()
    store = _stored_pairs(settings, 3)
    pairs = store.compare_pairs(pending_only=True)
    app = ReviewApp(settings, store, pairs)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        left, right = screen.query(AnswerView)
        assert left.text == "cheap answer 0" and right.text == "premium answer 0"
        await pilot.press("p")
        await wait_for(pilot, lambda: app.screen is not screen)
        await pilot.press("n")  # skip pair 2
        await pilot.pause()
        await pilot.press("t")
        await wait_for(pilot, lambda: app.return_value is not None)
    result = app.return_value
    assert (result.judged, result.skipped, result.total) == (2, 1, 3)
    assert "judged 2 of 3" in result.summary()
    assert [p["verdict"] for p in store.compare_pairs()] == ["premium_better", None, "tie"]
    [v1, v3] = store.verdicts()
    assert v1["kept_request_id"] == pairs[0]["compared_request_id"]
    assert v3["kept_request_id"] == pairs[2]["answer_request_id"]
    store.close()


async def test_palette_compares_with_a_chosen_tier(replies, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, "hi")
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Compare with tier: premium")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.other is not None)
        assert screen.other.tier == "premium" and screen.other.text == PREMIUM


def test_review_without_a_terminal_refuses_instead_of_waiting(replies, loopback_config,
                                                               tmp_path):
    cfg = loopback_config()
    (tmp_path / "p.txt").write_text("hi\n", encoding="utf-8")
    made = CliRunner().invoke(cli, ["--config", str(cfg), "compare", "-y",
                                    str(tmp_path / "p.txt")])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(cli, ["--config", str(cfg), "review"])
    assert result.exit_code == 2 and "needs a terminal" in result.output
    assert "1 pair(s) wait" in result.output
