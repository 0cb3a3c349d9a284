"""Turn config mistakes into messages that name the key and say how to fix it."""

from __future__ import annotations

import difflib
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.core.config.settings import CROSS_SEP, Settings, cross_problems, default_tiers


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    fix: str
    variable: str = ""  # the ROUTEDECK_* variable the bad value came from, if not the file

    def render(self) -> str:
        key = self.key
        tier = _TIER_INDEX.match(key)
        if tier:  # people count the [[tiers]] tables from one: "tiers.0" is the first
            n = int(tier.group(1)) + 1
            key = f"{key} (the {_ordinal(n)} [[tiers]])"
        if self.variable:
            key = f"{key} (from ${self.variable})"
        return f"{key}: {self.message}. Fix: {self.fix}."


_TIER_INDEX = re.compile(r"^tiers\.(\d+)\b")


def _ordinal(n: int) -> str:
    words = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}
    if n in words:
        return words[n]
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class ConfigError(Exception):
    """One or more problems in the configuration, each naming its key and a fix."""

    def __init__(self, path: Path | None, problems: list[Problem]):
        self.path = path
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        from_env = [p.variable or p.key.startswith("$") for p in self.problems]
        if all(from_env):
            where = "the environment (ROUTEDECK_* variables)"
        elif self.path:
            where = f"{self.path}" + (" and the environment" if any(from_env) else "")
        else:
            where = "built-in defaults + environment"
        head = f"Configuration problem{'s' if len(self.problems) != 1 else ''} in {where}:"
        return "\n".join([head, *(f"  - {p.render()}" for p in self.problems)])


def env_variable(loc: tuple[Any, ...]) -> str:
    """The ROUTEDECK_* variable that set the value at ``loc`` (or a table holding it), or
    '': the environment wins over the file, so a bad value there came from it."""
    names = {n.upper(): n for n in os.environ if n.upper().startswith("ROUTEDECK_")}
    for end in range(len(loc), 0, -1):
        name = "ROUTEDECK_" + "__".join(str(part) for part in loc[:end]).upper()
        if name in names:
            return names[name]
    return ""


def _from_env(problem: Problem, loc: tuple[Any, ...]) -> Problem:
    var = env_variable(loc)
    if not var:
        return problem
    fix = f"correct or unset ${var} (the environment overrides the config file)"
    if problem.fix and not problem.fix.startswith("see config.example.toml"):
        fix = f"{problem.fix}; or {fix}"
    if var.upper().endswith(("THRESHOLDS", "KEYWORDS", "TIERS")):
        fix += f"; a list in a variable is JSON, e.g. {var}='[0.5]'"
    return Problem(problem.key, problem.message, fix, var)


