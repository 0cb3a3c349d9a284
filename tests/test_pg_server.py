"""The PostgreSQL test server's own contract: without server binaries the PostgreSQL tests
fail with the fix in the message (they are never skipped)."""

from __future__ import annotations

import pytest

import tests.pg_server as pg


def test_missing_binaries_fail_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("ROUTEDECK_TEST_PG_BINDIR", str(tmp_path))  # holds no pg_ctl
    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    with pytest.raises(pg.PgMissing) as err:
        pg.find_bindir()
    assert "apt-get install -y postgresql" in str(err.value)
    assert "never" in str(err.value) and "skip" in str(err.value)


def test_the_installed_server_is_found_and_serves(pg_server):
    assert (pg_server.bindir / "pg_ctl").is_file()
    with pg_server.admin() as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        method = conn.execute("SELECT setting FROM pg_settings WHERE name = "
                              "'password_encryption'").fetchone()[0]
    assert int(version) >= 140000 and method == "scram-sha-256"
