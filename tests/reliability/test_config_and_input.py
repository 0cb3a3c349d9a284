"""Config that would fail later, and input that is too big, too deep or endless.

* ``config check`` (and every command that loads the config) rejects what would break a
  call afterwards: a ``base_url`` with a bad port or without scheme or host, ``inf``/``nan``
  anywhere (prices, timeouts, backoff), waits that would never end; a ``ROUTEDECK_*``
  variable holding malformed JSON names the variable and the fix.
* Prompt files are read with a bound: a deeply nested JSON row is one bad row, and
  ``/dev/zero`` or a 1 GB sparse file with no newline is reported with its line number while
  memory stays flat (measured on a real process).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.loopback_server import config_toml
from tests.reliability.disks import measured
from tests.reliability.helpers import run_cli

pytestmark = pytest.mark.reliability

BASE = """
[providers.loop]
base_url = "{url}"
api_key_env = ""
{provider}

[[tiers]]
name = "cheap"
provider = "loop"
model = "m1"
{tier}

[[tiers]]
name = "premium"
provider = "loop"
model = "m2"

{rest}
"""


def cfg_file(tmp_path: Path, url: str = "http://127.0.0.1:9/v1", provider: str = "",
             tier: str = "", rest: str = "") -> Path:
    path = tmp_path / "check.toml"
    path.write_text(BASE.format(url=url, provider=provider, tier=tier, rest=rest),
                    encoding="utf-8")
    return path


BAD_URLS = {
    "port-out-of-range": "http://127.0.0.1:99999/v1",
    "port-not-a-number": "http://localhost:abc/v1",
    "no-scheme": "localhost:8080/v1",
    "no-host": "http:///v1",
    "path-only": "/v1",
    "other-scheme": "ftp://host/v1",
    "password-and-bad-port": "https://user:pw-SECRET@host:70000/v1",
}


@pytest.mark.parametrize("name", sorted(BAD_URLS))
def test_config_check_rejects_a_base_url_that_cannot_work(name, tmp_path):
    path = cfg_file(tmp_path, url=BAD_URLS[name])
    for args in (["config", "check"], ["ask", "hi"], ["route", "hi"]):
        res = run_cli(*args, config=path)
        assert res.exit_code == 2, (args, res.stdout)
        assert "providers.loop.base_url" in res.stderr and "Traceback" not in res.stderr
        assert "pw-SECRET" not in res.stderr + res.stdout  # never echoed


NON_FINITE = {
    "price-inf": ("", "input_per_mtok = inf", ""),
    "price-nan": ("", "output_per_mtok = nan", ""),
    "total-timeout-inf": ("total_timeout_s = inf", "", ""),
    "first-token-nan": ("first_token_timeout_s = nan", "", ""),
    "backoff-inf": ("", "", "[engine]\nbackoff_s = inf"),
    "retry-after-inf": ("", "", "[engine]\nretry_after_max_s = inf"),
    "backoff-huge": ("", "", "[engine]\nbackoff_s = 1e300"),
    "cache-ttl-nan": ("", "", "[cache]\nttl_s = nan"),
    "budget-inf": ("", "", "[budget]\nsession_usd = inf"),
    "extra-body-nan": ("", "extra_body = {seed = nan}", ""),
    "busy-timeout-inf": ("", "", "[store]\nbusy_timeout_s = inf"),
}


@pytest.mark.parametrize("name", sorted(NON_FINITE))
def test_config_check_rejects_numbers_that_break_later(name, tmp_path):
    provider, tier, rest = NON_FINITE[name]
    path = cfg_file(tmp_path, provider=provider, tier=tier, rest=rest)
    res = run_cli("config", "check", path.as_posix())
    assert res.exit_code == 2, res.stdout
    assert "Traceback" not in res.stderr and "Fix:" in res.stderr
    assert not res.stdout.startswith("OK")


@pytest.mark.parametrize("price", ["inf", "1e308", "99999.0"])
def test_ask_json_is_valid_json_or_the_config_is_refused(price, loopback, tmp_path):
    """A price that would print `NaN`/`Infinity` in `ask --json` is refused up front; any
    price the config accepts prints JSON a strict parser reads."""
    path = tmp_path / "big.toml"
    path.write_text(config_toml(loopback.base_url, cache=False).replace(
        "input_per_mtok = 0.15", f"input_per_mtok = {price}"), encoding="utf-8")
    res = run_cli("ask", "--json", "hello there", config=path)
    if res.exit_code == 2:
        assert "tiers.0.input_per_mtok" in res.stderr and res.stdout == ""
        return
    out = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    assert out["status"] == "ok"


@pytest.mark.parametrize("value", ["[0.2,", "{", "[0.2, nope]"])
def test_malformed_json_in_an_env_variable_names_it(value, monkeypatch, tmp_path):
    monkeypatch.setenv("ROUTEDECK_ROUTER__THRESHOLDS", value)
    for args in (["config", "check"], ["route", "hi"], ["report"]):
        res = run_cli(*args)
        assert res.exit_code == 2, res.stdout
        assert "Traceback" not in res.stderr
        assert "ROUTEDECK_ROUTER__THRESHOLDS" in res.stderr
        assert "Fix:" in res.stderr and "[0.2]" in res.stderr


def test_malformed_json_in_a_whole_section_variable(monkeypatch):
    monkeypatch.setenv("ROUTEDECK_PROVIDERS", '{"loop": {"base_url": ')
    res = run_cli("config", "check")
    assert res.exit_code == 2 and "ROUTEDECK_PROVIDERS" in res.stderr


def test_a_config_that_is_an_endless_file_is_a_message():
    res = run_cli("config", "check", "/dev/zero")
    assert res.exit_code == 2 and "larger than" in res.stderr


# --- prompt files --------------------------------------------------------------------------
def test_deeply_nested_json_row_is_one_bad_row(tmp_path):
    rows = tmp_path / "deep.jsonl"
    deep = '{"prompt": "ok", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    rows.write_text('{"prompt": "first"}\n' + deep + '\n{"prompt": "third"}\n'
                    + '{"prompt": "big", "n": 1' + "0" * 5000 + "}\n", encoding="utf-8")
    res = run_cli("audit", "--json", str(rows))
    assert res.exit_code == 0 and "Traceback" not in res.stderr
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()] == ["1", "3"]
    assert f"{rows}:2: skipped: JSON nested too deeply" in res.stderr
    assert f"{rows}:4: skipped: malformed JSON" in res.stderr


def test_over_long_line_is_skipped_and_the_rest_read(tmp_path):
    rows = tmp_path / "long.txt"
    rows.write_bytes(b"first prompt\n" + b"x" * (3 << 20) + b"\nthird prompt\n")
    res = run_cli("audit", "--json", str(rows))
    assert res.exit_code == 0
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()] == ["1", "3"]
    assert f"{rows}:2: skipped: line longer than 1024 KiB" in res.stderr


ENDLESS_MB = 200  # what a bounded reader may use at most, the interpreter included


@pytest.fixture
def sparse_gigabyte(tmp_path) -> Path:
    path = tmp_path / "sparse.txt"
    with open(path, "wb") as fh:
        fh.truncate(1 << 30)  # one line of a gigabyte of NULs, with no newline
    return path


@pytest.mark.parametrize("source", ["dev-zero", "sparse-1g"])
def test_endless_or_huge_files_are_read_with_a_bound(source, sparse_gigabyte, tmp_path):
    path = "/dev/zero" if source == "dev-zero" else str(sparse_gigabyte)
    home = tmp_path / "home"
    audit = measured(["audit", path], home, timeout=60)
    # Not one prompt could be read: a failure that says so, not a clean run of zero.
    assert audit.code == 1 and "Traceback" not in audit.stderr, audit.stderr
    assert f"{path}:1: skipped: " in audit.stderr and "nothing was routed" in audit.stderr
    assert audit.peak_mb < ENDLESS_MB, f"audit {source}: {audit.peak_mb:.0f} MB"
    play = measured(["--play", path], home, timeout=60, env={"TERM": "dumb"})
    assert play.code == 2 and "no prompts found" in play.stderr
    assert f"{Path(path).name}:1: skipped: " in play.stderr
    assert "Traceback" not in play.stderr
    assert play.peak_mb < ENDLESS_MB, f"--play {source}: {play.peak_mb:.0f} MB"


def test_ask_reads_stdin_with_a_bound(tmp_path):
    with open("/dev/zero", "rb") as zero:
        import subprocess
        import sys

        proc = subprocess.run([sys.executable, "-m", "app", "ask"], stdin=zero,
                              capture_output=True, timeout=60,
                              cwd=Path(__file__).resolve().parents[2],
                              env={**os.environ, "ROUTEDECK_HOME": str(tmp_path)})
    assert proc.returncode == 2 and b"larger than" in proc.stderr
    assert b"Traceback" not in proc.stderr
