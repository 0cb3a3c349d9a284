"""RouteDeck configuration: defaults < TOML file < environment (ROUTEDECK_*) < CLI flags.

Nothing here is read at import time; callers ask for settings with
:func:`app.core.config.loader.load_settings`, so tests and the CLI decide which file and
environment apply.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Cross-field problems travel in one ValueError; config_errors splits them back apart.
CROSS_SEP = "\n"


class _Section(BaseModel):
    # A typo in a config key must be an error, not a silently ignored setting; `inf` and
    # `nan` (legal TOML floats) would turn into endless waits, infinite costs and JSON that
    # no parser reads (`NaN`), so no number anywhere in the config may be one.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ProviderConfig(_Section):
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="Name of the environment variable holding the key; empty for keyless servers.",
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # A stalled server is given up on (and the turn falls back) after this, not retried.
    first_token_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    total_timeout_s: float = Field(default=180.0, gt=0, le=86_400)

    @field_validator("base_url")
    @classmethod
    def _usable_url(cls, v: str) -> str:
        from app.core.config.urls import base_url_problem

        # The message never repeats the URL: it may hold a password.
        problem = base_url_problem(v)
        if problem:
            raise ValueError(problem)
        return v.strip()

    @property
    def shown_url(self) -> str:
        """``base_url`` as it may be shown, logged or stored (no password in it)."""
        from app.core.config.urls import redact_url

        return redact_url(self.base_url)

    @field_validator("api_key_env")
    @classmethod
    def _env_var_name(cls, v: str) -> str:
        # A key pasted here instead of a variable name would be printed wherever the name is
        # (config check, the offline notice). The error never repeats the value.
        if v and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("must be the name of an environment variable (letters, digits and "
                             "_), not the key itself")
        return v

    def api_key(self) -> SecretStr | None:
        """The key from the named environment variable, or None if it is unset or empty."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env, "")
        return SecretStr(value) if value else None

    @property
    def keyless(self) -> bool:
        return not self.api_key_env

    def usable(self) -> bool:
        return self.keyless or self.api_key() is not None


class TierConfig(_Section):
    name: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    # USD per million tokens; the bound only stops a slip of the keyboard (the dearest
    # model is priced in the hundreds).
    input_per_mtok: float | None = Field(default=None, ge=0, le=100_000)
    output_per_mtok: float | None = Field(default=None, ge=0, le=100_000)
    cached_input_per_mtok: float | None = Field(default=None, ge=0, le=100_000)
    # Sent as max_tokens, and enforced on the client too: a server that never stops is cut
    # there and the answer is marked as cut, never shown as complete.
    max_output_tokens: int = Field(default=4096, gt=0, le=10_000_000)
    context_window: int | None = Field(default=None, gt=0, le=1_000_000_000)
    system_prompt: str | None = None  # this tier's system prompt (over [chat] system_prompt)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    # More request fields for this tier's server (e.g. {"seed": 1} or a provider's options).
    extra_body: dict[str, Any] = Field(default_factory=dict)

    @field_validator("extra_body")
    @classmethod
    def _extra_body_is_not_the_request(cls, v: dict[str, Any]) -> dict[str, Any]:
        owned = sorted({"model", "messages", "stream", "stream_options"} & set(v))
        if owned:
            raise ValueError(f"{', '.join(owned)} are set by RouteDeck and cannot be overridden")
        if not _finite(v):
            raise ValueError("holds inf or nan, which cannot be sent as JSON")
        return v


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


class ChatConfig(_Section):
    """What every conversation starts with (the console, `ask` and `compare` alike)."""

    # Sent first in every request; a tier's own system_prompt replaces it, and a session's
    # (set in the console, or `ask --system`) replaces both.
    system_prompt: str = ""


