"""Bad input matrix: empty prompts, huge prompts, binary and non-UTF-8 files, emoji and
right-to-left text, terminal escape sequences, malformed JSONL and a config full of mistakes.

Documented behaviour (README "Bad input never produces a traceback"):

* empty / whitespace prompts are never sent: the engine ends the turn with an error and no
  ledger row, ``routedeck ask``/``route`` exit 2 (usage error), the console ignores Enter and
  leaves the text in the input;
* a 200,000-character prompt routes in well under a second; when it exceeds the routed tier's
  ``context_window`` the turn fails with a message naming the window before anything is sent
  (no request, no ledger row, $0);
* bad lines of files given to audit/eval/compare are reported as ``FILE:LINE: skipped: ...``
  and every other line still runs;
* text is data everywhere: emoji and right-to-left text round-trip exactly through route, ask,
  the store and the console; escape sequences in prompts, answers and server messages are
  shown as visible symbols (``ESC`` -> ``\u241b``) in the console and in ``ask``'s text mode,
  never written raw to the terminal. ``route`` never echoes the prompt; ``--json`` output
  escapes control characters as JSON requires (``\\u001b``);
* one ``config check`` lists every mistake of a config at once, exit 2, no traceback.

The prompt editor (a Textual ``TextArea``) draws its text as it is, so pasted text and a
prompt restored after a failed turn are made inert on the way in; keys cannot type control
characters. The screen checks below blank the editor and cover everything else, and
``test_pasted_escape_sequences_are_inert_in_the_prompt`` covers the editor itself.
"""

from __future__ import annotations

import io
import json
import time
from contextlib import aclosing

import pytest
from rich.console import Console

from app.core.calling.engine import Engine
from app.core.calling.events import TurnFinished
from app.core.config.loader import load_settings
from app.core.ledger.store import open_store
from app.tui.widgets.chat import AnswerView, Notice, UserMessage
from app.tui.widgets.prompt import PromptInput
from tests.loopback_server import config_toml
from tests.reliability.helpers import ErrorServer, ledger_rows, run_cli
from tests.tui.helpers import history, kept_answers, make_app, send, wait_for

pytestmark = pytest.mark.reliability

SIZE = (150, 44)
HUGE = ("Explain the following log line and find the bug: ERROR 42 at step 7. " * 3000)[:200_000]
EMOJI_RTL = "שלום עולם 👋🏽 مرحبا بالعالم — 家族 👨‍👩‍👧 ok?"
# OSC 52 (set clipboard), clear screen, SGR colour, OSC 8 hyperlink, one-byte C1 CSI, BEL.
EVIL = ("look \x1b]52;c;SGVsbG8gd29ybGQ=\x07 then \x1b[2J\x1b[31mred "
        "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ \x9b31m end")
DANGEROUS = ("\x1b", "\x9b", "\x07")






def terminal_bytes(app, exclude_prompt: bool = True) -> str:
    """What the console would write to the terminal for a full repaint of its screen.

    The prompt input is blanked first when ``exclude_prompt``: it holds the user's own text
    (see "Known limit" in the module docstring).
    """
    if exclude_prompt:
        app.query_one(PromptInput).text = ""
    update = app.screen._compositor.render_update(full=True)
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="truecolor", width=SIZE[0]).print(
        update, end="")
    return buf.getvalue()


def without_sgr(ansi: str) -> str:
    """The rendered text without the console's own colour and cursor-move sequences."""
    import re

    return re.sub(r"\x1b\[[0-9;]*[mH]", "", ansi)


async def collect(engine: Engine, prompt: str) -> list:
    async with aclosing(engine.run_turn(prompt, [])) as events:
        return [ev async for ev in events]


# --- empty and whitespace prompts -----------------------------------------------------------
@pytest.mark.parametrize("prompt", ["", "   ", "\n\t \r\n", "\u3000"])
async def test_engine_never_sends_an_empty_prompt(prompt, loopback, loopback_settings):
    store = open_store()
    engine = Engine(loopback_settings(), recorder=store)
    try:
        events = await collect(engine, prompt)
    finally:
        await engine.aclose()
        store.close()
    fin = events[-1]
    assert isinstance(fin, TurnFinished) and fin.status == "error"
    assert "empty" in fin.message and "nothing was sent" in fin.message
    assert loopback.bodies() == [] and ledger_rows() == []


