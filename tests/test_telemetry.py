"""OpenTelemetry export: every attempt becomes a GenAI span (and metrics) that a real OTLP/HTTP
receiver decodes; text only on opt-in; a collector that is down or hangs costs a turn nothing
and gives exactly one notice, on stderr for the CLI and as a string for the console; with
telemetry off, the SDK is never imported."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from contextlib import aclosing
from pathlib import Path

import pytest

from app.core.calling.engine import Engine
from app.core.calling.events import TurnFinished
from app.core.config.loader import load_settings
from app.core.config.settings import Settings
from app.core.ledger.records import AttemptRecord
from app.core.telemetry import instrument, shutdown
from app.core.telemetry.attributes import attempt_attributes
from app.core.telemetry.pipeline import endpoint_for
from tests.fakes import ListRecorder, ledger_rows
from tests.loopback_server import Fault, config_toml
from tests.otlp_receiver import BlackHole, OTLPReceiver
from tests.reliability.helpers import closed_port, run_cli

REPO = Path(__file__).resolve().parents[1]
PROMPT = "hello there"


def telemetry_toml(endpoint: str, **kw) -> str:
    lines = [f'otlp_endpoint = "{endpoint}"', "batch_delay_s = 0.05",
             "metrics_interval_s = 1"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in kw.items()]
    return "\n[telemetry]\n" + "\n".join(lines) + "\n"


@pytest.fixture
def receiver():
    with OTLPReceiver() as rx:
        yield rx


@pytest.fixture
def config(loopback, tmp_path):
    """config(endpoint, **telemetry keys) -> path of a loopback config with [telemetry]."""
    def make(endpoint: str | None, engine: dict | None = None, **kw) -> Path:
        path = tmp_path / f"tel-{time.monotonic_ns()}.toml"
        extra = telemetry_toml(endpoint, **kw) if endpoint else ""
        path.write_text(config_toml(loopback.base_url, cache=False, extra=extra,
                                    **(engine or {})), encoding="utf-8")
        return path
    return make


def test_attributes_follow_the_genai_conventions_and_keep_text_out():
    rec = AttemptRecord(turn_id="a" * 32, attempt=2, session_id=4, tier="cheap",
                        model="gpt-4o-mini", provider="openai", status="error",
                        started_at=100.0, prompt="secret prompt", answer="secret answer",
                        score=0.31, rule="threshold", reason="keyword 'secret'",
                        fallback_from="mid", error_kind="rate_limit", input_tokens=10,
                        output_tokens=0, cost_usd=0.0, premium_cost_usd=0.002)
    attrs = attempt_attributes(rec, Settings())
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.response.model" not in attrs  # nothing answered
    assert attrs["error.type"] == "rate_limit"
    assert (attrs["server.address"], attrs["server.port"]) == ("api.openai.com", 443)
    assert attrs["routedeck.fallback"] is True and attrs["routedeck.fallback_from"] == "mid"
    assert attrs["routedeck.turn.final"] is False  # an error may be retried
    assert attrs["gen_ai.conversation.id"] == "4"
    assert "secret" not in json.dumps(attrs)  # neither text nor the reason that quotes it

    opted = Settings(telemetry={"otlp_endpoint": "http://c:4318", "export_text": True,
                                "text_max_chars": 6})
    attrs = attempt_attributes(rec, opted)
    (msg,) = json.loads(attrs["gen_ai.input.messages"])
    assert msg["role"] == "user" and msg["parts"][0]["content"] == "secret…"
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"][0]["content"] == "secret…"


@pytest.mark.parametrize("named, expected", [("cheap-model-2024-08-06", "cheap-model-2024-08-06"),
                                              ("", None)])
def test_response_model_is_what_the_server_said_answered(receiver, config, loopback, named,
                                                         expected):
    # A dated snapshot (or a router's pick) is the answering model; a server that names none
    # leaves the attribute out rather than repeat the request's model as if reported.
    loopback.control.answered_by = {"cheap-model": named}
    res = run_cli("ask", "--json", PROMPT, config=config(receiver.endpoint))
    assert res.exit_code == 0, res.stderr
    (row,) = ledger_rows()
    (span,) = receiver.wait_for_spans(1)
    a = span["attributes"]
    assert a["gen_ai.request.model"] == "cheap-model"
    assert a.get("gen_ai.response.model") == expected
    assert row["extra"].get("response_model") == expected


def test_endpoints_for_each_signal():
    assert endpoint_for("http://collector:4318", "traces") == "http://collector:4318/v1/traces"
    assert endpoint_for("http://c:4318/", "metrics") == "http://c:4318/v1/metrics"
    assert endpoint_for("https://x/otlp/v1/traces", "metrics") == "https://x/otlp/v1/metrics"


def test_each_attempt_is_a_span_with_its_own_times(receiver, config, loopback):
    res = run_cli("ask", "--json", PROMPT, config=config(receiver.endpoint))
    assert res.exit_code == 0, res.stderr
    assert "warning" not in res.stderr
    (row,) = ledger_rows()
    (span,) = receiver.wait_for_spans(1)
    assert span["name"] == "chat cheap-model" and span["kind"] == "CLIENT"
    assert span["trace_id"] == row["turn_id"] and span["parent_span_id"] == ""
    assert span["start_ns"] == pytest.approx(row["started_at"] * 1e9, abs=2_000)
    assert (span["end_ns"] - span["start_ns"]) / 1e9 == pytest.approx(row["latency_s"],
                                                                      abs=1e-5)
    a = span["attributes"]
    assert {k: a[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name",
                              "gen_ai.request.model", "gen_ai.response.model")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "loop",
        "gen_ai.request.model": "cheap-model", "gen_ai.response.model": "cheap-model"}
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == \
        (row["input_tokens"], row["output_tokens"])
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["routedeck.tier"] == "cheap" and a["routedeck.routing.rule"] == row["rule"]
    assert a["routedeck.routing.score"] == pytest.approx(row["score"])
    assert a["routedeck.cost_usd"] == pytest.approx(row["cost_usd"])
    assert a["routedeck.premium_cost_usd"] == pytest.approx(row["premium_cost_usd"])
    assert a["routedeck.saved_usd"] == pytest.approx(row["premium_cost_usd"] - row["cost_usd"])
    assert a["routedeck.turn.saved_usd"] == pytest.approx(a["routedeck.saved_usd"])
    assert a["routedeck.cache_hit"] is False and a["routedeck.fallback"] is False
    assert a["routedeck.turn.id"] == row["turn_id"] and "error.type" not in a
    assert span["resource"]["service.name"] == "routedeck"
    assert span["resource"]["host.name"] == row["host_name"]
    # Default: no prompt or answer text leaves the machine.
    body = b"".join(receiver.raw)
    assert PROMPT.encode() not in body and loopback.reply.encode() not in body
    assert "gen_ai.input.messages" not in a
    # Metrics, read once more when the command closed.
    cost = receiver.metrics["routedeck.cost"]
    assert sum(p["value"] for p in cost) == pytest.approx(row["cost_usd"])
    saved = receiver.metrics["routedeck.saved"]
    assert sum(p["value"] for p in saved) == pytest.approx(a["routedeck.turn.saved_usd"])
    tokens = {p["attributes"]["gen_ai.token.type"]: p["value"]
              for p in receiver.metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": row["input_tokens"], "output": row["output_tokens"]}
    assert receiver.metrics["gen_ai.client.operation.duration"][0]["unit"] == "s"


def test_a_fallback_turn_is_one_trace_with_the_failed_attempt_marked(receiver, config,
                                                                      loopback):
    loopback.fail_next(Fault.http(500), model="cheap-model")
    res = run_cli("ask", "--json", PROMPT,
                  config=config(receiver.endpoint, engine={"max_retries": 0}))
    assert res.exit_code == 0, res.stderr
    failed, answered = receiver.wait_for_spans(2)
    assert failed["trace_id"] == answered["trace_id"] == ledger_rows()[0]["turn_id"]
    assert failed["name"] == "chat cheap-model" and answered["name"] == "chat mid-model"
    assert failed["attributes"]["error.type"] == "server"
    assert failed["status_code"] == 2  # STATUS_CODE_ERROR
    assert failed["attributes"]["routedeck.turn.final"] is False
    a = answered["attributes"]
    assert a["routedeck.fallback"] is True and a["routedeck.fallback_from"] == "cheap"
    assert a["routedeck.attempt"] == 2 and a["routedeck.turn.final"] is True
    assert answered["start_ns"] >= failed["end_ns"] - 1_000


def test_text_is_exported_only_on_opt_in_and_capped(receiver, config, loopback):
    loopback.reply = "a rather long answer " * 20
    res = run_cli("ask", "--json", PROMPT,
                  config=config(receiver.endpoint, export_text=True, text_max_chars=12))
    assert res.exit_code == 0, res.stderr
    (span,) = receiver.wait_for_spans(1)
    (out,) = json.loads(span["attributes"]["gen_ai.output.messages"])
    assert out["parts"][0]["content"] == "a rather lon…"
    assert json.loads(span["attributes"]["gen_ai.input.messages"])[0]["parts"][0][
        "content"] == PROMPT


async def _timed_turns(settings, recorder, n: int) -> list[float]:
    engine = Engine(settings, recorder=recorder)
    times = []
    try:
        for i in range(n):
            start = time.perf_counter()
            async with aclosing(engine.run_turn(f"{PROMPT} {i}", [])) as events:
                fin = [ev async for ev in events][-1]
            times.append(time.perf_counter() - start)
            assert isinstance(fin, TurnFinished) and fin.status == "ok"
    finally:
        await engine.aclose()
    return times


@pytest.mark.parametrize("collector", ["refused", "hangs"])
async def test_a_dead_collector_does_not_slow_a_turn_and_says_so_once(collector, config):
    with BlackHole() as hole:
        endpoint = hole.endpoint if collector == "hangs" else \
            f"http://127.0.0.1:{closed_port()}"
        plain = load_settings(config(None))
        with_tel = load_settings(config(endpoint))
        await _timed_turns(plain, ListRecorder(), 2)  # warm the SDK client and tokenizer
        base = await _timed_turns(plain, ListRecorder(), 7)
        notices: list[str] = []
        inner = ListRecorder()
        recorder = instrument(inner, with_tel, on_notice=notices.append)
        down = await _timed_turns(with_tel, recorder, 7)
        await asyncio.sleep(0.3)  # the exporter thread has tried by now (batch delay 0.05 s)
        down += await _timed_turns(with_tel, recorder, 3)
        start = time.perf_counter()
        notice = shutdown(recorder)
        closing = time.perf_counter() - start
    assert len(inner.rows) == 10  # every attempt still reached the ledger
    b, d = statistics.median(base), statistics.median(down)
    print(f"\ncollector {collector}: turn median {b * 1000:.1f} ms without telemetry, "
          f"{d * 1000:.1f} ms with it ({d / b:.2f}x); close {closing:.2f} s")
    # Generous bounds for a loaded 2-core machine: a turn that waited on the collector
    # would take its timeout (3 s) or the SDK's backoff (1 s).
    assert d < b * 1.5 + 0.05 and max(down) < 0.9
    assert closing < 2.0
    assert notices == [notice] and "did not take the data" in notice


def test_cli_gives_one_notice_on_stderr(config):
    res = run_cli("ask", PROMPT, config=config(f"http://127.0.0.1:{closed_port()}"))
    assert res.exit_code == 0 and res.stdout.strip()
    assert res.stderr.count("OpenTelemetry collector") == 1, res.stderr
    assert len(ledger_rows()) == 1


async def test_console_services_keep_the_notice_and_print_nothing(config, capfd):
    from app.core.conversation.services import Services

    services = Services(load_settings(config(f"http://127.0.0.1:{closed_port()}")))
    engine = services.engine(None)
    async with aclosing(engine.run_turn(PROMPT, [])) as events:
        assert [ev async for ev in events][-1].status == "ok"
    await services.aclose()
    out, err = capfd.readouterr()
    assert "collector" not in out + err  # the console's screen is never written to
    assert "OpenTelemetry collector" in (services.telemetry_notice or "")


def test_collector_errors_are_one_notice_too(config):
    with OTLPReceiver(status=503) as rx:
        res = run_cli("ask", PROMPT, config=config(rx.endpoint))
    assert res.exit_code == 0
    assert res.stderr.count("OpenTelemetry collector") == 1
    assert rx.requests  # it was tried


def test_without_telemetry_or_postgres_neither_sdk_is_imported(tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from app.cli import cli\n"
        "r = CliRunner().invoke(cli, ['route', 'hi'])\n"
        "assert r.exit_code == 0, r.output\n"
        "from app.core.config.settings import Settings\n"
        "from app.core.conversation.services import Services\n"
        "s = Services(Settings())\n"
        "s.engine(None)\n"
        "s.close()\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules\n"
        "                if m.startswith(('opentelemetry', 'psycopg', 'google.protobuf'))})\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env={"ROUTEDECK_HOME": str(tmp_path),
                                                     "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
