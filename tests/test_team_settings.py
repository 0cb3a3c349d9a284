"""[store] and [telemetry] settings: defaults, environment overrides, and mistakes explained
through `config check` without ever repeating a password."""

from __future__ import annotations

import pytest

from app.core.config.settings import Settings
from app.core.config.urls import redact_url, url_password
from tests.reliability.helpers import run_cli

SECRET = "hunter2-SENTINEL-9d8c7b"


def test_defaults_keep_sqlite_and_telemetry_off():
    s = Settings()
    assert s.store.url == "" and s.store.password_env == "ROUTEDECK_PG_PASSWORD"
    assert s.telemetry.enabled is False and s.telemetry.export_text is False


def test_environment_points_at_a_team_store(monkeypatch):
    monkeypatch.setenv("ROUTEDECK_STORE__URL", "postgresql://alice@db/team")
    monkeypatch.setenv("ROUTEDECK_TELEMETRY__OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("ROUTEDECK_PG_PASSWORD", SECRET)
    monkeypatch.setenv("MY_OTLP_HEADERS", "Authorization=Basic abc==, x-team = blue")
    s = Settings(telemetry={"headers_env": "MY_OTLP_HEADERS"})
    assert s.store.url == "postgresql://alice@db/team"
    assert s.store.password().get_secret_value() == SECRET
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())
    assert s.telemetry.enabled
    assert s.telemetry.headers() == {"Authorization": "Basic abc==", "x-team": "blue"}


@pytest.mark.parametrize("url, shown", [
    ("postgresql://alice:pw@db:5432/team", "postgresql://alice:***@db:5432/team"),
    ("postgresql://db/team?password=pw&sslmode=require",
     "postgresql://db/team?password=***&sslmode=require"),
    ("postgresql://alice@db/team", "postgresql://alice@db/team"),
])
def test_urls_are_shown_without_their_password(url, shown):
    assert redact_url(url) == shown
    assert (url_password(url) is not None) == ("pw" in url)


@pytest.mark.parametrize("section", [
    f'[store]\nurl = "postgresql://alice:{SECRET}@db/team"\n',
    f'[store]\nurl = "mysql://alice:{SECRET}@db/team"\n',
    f'[store]\npassword_env = "{SECRET}"\n',
    f'[telemetry]\notlp_endpoint = "http://u:{SECRET}@collector:4318"\n',
    f'[telemetry]\nheaders_env = "Authorization=Basic {SECRET}"\n',
])
def test_mistakes_are_explained_without_echoing_the_secret(tmp_path, section):
    cfg = tmp_path / "c.toml"
    cfg.write_text(section, encoding="utf-8")
    cfg.chmod(0o600)
    res = run_cli("config", "check", config=cfg)
    assert res.exit_code == 2, res.stdout
    key = section.split("\n")[1].split(" ")[0]
    assert key in res.stderr and "Fix:" in res.stderr
    assert SECRET not in res.stdout + res.stderr


def test_a_bad_endpoint_is_a_config_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[telemetry]\notlp_endpoint = "collector:4318"\n', encoding="utf-8")
    res = run_cli("config", "check", config=cfg)
    assert res.exit_code == 2 and "telemetry.otlp_endpoint" in res.stderr
    assert "http://collector:4318" in res.stderr  # the fix shows the expected form