@pytest.mark.parametrize("args,stdin", [(["ask", ""], None), (["ask", "  \t "], None),
                                        (["ask"], " \n\n "), (["route", "   "], None),
                                        (["route"], "\n")])
def test_cli_rejects_empty_prompts(args, stdin, loopback, loopback_config):
    res = run_cli(*args, config=loopback_config(), input=stdin)
    assert res.exit_code == 2
    assert "empty" in res.stderr and "Traceback" not in res.stderr
    assert loopback.bodies() == [] and ledger_rows() == []


async def test_console_ignores_empty_prompts(loopback, loopback_settings):
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        for text in ("", "    ", "\n\n  \t"):
            await send(pilot, text)
            await pilot.pause()
            assert len(app.session.conversation) == 0 and not app.running
            assert app.query_one(PromptInput).text == text  # left as typed
        assert not list(app.query(UserMessage))
    assert loopback.bodies() == []


# --- huge prompts -----------------------------------------------------------------------------
def test_route_200k_characters_quickly():
    start = time.perf_counter()
    res = run_cli("route", "--json", input=HUGE)
    elapsed = time.perf_counter() - start
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert d["tier"] in ("cheap", "premium")  # the built-in tiers
    assert d["decision_us"] < 1_000_000 and d["est_cost_by_tier"]["premium"] > 0
    assert elapsed < 5.0  # process-free CLI call incl. tokenizing 200k chars; not a benchmark


def _windowed(base_url: str, window: int) -> str:
    text = config_toml(base_url, cache=False)
    return text.replace("output_per_mtok = ", f"context_window = {window}\noutput_per_mtok = ")


def test_prompt_over_context_window_fails_before_spending(loopback, tmp_path):
    cfg = tmp_path / "window.toml"
    cfg.write_text(_windowed(loopback.base_url, 16_000), encoding="utf-8")
    res = run_cli("ask", "--json", input=HUGE, config=cfg)
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert out["status"] == "error" and "context_window = 16000" in out["message"]
    assert "nothing was sent" in out["message"] and out["attempts"] == []
    assert loopback.bodies() == [] and ledger_rows() == []
    # A prompt that fits the same window is sent normally.
    ok = run_cli("ask", "--json", "a short question", config=cfg)
    assert ok.exit_code == 0 and len(loopback.bodies()) == 1


async def test_console_reports_context_window_and_keeps_the_prompt(loopback, tmp_path):
    cfg = tmp_path / "window.toml"
    cfg.write_text(_windowed(loopback.base_url, 2_000), encoding="utf-8")
    big = HUGE[:20_000]
    app = make_app(load_settings(cfg))
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, big)
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        [err] = [n for n in app.query(Notice) if n.has_class("-error")]
        assert "context_window = 2000" in str(err.render())
        assert app.query_one(PromptInput).text == big
    assert loopback.bodies() == []


# --- binary, invalid UTF-8 and malformed rows in input files ----------------------------------
def _bad_file(tmp_path, extra_fields: str = ""):
    lines = [
        json.dumps({"id": "a", "prompt": "What is the capital of France?"}) [:-1] + extra_fields + "}",
        b'{"id": "b", "prompt": "caf\xe9 au lait"}',  # latin-1, not UTF-8
        b'{"id": "c", "prompt": "nul\x00byte"}',
        b"\x89PNG\r\x1a\x00\x00\x00\rIHDR\xff\xd8",  # a binary blob (no newline in it)
        '{"id": "d", "prompt": "unterminated',
        '{"id": "e", "text": "no prompt field"}',
        "[1, 2, 3]",
        json.dumps({"id": "f", "prompt": "Prove that sqrt(2) is irrational."})[:-1]
        + extra_fields + "}",
    ]
    data = b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n"
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(data)
    return path


def _assert_bad_lines_reported(stderr: str, path) -> None:
    assert f"{path}:2: skipped: not valid UTF-8" in stderr
    assert f"{path}:3: skipped: contains NUL bytes" in stderr
    assert f"{path}:4: skipped:" in stderr  # binary: NUL and/or non-UTF-8
    assert f"{path}:5: skipped: malformed JSON" in stderr
    assert f"{path}:6: skipped: no string 'prompt' field" in stderr
    assert f"{path}:7: skipped: no string 'prompt' field" in stderr
    assert "Traceback" not in stderr