# The router's vocabulary, which config keys are checked against (app.core.routing keeps
# the same ids, with labels, in types.TASKS and demands.DEMANDS; a test holds them equal).
TASK_TYPES: tuple[str, ...] = (
    "greeting", "factual", "extraction", "classification", "summarize", "translate", "rewrite",
    "code_write", "code_debug", "calculation", "proof", "logic", "analysis", "expert", "creative",
)
DEMAND_FACTORS: tuple[str, ...] = (
    "proof", "advanced_math", "nontrivial_code", "subtle_systems", "probability", "discrepancy",
    "drug_mix", "conditions", "constraints", "long_output", "expert_domain", "multi_step",
    "pasted",
)
# Built-in task policy, in the spirit of the seeds' table: routine lookups and transforms may
# stay on the cheapest tier; expert review, proofs, debugging, logic and multi-step analysis
# need the top tier. Levels are relative ("cheapest", "top", "top-1", "cheapest+1") so the
# defaults hold for any list of tiers; a tier name works too.
DEFAULT_TASK_MIN_TIER: dict[str, str] = {
    "greeting": "cheapest", "factual": "cheapest", "extraction": "cheapest",
    "classification": "cheapest", "summarize": "cheapest", "translate": "cheapest",
    "rewrite": "cheapest", "code_write": "cheapest", "calculation": "cheapest",
    "creative": "cheapest",
    "code_debug": "top", "proof": "top", "logic": "top", "analysis": "top", "expert": "top",
}
# Routine transforms of a text the prompt brings, and small talk: cheap at any length.
DEFAULT_ROUTINE_TASKS: tuple[str, ...] = (
    "greeting", "extraction", "classification", "summarize", "translate", "rewrite",
)
# Demand factor -> tiers it lifts a prompt (0 = only shown, never lifts).
DEFAULT_DEMAND_LIFT: dict[str, int] = {
    "proof": 1, "advanced_math": 1, "nontrivial_code": 1, "subtle_systems": 1, "probability": 1,
    "discrepancy": 1, "drug_mix": 1, "conditions": 1, "constraints": 1, "long_output": 1,
    "expert_domain": 0, "multi_step": 0, "pasted": 0,
}
# Task type names of earlier versions, still accepted in config files.
TASK_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("code_write", "code_debug"), "math": ("calculation", "proof"),
    "reasoning": ("logic",), "factual_qa": ("factual",), "knowledge_mcq": ("factual",),
    "chat": ("greeting",), "summarization": ("summarize",), "translation": ("translate",),
}
_LEVEL = re.compile(r"(cheapest|top)(?:\s*([+-])\s*(\d+))?")


def tier_level(value: str, names: list[str]) -> int | None:
    """Index of a tier given by name or relative level ("top", "top-1", "cheapest+1"),
    clamped to the tiers that exist; None if it is neither."""
    if value in names:
        return names.index(value)
    m = _LEVEL.fullmatch(value.strip().lower())
    if m is None or not names:
        return None
    base = 0 if m.group(1) == "cheapest" else len(names) - 1
    step = int(m.group(3) or 0) * (1 if m.group(2) == "+" else -1)
    return max(0, min(len(names) - 1, base + step))