_KEYLIKE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{6,}")


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at the parent of ``loc`` (for did-you-mean hints)."""
    current: Any = Settings
    for part in loc[:-1]:
        origin = typing.get_origin(current)
        if origin in (dict, list):
            # A dict key or list index: step into the value type.
            current = typing.get_args(current)[-1]
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
            continue
        return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


_FIX_BY_TYPE = {
    "float_parsing": "write a number, e.g. 0.5",
    "float_type": "write a number, e.g. 0.5",
    "int_parsing": "write a whole number, e.g. 1000",
    "int_type": "write a whole number, e.g. 1000",
    "bool_parsing": "write true or false (lower case, no quotes)",
    "bool_type": "write true or false (lower case, no quotes)",
    "string_type": "write a quoted string, in double quotes",
    "list_type": "write an array, e.g. [0.5]",
    "dict_type": "write a table, e.g. [section] with key = value lines",
    "missing": "add this key",
    "literal_error": "use one of the allowed values listed",
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
    "string_too_short": "give it a non-empty value",
    "finite_number": "write a finite number (inf and nan are not allowed)",
    "less_than": "use a smaller value",
}


_BOUND_WORDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
                "less_than_equal": "<="}


def _raw_cross(data: dict[str, Any]) -> list[str]:
    """Cross-key checks on the raw file data, tolerant of wrong types elsewhere."""
    providers = data.get("providers", {"openai": {}})
    # No [[tiers]]: the built-in two, so a threshold count that does not fit them is told
    # alongside the other problems, not after they are fixed.
    tiers_raw = data.get("tiers", [{"name": t.name, "provider": t.provider}
                                   for t in default_tiers()])
    if not isinstance(providers, dict) or not isinstance(tiers_raw, list):
        return []
    tiers = [
        (str(t.get("name", f"#{i}")), str(t.get("provider", "")))
        for i, t in enumerate(tiers_raw)
        if isinstance(t, dict)
    ]
    router = data.get("router") if isinstance(data.get("router"), dict) else {}
    th = router.get("thresholds", [0.2])
    tmt = router.get("task_min_tier")
    engine = data.get("engine") if isinstance(data.get("engine"), dict) else {}
    store = data.get("store") if isinstance(data.get("store"), dict) else {}
    telemetry = data.get("telemetry") if isinstance(data.get("telemetry"), dict) else {}
    return cross_problems(
        list(providers),
        tiers,
        th if isinstance(th, list) else None,
        tmt if isinstance(tmt, dict) else None,
        engine.get("fallback_model") if isinstance(engine.get("fallback_model"), str) else None,
        store_url=_str_or_none(store.get("url")),
        otlp_endpoint=_str_or_none(telemetry.get("otlp_endpoint")),
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def problems_from_validation(exc: Any, data: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    cross_seen = False
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        msg = str(err.get("msg", "invalid value"))
        if kind == "extra_forbidden":
            known = _known_keys(loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            fix = f"did you mean '{close[0]}'? " if close else ""
            fix += "remove or rename it" + (f" (valid keys here: {', '.join(known)})" if known else "")
            var = env_variable(loc)
            if var:
                fix = (f"unset ${var}" + (f", or name a valid key ({', '.join(known)})"
                                          if known else ""))
            problems.append(Problem(_key(loc), "unknown key", fix, var))
            continue
        if kind == "value_error" and CROSS_SEP in msg or (kind == "value_error" and not loc):
            cross_seen = True
            text = msg.removeprefix("Value error, ")
            for line in text.split(CROSS_SEP):
                key, _, detail = line.partition(": ")
                problems.append(_from_env(Problem(key, detail or line, _cross_fix(key, detail)),
                                          tuple(key.split(".")[:2])))
            continue
        got = err.get("input")
        got_text = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        # Names of secret-holding variables, and URLs, may hold the secret itself by mistake.
        if loc and str(loc[-1]).endswith(("_env", "url", "endpoint")) or \
                _KEYLIKE.search(got_text):
            got_text = ""  # never echo what may be a secret
        fix = _FIX_BY_TYPE.get(kind, "see config.example.toml for the expected form")
        bound = next((err.get("ctx", {}).get(k) for k in ("ge", "gt", "le", "lt")
                      if k in (err.get("ctx") or {})), None)
        if bound is not None and kind in _BOUND_WORDS:
            shown = f"{bound:g}" if isinstance(bound, int | float) else str(bound)
            fix = f"use a value {_BOUND_WORDS[kind]} {shown}"  # "use a larger value" said less
        if kind == "string_type" and (loc[:1] == ("keymap",) or loc[-1:] == ("newline_key",)):
            fix = 'write the key as a quoted string, e.g. "ctrl+y" or "f6"'

        if loc and loc[-1] == "thresholds" and "ascending" in msg and isinstance(got, list):
            fix = f"list them from low to high: thresholds = {sorted(got)}"
        if loc and loc[-1] == "base_url":
            fix = ('write the server\'s http(s) URL with its /v1 path, e.g. base_url = '
                   '"http://localhost:11434/v1" (a valid port is 1 to 65535)')
        elif loc and loc[-1] == "api_key_env":
            fix = ('write the NAME of the variable, e.g. api_key_env = "OPENAI_API_KEY", and '
                   "export the key under that name")
        elif loc and str(loc[-1]).endswith("_env"):
            fix = (f'write the NAME of the variable, e.g. {loc[-1]} = "ROUTEDECK_PG_PASSWORD", '
                   "and export the secret under that name")
        problems.append(_from_env(
            Problem(_key(loc), msg.removeprefix("Value error, ") + got_text, fix), loc))
    if not cross_seen:
        for line in _raw_cross(data):
            key, _, detail = line.partition(": ")
            problems.append(Problem(key, detail, _cross_fix(key, detail)))
    return problems


def _cross_fix(key: str, detail: str = "") -> str:
    if key.startswith("router.thresholds"):
        return "give one threshold per boundary between consecutive tiers (tiers - 1 values)"
    if key.endswith(".provider"):
        return "add the missing [providers.NAME] section or correct the tier's provider"
    if key.startswith(("router.task_min_tier.", "router.task_examples.")) and detail.startswith(
            "unknown task type"):
        return "use one of the task types listed (the table's keys are task types)"
    if key.startswith("router.task_min_tier") or key.startswith("engine.fallback_model"):
        return "use the name of one of the [[tiers]]"
    if key == "tiers":
        return "define at least two [[tiers]] with distinct names, cheapest first"
    if key == "store.url":
        return ('write postgresql://user@host:5432/dbname and export the password in the '
                "variable [store] password_env names (ROUTEDECK_PG_PASSWORD by default)")
    if key == "telemetry.otlp_endpoint":
        return ("write the collector's OTLP/HTTP base URL, e.g. http://collector:4318; put "
                "credentials in the variable [telemetry] headers_env names")
    return "see config.example.toml"
