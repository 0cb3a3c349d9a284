"""Settings precedence (defaults < file < env < flags) and every kind of config mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.core.config.errors import ConfigError
from app.core.config.loader import load_settings
from app.core.routing import compiled

GOOD = """
[providers.openai]
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"

[providers.local]
base_url = "http://127.0.0.1:11434/v1"
api_key_env = ""

[[tiers]]
name = "local"
provider = "local"
model = "llama3.1:8b"
input_per_mtok = 0
output_per_mtok = 0

[[tiers]]
name = "cheap"
provider = "openai"
model = "gpt-4o-mini"

[[tiers]]
name = "premium"
provider = "openai"
model = "gpt-4o"

[router]
thresholds = [0.3, 0.6]
"""


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_defaults_without_any_file():
    s = load_settings()
    assert [t.name for t in s.tiers] == ["cheap", "premium"]
    assert s.router.thresholds == [0.2]
    assert s.providers["openai"].api_key_env == "OPENAI_API_KEY"
    assert not s.has_credentials()


def test_file_then_env_then_flag_precedence(tmp_path, monkeypatch):
    cfg = write(tmp_path, GOOD + "\n[ui]\ntheme = \"from-file\"\n")
    assert load_settings(cfg).ui.theme == "from-file"
    monkeypatch.setenv("ROUTEDECK_UI__THEME", "from-env")
    assert load_settings(cfg).ui.theme == "from-env"
    assert load_settings(cfg, {"ui": {"theme": "from-flag"}}).ui.theme == "from-flag"
    # Values the env does not set still come from the file.
    assert load_settings(cfg).router.thresholds == [0.3, 0.6]


def test_config_file_from_env_var(tmp_path, monkeypatch):
    cfg = write(tmp_path, GOOD)
    monkeypatch.setenv("ROUTEDECK_CONFIG", str(cfg))
    assert [t.name for t in load_settings().tiers] == ["local", "cheap", "premium"]


def test_user_config_dir_is_used_when_present(isolated_home):
    target = isolated_home / "config" / "config.toml"
    target.parent.mkdir(parents=True)
    target.write_text(GOOD)
    assert len(load_settings().tiers) == 3


def test_keyless_provider_is_usable_and_key_is_secret(tmp_path, monkeypatch):
    s = load_settings(write(tmp_path, GOOD))
    assert s.providers["local"].usable()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sentinel-123")
    key = s.providers["openai"].api_key()
    assert key is not None and "sk-sentinel" not in repr(key) and "sk-sentinel" not in str(key)


def problems_of(path: Path | str) -> list:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return info.value.problems


def test_unknown_key_suggests_the_right_one(tmp_path):
    (p,) = problems_of(write(tmp_path, "[router]\ntreshold = [0.5]\n"))
    assert p.key == "router.treshold"
    assert "unknown key" in p.message
    assert "thresholds" in p.fix


def test_unknown_key_in_a_named_provider(tmp_path):
    (p,) = problems_of(write(tmp_path, '[providers.openai]\ntimeout = 3\n'))
    assert p.key == "providers.openai.timeout"
    assert "total_timeout_s" in p.fix or "connect_timeout_s" in p.fix


def test_wrong_type_names_key_and_fix(tmp_path):
    (p,) = problems_of(write(tmp_path, '[cache]\nenabled = "yes please"\n'))
    assert p.key == "cache.enabled"
    assert "true or false" in p.fix


def test_tier_naming_missing_provider(tmp_path):
    text = GOOD.replace('provider = "local"', 'provider = "olama"')
    (p,) = problems_of(write(tmp_path, text))
    assert p.key == "tiers.0.provider"
    assert "olama" in p.message and "[providers." in p.fix


def test_thresholds_must_match_tier_count(tmp_path):
    (p,) = problems_of(write(tmp_path, GOOD.replace("[0.3, 0.6]", "[0.5]")))
    assert p.key == "router.thresholds"
    assert "3 tiers need 2" in p.message
    # It says what to write: the given threshold kept on top, a lower one under it.
    assert "thresholds = [0.25, 0.5]" in p.message and "under 0.25 goes to 'local'" in p.message
    (p,) = problems_of(write(tmp_path, GOOD.replace("[0.3, 0.6]", "[0.1, 0.3, 0.6]")))
    assert "thresholds = [0.3, 0.6]" in p.message


def test_thresholds_must_ascend(tmp_path):
    (p,) = problems_of(write(tmp_path, GOOD.replace("[0.3, 0.6]", "[0.6, 0.3]")))
    assert p.key == "router.thresholds" and "ascending" in p.message


def test_all_mistakes_reported_at_once(tmp_path):
    text = GOOD.replace('provider = "local"', 'provider = "nope"').replace(
        "[0.3, 0.6]", "[0.5]") + '\n[budget]\naction = "explode"\n'
    keys = {p.key for p in problems_of(write(tmp_path, text))}
    assert {"budget.action", "tiers.0.provider", "router.thresholds"} <= keys


def test_toml_syntax_error_names_the_line(tmp_path):
    (p,) = problems_of(write(tmp_path, '[router]\nthresholds = [0.5]\nstrategy = learned\n'))
    assert "line 3" in p.message


def test_missing_and_unreadable_files(tmp_path):
    (p,) = problems_of(tmp_path / "nope.toml")
    assert "does not exist" in p.message and "config init" in p.fix
    unreadable = write(tmp_path, GOOD)
    unreadable.chmod(0)
    if os.access(unreadable, os.R_OK):  # running as root: permissions do not bite
        unreadable.write_bytes(b"\xff\xfe[router]")
        (p,) = problems_of(unreadable)
        assert "UTF-8" in p.message
    else:
        (p,) = problems_of(unreadable)
        assert "cannot be read" in p.message


def test_bad_env_value_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEDECK_CACHE__TTL_S", "forever")
    (p,) = problems_of(write(tmp_path, GOOD))
    assert p.key == "cache.ttl_s"


@pytest.mark.parametrize("name, value, key", [
    ("ROUTEDECK_ROUTER__STRATEGY", "magic", "router.strategy"),
    ("routedeck_router__bogus", "1", "router.bogus"),
    ("ROUTEDECK_ROUTER__THRESHOLDS", "0.5", "router.thresholds"),
])
def test_a_bad_value_from_the_environment_names_the_variable(tmp_path, monkeypatch, name,
                                                              value, key):
    # The file has no such line: blaming it would send the user looking in the wrong place.
    monkeypatch.setenv(name, value)
    cfg = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    (p,) = info.value.problems
    assert p.key == key and p.variable == name
    text = info.value.render()
    assert "in the environment" in text.splitlines()[0] and str(cfg) not in text
    assert f"(from ${name})" in text and f"unset ${name}" in text
    if key == "router.thresholds":
        assert f"{name}='[0.5]'" in text


@pytest.mark.parametrize("name, value", [
    ("ROUTEDECK_ROUTER__THRESHOLDS", "0.5,0.7"), ("ROUTEDECK_ROUTER__ESCALATE_KEYWORDS", "foo,bar"),
    ("ROUTEDECK_TIERS", "x")])
def test_a_list_variable_that_is_not_json_is_named(tmp_path, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, GOOD))
    (p,) = info.value.problems
    assert p.key == f"${name}" and "not valid JSON" in p.message and "__..." not in p.render()


@pytest.mark.parametrize("name, hint", [
    ("ROUTEDECK_BUGDET__SESSION_USD", "ROUTEDECK_BUDGET__SESSION_USD"),
    ("ROUTEDECK_BUDGET_SESSION_USD", "ROUTEDECK_BUDGET__SESSION_USD"),
    ("ROUTEDECK_NOSUCH__KEY", "rename or unset it")])
def test_a_variable_that_sets_nothing_is_an_error(tmp_path, monkeypatch, name, hint):
    # pydantic-settings ignores it: a typo would leave the cap silently unset.
    monkeypatch.setenv(name, "0.01")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, GOOD))
    (p,) = info.value.problems
    assert p.key == f"${name}" and "not a setting" in p.message and hint in p.fix


def test_variables_a_setting_names_are_not_stray(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEDECK_OPENAI_KEY", "sk-test-not-a-setting")
    monkeypatch.setenv("ROUTEDECK_PG_PASSWORD", "pw")
    # The compiled build's switches (README, Development) are not settings either.
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    monkeypatch.setenv("ROUTEDECK_NO_COMPILE", "1")
    cfg = write(tmp_path, GOOD.replace('api_key_env = "OPENAI_API_KEY"',
                                       'api_key_env = "ROUTEDECK_OPENAI_KEY"'))
    assert load_settings(cfg).providers["openai"].api_key_env == "ROUTEDECK_OPENAI_KEY"


def test_theme_and_keymap_from_the_environment_name_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEDECK_UI__THEME", "nope")
    monkeypatch.setenv("ROUTEDECK_KEYMAP__ESCALATE", "ctrl+t")
    res = CliRunner().invoke(cli, ["config", "check", str(write(tmp_path, GOOD))])
    assert res.exit_code == 2
    assert "in the environment" in res.output.splitlines()[0]
    assert "ui.theme (from $ROUTEDECK_UI__THEME)" in res.output
    assert "keymap.escalate (from $ROUTEDECK_KEYMAP__ESCALATE)" in res.output


def test_config_fixes_say_what_to_write(tmp_path):
    bad = write(tmp_path, GOOD.replace("[0.3, 0.6]", "[0.6, 0.3]")
                + '\n[router.task_min_tier]\nbogus = "premium"\n')
    text = "\n".join(p.render() for p in problems_of(bad))
    assert "thresholds = [0.3, 0.6]" in text
    assert "router.task_min_tier.bogus: unknown task type" in text
    assert "use one of the task types listed" in text
    bad = write(tmp_path, GOOD.replace('provider = "local"', 'provider = "nosuch"', 1))
    text = "\n".join(p.render() for p in problems_of(bad))
    assert "tiers.0.provider (the first [[tiers]])" in text


@pytest.mark.parametrize("args", [["config", "check"], ["route", "hi"], ["audit", "x.txt"]])
def test_cli_config_errors_exit_2_without_traceback(tmp_path, args):
    bad = write(tmp_path, "[router]\ntreshold = 1\n")
    (tmp_path / "x.txt").write_text("hello\n")
    args = [str(tmp_path / a) if a == "x.txt" else a for a in args]
    result = CliRunner().invoke(cli, ["--config", str(bad), *args])
    assert result.exit_code == 2
    assert "router.treshold" in result.output
    assert "Traceback" not in result.output


def test_config_check_ok_and_path_and_init(isolated_home, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["config", "check", str(write(tmp_path, GOOD))])
    assert ok.exit_code == 0, ok.output
    assert "tier local" in ok.output and "no key needed" in ok.output
    where = runner.invoke(cli, ["config", "path"])
    assert str(isolated_home / "config" / "config.toml") in where.output
    first = runner.invoke(cli, ["config", "init"])
    target = isolated_home / "config" / "config.toml"
    assert first.exit_code == 0 and target.exists()
    target.write_text(GOOD)
    again = runner.invoke(cli, ["config", "init"])
    assert "left unchanged" in again.output and target.read_text() == GOOD


def test_config_init_writes_the_file_check_points_at(isolated_home, tmp_path, monkeypatch):
    runner = CliRunner()
    named = tmp_path / "team.toml"
    missing = runner.invoke(cli, ["--config", str(named), "config", "check"])
    assert missing.exit_code == 2 and "config init" in missing.output
    made = runner.invoke(cli, ["--config", str(named), "config", "init"])
    assert made.exit_code == 0 and named.exists(), made.output
    assert f"routedeck --config {named} config check" in made.output
    assert not (isolated_home / "config" / "config.toml").exists()
    assert runner.invoke(cli, ["--config", str(named), "config", "check"]).exit_code == 0
    from_env = tmp_path / "env.toml"
    monkeypatch.setenv("ROUTEDECK_CONFIG", str(from_env))
    assert runner.invoke(cli, ["config", "init"]).exit_code == 0 and from_env.exists()


@pytest.mark.parametrize("flags", [["--tier", "premium"], ["--session", "99"],
                                   ["--tier", "cheap", "--session", "3"]])
@pytest.mark.parametrize("command", [["route", "hi"], ["report"], ["ask", "hi"]])
def test_console_flags_before_a_subcommand_are_refused(isolated_home, flags, command):
    result = CliRunner().invoke(cli, [*flags, *command])
    assert result.exit_code == 2
    assert "for the console" in result.output and command[0] in result.output
    assert "Traceback" not in result.output


def test_example_config_is_valid_and_documents_every_key():
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    s = load_settings(example)
    assert [t.model for t in s.tiers] == ["gpt-4o-mini", "gpt-4o"]
    text = example.read_text()
    for section in ("router", "budget", "engine", "cascade", "cache", "ui", "privacy"):
        for key in type(getattr(s, section)).model_fields:
            documented = f"{key} =" in text or f"[{section}.{key}]" in text
            assert documented, f"{section}.{key} undocumented"


def test_literal_key_in_world_readable_config_warns(tmp_path):
    cfg = write(tmp_path, GOOD + '\n# api_key = "sk-live-abcdef"\n')
    cfg.chmod(0o644)
    result = CliRunner().invoke(cli, ["config", "check", str(cfg)])
    assert "chmod 600" in result.output


def test_config_check_probe_reaches_each_tier(loopback, loopback_config, tmp_path):
    from tests.loopback_server import Fault

    loopback.known_models = {"cheap-model", "mid-model"}
    cfg = loopback_config()
    res = CliRunner().invoke(cli, ["config", "check", str(cfg), "--probe"])
    assert res.exit_code == 0, res.output
    assert "probe cheap     reachable; the server lists it" in res.output
    assert "does not list 'premium-model'" in res.output
    assert res.output.startswith("Valid: ")
    assert res.output.rstrip().splitlines()[-1] == "OK: 3 of 3 tier(s) reachable"
    assert any(r.path.rstrip("/").endswith("/models") for r in loopback.requests)
    assert loopback.bodies() == []  # nothing generated, nothing spent
    # A server that refuses the key, and one that is not there at all.
    loopback.fail_always(Fault.http(401))
    refused = CliRunner().invoke(cli, ["config", "check", str(cfg), "--probe"])
    assert refused.exit_code == 1 and "FAILED" in refused.output and "HTTP 401" in refused.output
    gone = tmp_path / "gone.toml"
    gone.write_text(cfg.read_text().replace(loopback.base_url, "http://127.0.0.1:9/v1"))
    down = CliRunner().invoke(cli, ["config", "check", str(gone), "--probe"])
    assert down.exit_code == 1 and "cannot reach http://127.0.0.1:9/v1" in down.output
    assert down.output.rstrip().splitlines()[-1].startswith("FAILED: 3 of 3 tier(s)")
    # Nothing could be asked (no key): not a pass.
    keyless = tmp_path / "nokey.toml"
    keyless.write_text(cfg.read_text().replace('api_key_env = "', 'api_key_env = "UNSET_'))
    unasked = CliRunner().invoke(cli, ["config", "check", str(keyless), "--probe"])
    assert unasked.exit_code == 1, unasked.output
    assert unasked.output.rstrip().splitlines()[-1].startswith("NOT PROBED: no tier has")
    assert "Traceback" not in refused.output + down.output


def test_config_check_probe_never_shows_the_key(loopback, loopback_config, monkeypatch):
    from tests.loopback_server import Fault

    sentinel = "sk-probe-SENTINEL-0123456789abcdef"
    monkeypatch.setenv("MY_ENV", sentinel)
    cfg = loopback_config(key_env="MY_ENV")
    loopback.fail_always(Fault.http(401))
    res = CliRunner().invoke(cli, ["config", "check", str(cfg), "--probe"])
    assert res.exit_code == 1 and "check the key in the environment variable MY_ENV" in res.output
    assert sentinel not in res.output
    sent = [r for r in loopback.requests if r.path.rstrip("/").endswith("/models")]
    assert sent and sent[0].headers.get("authorization") == f"Bearer {sentinel}"


def test_config_check_refuses_a_keymap_the_console_could_not_apply(tmp_path):
    # An unknown binding id, a key no terminal sends and two actions on one key: the console
    # would start with a toast and a lost binding (pin_tier had no key left), so the check
    # fails and names each line with its fix.
    bad = write(tmp_path, GOOD + '\n[ui]\nnewline_key = "ctrl+zz"\n'
                '[keymap]\nescalate = "ctrl+t"\nfoo = "f9"\nhelp = "F1"\n')
    res = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert res.exit_code == 2, res.output
    out = res.output
    assert "ui.newline_key: 'ctrl+zz': 'zz' is not a key name" in out
    assert "keymap.foo: no such binding" in out
    assert "keymap.escalate: 'ctrl+t' is also the key of pin_tier" in out
    assert "keymap.help: 'F1': key names are written in lower case ('f1')" in out
    palette = write(tmp_path, GOOD + '\n[keymap]\nhelp = "ctrl+p"\n', name="palette.toml")
    taken = CliRunner().invoke(cli, ["config", "check", str(palette)])
    assert taken.exit_code == 2
    assert "keymap.help: 'ctrl+p' is also the key of the command palette" in taken.output
    good = write(tmp_path, GOOD + '\n[keymap]\npin_tier = "ctrl+y"\nescalate = "ctrl+t"\n'
                 'quit = "ctrl+x, f10"\nhelp = "?"\n', name="good.toml")
    ok = CliRunner().invoke(cli, ["config", "check", str(good)])
    assert ok.exit_code == 0, ok.output


def test_config_check_warns_about_a_tier_without_a_price(tmp_path):
    cfg = write(tmp_path, GOOD.replace('model = "gpt-4o-mini"', 'model = "house-model-7"'))
    res = CliRunner().invoke(cli, ["config", "check", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "warning: tier cheap: no price known for 'house-model-7'" in res.stderr
    assert "tier local" not in res.stderr and "tier premium" not in res.stderr  # priced


def test_a_value_out_of_range_is_told_the_bound(tmp_path):
    (p,) = problems_of(write(tmp_path, GOOD.replace("[0.3, 0.6]", "[0.3, 0.6]\nlow_confidence_margin = -1")))
    assert p.key == "router.low_confidence_margin" and p.fix == "use a value >= 0"