def test_audit_reports_bad_lines_and_routes_the_rest(tmp_path):
    path = _bad_file(tmp_path)
    res = run_cli("audit", "--json", str(path))
    assert res.exit_code == 0
    _assert_bad_lines_reported(res.stderr, path)
    assert [json.loads(x)["id"] for x in res.stdout.splitlines()] == ["a", "f"]
    text = run_cli("audit", str(path))
    assert "2 prompts routed" in text.stdout and "6 skipped" in text.stdout


def test_audit_skips_empty_prompts_with_their_line(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"id": "a", "prompt": "What is the capital of France?"},
        {"id": "b", "prompt": ""}, {"id": "c", "prompt": " \n\t "})) + "\n", encoding="utf-8")
    res = run_cli("audit", "--json", str(path))
    assert res.exit_code == 0
    assert f"{path}:2: skipped: empty 'prompt'" in res.stderr
    assert f"{path}:3: skipped: empty 'prompt'" in res.stderr
    assert [json.loads(x)["id"] for x in res.stdout.splitlines()] == ["a"]


def test_eval_reports_bad_lines_and_scores_the_rest(tmp_path):
    path = _bad_file(tmp_path, ', "cheap_score": 1, "premium_score": 1')
    with path.open("ab") as fh:
        fh.write(b'{"prompt": "labels missing"}\n')
    res = run_cli("eval", "--json", str(path))
    assert res.exit_code == 0, res.stderr
    _assert_bad_lines_reported(res.stderr, path)
    assert f"{path}:9: skipped: no numeric cheap_score/premium_score" in res.stderr
    assert "(n=2)" in run_cli("eval", str(path)).stdout


def test_compare_reports_bad_lines_and_runs_the_rest(tmp_path, loopback, loopback_config):
    path = _bad_file(tmp_path)
    res = run_cli("compare", str(path), "-y", config=loopback_config())
    assert res.exit_code == 0, res.stderr
    _assert_bad_lines_reported(res.stderr, path)
    assert "stored 2 of 2 pair(s)" in res.stdout
    sent = sorted(b["messages"][-1]["content"] for b in loopback.bodies())
    assert sent == sorted(["What is the capital of France?",
                           "Prove that sqrt(2) is irrational."] * 2)


def test_text_file_with_binary_lines(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_bytes(b"hello there\n\xff\xfe\xfd\nsummarise this\x00\nwrite a haiku\n")
    res = run_cli("audit", "--json", str(path))
    assert res.exit_code == 0
    assert f"{path}:2: skipped: not valid UTF-8" in res.stderr
    assert f"{path}:3: skipped: contains NUL bytes" in res.stderr
    assert [json.loads(x)["id"] for x in res.stdout.splitlines()] == ["1", "4"]


# --- emoji and right-to-left text ---------------------------------------------------------
def test_emoji_and_rtl_round_trip_route_ask_and_store(loopback, loopback_config):
    route = run_cli("route", "--json", EMOJI_RTL)
    assert route.exit_code == 0 and json.loads(route.stdout)["tier"]
    loopback.reply = "תשובה: مرحبا 🌍 done"
    res = run_cli("ask", "--json", EMOJI_RTL, config=loopback_config())
    assert res.exit_code == 0
    assert json.loads(res.stdout)["text"] == loopback.reply
    assert loopback.bodies()[-1]["messages"][-1]["content"] == EMOJI_RTL
    [row] = ledger_rows()
    assert row["prompt"] == EMOJI_RTL and row["answer"] == loopback.reply
    text = run_cli("ask", "--no-cache", EMOJI_RTL, config=loopback_config())
    assert text.stdout == loopback.reply + "\n"


async def test_emoji_and_rtl_in_the_console(loopback, loopback_settings):
    loopback.reply = "תשובה: مرحبا 🌍 done"
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, EMOJI_RTL)
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        [user] = app.query(UserMessage)
        assert EMOJI_RTL in user.shown
        [answer] = app.query(AnswerView)
        assert answer.text == loopback.reply
        assert history(app) == [{"role": "user", "content": EMOJI_RTL},
                                       {"role": "assistant", "content": loopback.reply}]
        assert "👋🏽" in app.export_screenshot()