class RouterConfig(_Section):
    strategy: Literal["learned", "rules"] = "learned"
    # The score is "chance the premium tier answers better"; on the shipped out-of-fold data
    # 0.2 keeps about 97% of premium-only quality at about half its cost (training report).
    # `routedeck calibrate` refits it to the user's own target.
    thresholds: list[float] = Field(default_factory=lambda: [0.2])
    # Merged over DEFAULT_TASK_MIN_TIER: name only the task types you want to change.
    task_min_tier: dict[str, str] = Field(default_factory=dict)
    demand_lift: dict[str, int] = Field(default_factory=dict)
    # Your own example prompts per task type; they steer the task classifier at once.
    task_examples: dict[str, list[str]] = Field(default_factory=dict)
    escalate_keywords: list[str] = Field(
        default_factory=lambda: ["rigorous", "think carefully"]
    )
    deescalate_keywords: list[str] = Field(default_factory=list)
    low_confidence_margin: float = Field(default=0.015, ge=0, le=0.5)
    # How similar (0..1, cosine of content words) a judged prompt must be to count.
    memory_min_similarity: float = Field(default=0.5, gt=0, le=1)
    # A request this short (characters), of a task type whose minimum is the cheapest tier,
    # with no demand factor, stays on the cheapest tier ("simple lookups and routine
    # transforms cheap"); 0 turns the rule off.
    routine_max_chars: int = Field(default=120, ge=0)
    # Task types that stay on the cheapest tier at any length when the classifier finds the
    # prompt more likely than not one of them (and no demand factor fires); [] turns it off.
    routine_tasks: list[str] = Field(default_factory=lambda: list(DEFAULT_ROUTINE_TASKS))
    # A personal, everyday request (travel, cooking, fitness, home, car, family) with no
    # demand factor stays on the cheapest tier, whatever its task type's minimum.
    everyday_routine: bool = True
    # A debugging request about a beginner's error message (IndentationError, "is not
    # defined", "was not declared in this scope") with no demand factor stays on the
    # cheapest tier, unless it comes and goes ("sometimes", "under load").
    known_errors_routine: bool = True
    follow_ups: bool = True
    sticky_after_fallback: bool = True
    sticky_after_premium_verdict: bool = True
    expected_output_tokens: int = Field(default=350, gt=0)

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_order(cls, v: list[float]) -> list[float]:
        if any(not 0.0 <= t <= 1.0 for t in v):
            raise ValueError("every threshold must be between 0 and 1")
        if any(b < a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("thresholds must be in ascending order")
        return v

    @field_validator("routine_tasks")
    @classmethod
    def _routine_tasks_known(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t not in TASK_TYPES]
        if unknown:
            raise ValueError(f"unknown task type(s) {', '.join(unknown)} (task types: "
                             f"{', '.join(TASK_TYPES)})")
        return v

    @field_validator("demand_lift")
    @classmethod
    def _lifts_small(cls, v: dict[str, int]) -> dict[str, int]:
        if any(not 0 <= n <= 3 for n in v.values()):
            raise ValueError("each lift is a number of tiers from 0 to 3")
        return v

    def task_levels(self) -> dict[str, str]:
        """The task -> minimum level map in force: built-in defaults, then the file's keys
        (old task names expanded to the types that replaced them)."""
        out = dict(DEFAULT_TASK_MIN_TIER)
        for task, level in self.task_min_tier.items():
            for t in TASK_ALIASES.get(task, (task,)):
                out[t] = level
        return out

    def lifts(self) -> dict[str, int]:
        return {**DEFAULT_DEMAND_LIFT, **self.demand_lift}


class BudgetConfig(_Section):
    session_usd: float | None = Field(default=None, gt=0, le=1e12)
    daily_usd: float | None = Field(default=None, gt=0, le=1e12)
    act_at_fraction: float = Field(default=0.9, gt=0, le=1)
    action: Literal["downgrade", "block"] = "downgrade"


class EngineConfig(_Section):
    max_retries: int = Field(default=2, ge=0, le=10)
    # Waits before a retry are bounded: a turn must end in minutes, not "never".
    retry_after_max_s: float = Field(default=20.0, ge=0, le=3600)
    backoff_s: float = Field(default=0.5, ge=0, le=60)
    fallback_model: str | None = Field(
        default=None, description="'tier' name to use when the top tier fails; default: none"
    )


class CascadeConfig(_Section):
    enabled: bool = False
    min_mean_logprob: float = Field(default=-1.0, le=0)


class CacheConfig(_Section):
    enabled: bool = True
    ttl_s: float = Field(default=7 * 24 * 3600, gt=0, le=100 * 365 * 24 * 3600)
    max_entries: int = Field(default=5000, gt=0, le=100_000_000)
    near_duplicate: bool = False
    similarity: float = Field(default=0.92, gt=0, le=1)


class UIConfig(_Section):
    theme: str = "routedeck-dark"
    newline_key: str = "ctrl+j"
    alarm_window: int = Field(default=10, ge=2)
    alarm_rate: float = Field(default=0.3, gt=0, le=1)
    play_delay_s: float = Field(default=1.5, ge=0, le=3600)
    # The compare view and `routedeck review` hide which side is which tier until the
    # verdict is given (A/B in random order), so the judgement is not swayed by the label.
    blind_compare: bool = False
    max_mounted_turns: int = Field(default=60, ge=5)


class PrivacyConfig(_Section):
    store_prompts: bool = True


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_name_or_empty(v: str) -> str:
    # A secret pasted here instead of a variable name would be shown wherever the name is;
    # the error never repeats the value.
    if v and not _ENV_NAME.fullmatch(v):
        raise ValueError("must be the name of an environment variable (letters, digits and "
                         "_), not the secret itself")
    return v


def _env_secret(name: str) -> SecretStr | None:
    value = os.environ.get(name, "") if name else ""
    return SecretStr(value) if value else None


class StoreConfig(_Section):
    """Where the ledger lives: the SQLite file in the data dir, or one team PostgreSQL."""

    url: str = Field(default="", description="postgresql://user@host[:port]/db; empty: SQLite")
    password_env: str = "ROUTEDECK_PG_PASSWORD"
    user: str | None = Field(default=None, description="who this machine's rows name")
    host: str | None = Field(default=None, description="which machine its rows name")
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    # How long a write waits for another program's lock on the SQLite file before the row
    # is kept to be written later (it is never dropped silently).
    busy_timeout_s: float = Field(default=10.0, ge=0, le=600)

    @field_validator("password_env")
    @classmethod
    def _env_var_name(cls, v: str) -> str:
        return _env_name_or_empty(v)

    def password(self) -> SecretStr | None:
        """The PostgreSQL password from the named environment variable, if set."""
        return _env_secret(self.password_env)


class TelemetryConfig(_Section):
    """OpenTelemetry export of every call attempt (GenAI semantic conventions, OTLP/HTTP)."""

    otlp_endpoint: str = Field(default="", description="collector base URL; empty: off")
    headers_env: str = ""
    service_name: str = Field(default="routedeck", min_length=1)
    export_text: bool = False
    text_max_chars: int = Field(default=2000, ge=0, le=100_000)
    metrics: bool = True
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    batch_delay_s: float = Field(default=2.0, gt=0, le=60)
    metrics_interval_s: float = Field(default=30.0, ge=1, le=3600)

    @field_validator("headers_env")
    @classmethod
    def _env_var_name(cls, v: str) -> str:
        return _env_name_or_empty(v)

    @property
    def enabled(self) -> bool:
        return bool(self.otlp_endpoint)

    def headers(self) -> dict[str, str]:
        """OTLP headers from the named variable ("k1=v1,k2=v2", as OTEL_EXPORTER_OTLP_HEADERS)."""
        raw = _env_secret(self.headers_env)
        out: dict[str, str] = {}
        for part in (raw.get_secret_value() if raw else "").split(","):
            key, sep, value = part.partition("=")
            if sep and key.strip():
                out[key.strip()] = value.strip()
        return out


def _default_providers() -> dict[str, ProviderConfig]:
    return {"openai": ProviderConfig()}


def default_tiers() -> list[TierConfig]:
    return [
        TierConfig(name="cheap", provider="openai", model="gpt-4o-mini"),
        TierConfig(name="premium", provider="openai", model="gpt-4o"),
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ROUTEDECK_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        allow_inf_nan=False,
    )

    providers: dict[str, ProviderConfig] = Field(default_factory=_default_providers)
    tiers: list[TierConfig] = Field(default_factory=default_tiers)
    chat: ChatConfig = Field(default_factory=ChatConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    ui: UIConfig = Field(default_factory=UIConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    keymap: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems = cross_problems(
            list(self.providers),
            [(t.name, t.provider) for t in self.tiers],
            self.router.thresholds,
            self.router.task_min_tier,
            self.engine.fallback_model,
            store_url=self.store.url,
            otlp_endpoint=self.telemetry.otlp_endpoint,
            demand_lift=self.router.demand_lift,
            task_examples=self.router.task_examples,
        )
        if problems:
            raise ValueError(CROSS_SEP.join(problems))
        return self

    # --- helpers the rest of the core uses -------------------------------------------------
    def tier(self, name: str) -> TierConfig:
        for t in self.tiers:
            if t.name == name:
                return t
        raise KeyError(name)

    def tier_index(self, name: str) -> int:
        return [t.name for t in self.tiers].index(name)

    @property
    def cheapest(self) -> TierConfig:
        return self.tiers[0]

    @property
    def premium(self) -> TierConfig:
        return self.tiers[-1]

    def system_prompt_for(self, tier: TierConfig, session: str | None = None) -> str:
        """The system prompt a request to ``tier`` carries ('' for none)."""
        if session:
            return session
        if tier.system_prompt is not None:
            return tier.system_prompt
        return self.chat.system_prompt

    def provider_for(self, tier: TierConfig) -> ProviderConfig:
        return self.providers[tier.provider]

    def has_credentials(self) -> bool:
        """True when at least one tier's provider has a key (or needs none)."""
        return any(self.provider_for(t).usable() for t in self.tiers)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # CLI flags arrive as init kwargs, so they win over the environment, which wins
        # over the file data that load_settings() merges in underneath.
        return (init_settings, env_settings, FileSource(settings_cls))


def _thresholds_for(given: list[float], n: int) -> list[float]:
    """``n`` ascending thresholds from the ones given: the top ones kept, any missing lower
    boundaries spread evenly under the lowest (0.2 when none is given)."""
    given = sorted(given)[-n:] if n else []
    missing = n - len(given)
    base = given[0] if given else 0.2
    return [round(base * (i + 1) / (missing + 1), 3) for i in range(missing)] + given


def cross_problems(
    providers: list[str],
    tiers: list[tuple[str, str]],
    thresholds: list[float] | None,
    task_min_tier: dict[str, str] | None,
    fallback_model: str | None,
    *,
    store_url: str | None = None,
    otlp_endpoint: str | None = None,
    demand_lift: dict[str, int] | None = None,
    task_examples: dict[str, list[str]] | None = None,
) -> list[str]:
    """Problems that involve several keys at once, as "key: message" lines.

    Also run on the raw file data when field validation fails, so one `config check` reports
    every mistake instead of revealing them one at a time.
    """
    problems: list[str] = []
    if len(tiers) < 2:
        problems.append("tiers: at least two [[tiers]] are needed (cheapest first)")
    names = [name for name, _ in tiers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"tiers: duplicate tier name(s) {', '.join(dupes)}")
    for i, (name, provider) in enumerate(tiers):
        if provider not in providers:
            known = ", ".join(sorted(providers)) or "none"
            problems.append(
                f"tiers.{i}.provider: tier '{name}' names provider '{provider}', "
                f"which has no [providers.{provider}] section (defined: {known})"
            )
    if thresholds is not None and len(tiers) >= 2 and len(thresholds) != len(tiers) - 1:
        want = _thresholds_for(list(thresholds), len(tiers) - 1)
        problems.append(
            f"router.thresholds: {len(tiers)} tiers need {len(tiers) - 1} "
            f"threshold(s), got {len(thresholds)} (e.g. thresholds = "
            f"[{', '.join(f'{t:g}' for t in want)}]: a score under {want[0]:g} goes to "
            f"'{names[0]}'; `routedeck calibrate` fits them to your verdicts)"
        )
    known_tasks = ", ".join(TASK_TYPES)
    for task, tier in (task_min_tier or {}).items():
        if task not in TASK_TYPES and task not in TASK_ALIASES:
            problems.append(f"router.task_min_tier.{task}: unknown task type (task types: "
                            f"{known_tasks})")
        if not isinstance(tier, str) or tier_level(tier, names) is None:
            problems.append(
                f"router.task_min_tier.{task}: '{tier}' is not a tier name ({', '.join(names)}) "
                "or a level (cheapest, top, top-1, cheapest+1)"
            )
    for task in task_examples or {}:
        if task not in TASK_TYPES:
            problems.append(f"router.task_examples.{task}: unknown task type (task types: "
                            f"{known_tasks})")
    for factor in demand_lift or {}:
        if factor not in DEMAND_FACTORS:
            problems.append(f"router.demand_lift.{factor}: unknown demand factor (factors: "
                            f"{', '.join(DEMAND_FACTORS)})")
    if fallback_model and fallback_model not in names:
        problems.append(f"engine.fallback_model: '{fallback_model}' is not a tier name")
    problems += _url_problems(store_url, otlp_endpoint)
    return problems


def _url_problems(store_url: str | None, otlp_endpoint: str | None) -> list[str]:
    # Checked here rather than by field validators: a field error repeats the value it got,
    # and these values may carry a password.
    from urllib.parse import urlsplit

    from app.core.config.urls import is_postgres_url, url_password

    problems: list[str] = []
    if store_url:
        if not is_postgres_url(store_url):
            problems.append("store.url: not a PostgreSQL URL (postgresql://user@host/db); "
                            "leave it empty for the local SQLite file")
        elif url_password(store_url):
            problems.append("store.url: the URL holds a password; remove it from the URL")
    if otlp_endpoint:
        parts = urlsplit(otlp_endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append("telemetry.otlp_endpoint: not an http(s) URL (e.g. "
                            "http://collector:4318)")
        elif parts.password:
            problems.append("telemetry.otlp_endpoint: the URL holds a password; remove it "
                            "from the URL")
    return problems


class FileSource(PydanticBaseSettingsSource):
    """Feeds already-parsed TOML data (set by load_settings) below the environment."""

    data: dict[str, Any] = {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(type(self).data)