# --- terminal escape sequences --------------------------------------------------------------
async def test_escape_sequences_are_inert_in_the_console(loopback, loopback_settings):
    loopback.reply = "answer " + EVIL
    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, EVIL)
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        await pilot.pause(0.2)  # the Markdown body's final update
        [user] = app.query(UserMessage)
        shown = user.shown
        assert "\u241b]52;c;" in shown and "\u241b[2J" in shown  # visible, not obeyed
        out = without_sgr(terminal_bytes(app))
        for raw in DANGEROUS:
            assert raw not in out, repr(raw)
        assert "\u241b]8;;http://evil.example/" in out
        assert history(app)[0]["content"] == EVIL  # the data itself is unchanged
        assert kept_answers(app)[-1].text == loopback.reply
        svg = app.export_screenshot()
        assert not any(raw in svg for raw in DANGEROUS)


async def test_pasted_escape_sequences_are_inert_in_the_prompt(loopback, loopback_settings):
    from textual import events

    app = make_app(loopback_settings())
    async with app.run_test(size=SIZE) as pilot:
        prompt = app.query_one(PromptInput)
        prompt.post_message(events.Paste("look: " + EVIL))
        await pilot.pause(0.1)
        assert prompt.text.startswith("look: ") and "\u241b[2J" in prompt.text
        assert not any(raw in prompt.text for raw in DANGEROUS)
        out = without_sgr(terminal_bytes(app, exclude_prompt=False))
        for raw in DANGEROUS:
            assert raw not in out, repr(raw)
        prompt.set_prompt("again \x1b]52;c;aGk=\x07")
        assert prompt.text == "again \u241b]52;c;aGk=\u2407"


async def test_resumed_history_with_markup_and_escapes_renders_as_text(loopback,
                                                                        loopback_settings):
    settings = loopback_settings()
    answer = "closing tag [/bold] and [b]not bold[/b] and [@click=app.quit]x[/] " + EVIL
    store = open_store(settings)
    sid = store.new_session("old")
    store.add_message(sid, "user", EVIL)
    store.add_message(sid, "assistant", answer)
    store.close()
    app = make_app(settings, session_id=sid)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        [restored] = app.query(AnswerView)
        await wait_for(pilot, lambda: restored.settled)
        assert "[/bold]" in restored.text and "[@click=app.quit]" in restored.text
        assert "\x1b" not in restored.text  # made inert before it reached the widget
        out = without_sgr(terminal_bytes(app))
        assert not any(raw in out for raw in DANGEROUS)
        assert app.is_running  # [@click=app.quit] did not become an action


async def test_error_message_with_escapes_is_inert(tmp_path):
    """A server whose error text carries escapes and markup: the console shows it once, inert,
    through the engine's own events (nothing here fabricates one)."""
    with ErrorServer(500, "server says " + EVIL + " [/x]") as srv:
        cfg = tmp_path / "hostile.toml"
        cfg.write_text(config_toml(srv.base_url, max_retries=0, cache=False), encoding="utf-8")
        app = make_app(load_settings(cfg))
        async with app.run_test(size=SIZE) as pilot:
            await send(pilot, "hello")
            await wait_for(pilot, lambda: len(app.session.conversation) == 1
                           and not app.running)
            [err] = [n for n in app.query(Notice) if n.has_class("-error")]
            assert "[/x]" in str(err.render()) and "\u241b[2J" in str(err.render())
            out = without_sgr(terminal_bytes(app))
            assert not any(raw in out for raw in DANGEROUS)


def test_cli_output_never_carries_raw_escapes(loopback, loopback_config):
    route = run_cli("route", EVIL)
    assert route.exit_code == 0 and not any(r in route.stdout for r in DANGEROUS)
    assert "evil.example" not in route.stdout  # route does not echo the prompt
    route_json = run_cli("route", "--json", EVIL)
    assert "\x1b" not in route_json.stdout
    loopback.reply = "answer " + EVIL
    res = run_cli("ask", EVIL, config=loopback_config())
    assert res.exit_code == 0
    assert not any(r in res.stdout + res.stderr for r in DANGEROUS)
    assert "\u241b]52;c;" in res.stdout
    exact = run_cli("ask", "--json", "--no-cache", EVIL, config=loopback_config())
    assert "\x1b" not in exact.stdout and json.loads(exact.stdout)["text"] == loopback.reply


def test_server_error_text_with_escapes_is_inert_in_cli_output(tmp_path):
    with ErrorServer(500, "upstream said " + EVIL) as srv:
        cfg = tmp_path / "hostile.toml"
        cfg.write_text(config_toml(srv.base_url, max_retries=0, cache=False), encoding="utf-8")
        ask = run_cli("ask", "hello there", config=cfg)
        prompts = tmp_path / "p.txt"
        prompts.write_text("hello there\n", encoding="utf-8")
        compare = run_cli("compare", str(prompts), "-y", config=cfg)
    assert ask.exit_code == 1 and "upstream said" in ask.stderr
    assert compare.exit_code == 1 and "upstream said" in compare.stderr
    for out in (ask.stdout, ask.stderr, compare.stdout, compare.stderr):
        assert not any(raw in out for raw in DANGEROUS), repr(out)
    # The ledger keeps the server's exact words (it is data, not terminal output).
    assert any(EVIL in (r["error_message"] or "") for r in ledger_rows())


# --- a config with every kind of mistake --------------------------------------------------------
EVERYTHING_WRONG = """
[providers.openai]
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
conect_timeout_s = 5

[[tiers]]
name = "cheap"
provider = "nope"
model = "gpt-4o-mini"
input_per_mtok = -1

[[tiers]]
name = "premium"
provider = "openai"
model = ""
max_output_tokens = "lots"

[router]
strategy = "magic"
thresholds = [0.9, 0.2]
task_min_tier = { code = "gold" }

[budget]
action = "explode"
session_usd = 0

[engine]
max_retries = 99
fallback_model = "platinum"

[cache]
ttl_s = "forever"

[mystery]
x = 1
"""


def test_config_with_every_mistake_reports_all_at_once(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(EVERYTHING_WRONG, encoding="utf-8")
    res = run_cli("config", "check", str(cfg))
    assert res.exit_code == 2
    out = res.stderr
    assert "Traceback" not in out
    for key in ("providers.openai.conect_timeout_s", "tiers.0.input_per_mtok", "tiers.1.model",
                "tiers.1.max_output_tokens", "router.strategy", "router.thresholds",
                "budget.action", "budget.session_usd", "engine.max_retries", "cache.ttl_s",
                "mystery"):
        assert key in out, key
    assert "did you mean 'connect_timeout_s'" in out
    assert out.count("Fix:") >= 11
    # Every other command reports the same problems the same way.
    for args in (["route", "hi"], ["ask", "hi"], ["report"]):
        other = run_cli("--config", str(cfg), *args)
        assert other.exit_code == 2 and "router.strategy" in other.stderr
        assert "Traceback" not in other.stderr


def test_config_cross_key_mistakes_reported_together(tmp_path):
    cfg = tmp_path / "cross.toml"
    cfg.write_text(EVERYTHING_WRONG.replace('strategy = "magic"\n', "")
                   .replace('thresholds = [0.9, 0.2]', "thresholds = [0.2, 0.5]")
                   .replace("max_retries = 99\n", "").replace('ttl_s = "forever"\n', "")
                   .replace('action = "explode"\nsession_usd = 0\n', "")
                   .replace("conect_timeout_s = 5\n", "").replace("input_per_mtok = -1\n", "")
                   .replace('model = ""\nmax_output_tokens = "lots"', 'model = "gpt-4o"')
                   .replace("[mystery]\nx = 1\n", ""), encoding="utf-8")
    res = run_cli("config", "check", str(cfg))
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    for key in ("tiers.0.provider", "router.thresholds", "router.task_min_tier",
                "engine.fallback_model"):
        assert key in res.stderr, (key, res.stderr)


@pytest.mark.parametrize("content,needle", [
    (b"[router]\nthresholds = [0.5\nstrategy = 'rules'\n", "line"),
    (b"[router]\nstrategy = \"r\xe9gles\"\n", "UTF-8"),
    (b"\x00\x01\x02binary", "TOML"),
])
def test_unparseable_config_is_one_clear_problem(tmp_path, content, needle):
    cfg = tmp_path / "broken.toml"
    cfg.write_bytes(content)
    res = run_cli("config", "check", str(cfg))
    assert res.exit_code == 2 and needle in res.stderr and "Traceback" not in res.stderr
