"""OpenAI-compatible providers: one lazily created ``AsyncOpenAI`` client per provider,
streaming chat completions, timeouts, and SDK errors mapped to readable error kinds.

The SDK's own retries are off (``max_retries=0``): the engine owns retries and fallback so
that every attempt is visible as an event and a ledger record.

Error kinds (``ProviderError.kind``): ``auth`` (401/403), ``not_found`` (404, unknown model),
``rate_limit`` (429, with the server's Retry-After), ``server`` (5xx), ``timeout`` (connect,
first token or total), ``connection`` (refused/DNS/unreachable), ``truncated`` (the stream
ended or broke before a finish_reason), ``bad_response`` (non-JSON body or malformed chunk),
``bad_request`` (other 4xx). Messages name provider, model and the fix, and never contain a key.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai

from app.core.calling import tokens
from app.core.calling.events import Usage
from app.core.config.settings import ProviderConfig, Settings, TierConfig

# Keyless local servers ignore the key, but the SDK insists on one being set.
PLACEHOLDER_KEY = "routedeck-keyless"
CHARS_PER_TOKEN_CAP = 8
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "truncated", "bad_response"})
_KEYLIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*]{6,}")


class _NotText(Exception):
    """A delta's content was not a string."""


class ProviderError(Exception):
    """One failed call, already explained in words a user can act on."""

    def __init__(self, kind: str, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass
class StreamState:
    """Everything one streamed call produced so far; readable even after an error or cancel."""

    provider: str
    tier: str
    model: str
    messages: list[dict[str, str]]
    parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    provider_usage: Usage | None = None
    logprobs: list[float] = field(default_factory=list)
    logprobs_seen: bool = False
    opened: bool = False  # the server accepted the request (HTTP 200): tokens may be billed
    started: float = 0.0  # perf_counter at request start
    ttft_s: float | None = None
    ended: float | None = None
    chars: int = 0  # characters received so far

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def latency_s(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    @property
    def mean_logprob(self) -> float | None:
        if not self.logprobs_seen or not self.logprobs:
            return None
        return sum(self.logprobs) / len(self.logprobs)

    def usage(self) -> Usage:
        """Provider-reported usage when it came and makes sense, else a tiktoken estimate."""
        if self.provider_usage is not None:
            return self.provider_usage
        inp = tokens.count_messages(self.messages, self.model).tokens
        out = tokens.count(self.text, self.model).tokens if self.parts else 0
        return Usage(inp, out, source="estimated")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def usage_from_chunk(raw: Any, state: StreamState) -> Usage | None:
    """Usage from a provider chunk; None when it is missing or nonsensical (then estimate)."""
    inp = _count(getattr(raw, "prompt_tokens", None))
    out = _count(getattr(raw, "completion_tokens", None))
    if inp is None and out is None:
        return None
    details = getattr(raw, "prompt_tokens_details", None)
    cached = _count(getattr(details, "cached_tokens", None)) or 0
    rdetails = getattr(raw, "completion_tokens_details", None)
    reasoning = _count(getattr(rdetails, "reasoning_tokens", None)) or 0
    source = "provider"
    if inp is None:  # one field missing or negative: estimate just that one, say so
        inp, source = tokens.count_messages(state.messages, state.model).tokens, "estimated"
    if out is None:
        out, source = tokens.count(state.text, state.model).tokens, "estimated"
    return Usage(inp, out, cached, reasoning, source)  # type: ignore[arg-type]


def scrub(text: str, key: str | None = None) -> str:
    """Remove anything that looks like an API key (and the actual key) from a message."""
    if key:
        text = text.replace(key, "***")
    return _KEYLIKE.sub("***", text)


class ProviderPool:
    """Clients for every configured provider, created on first use and reused."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def config(self, name: str) -> ProviderConfig:
        return self.settings.providers[name]

    def client(self, name: str) -> openai.AsyncOpenAI:
        client = self._clients.get(name)
        if client is None:
            cfg = self.config(name)
            secret = cfg.api_key()
            client = openai.AsyncOpenAI(
                base_url=cfg.base_url,
                api_key=secret.get_secret_value() if secret else PLACEHOLDER_KEY,
                max_retries=0,
                # read bounds every socket read, so a stream that stalls mid-answer also ends.
                timeout=openai.Timeout(cfg.total_timeout_s, connect=cfg.connect_timeout_s,
                                       read=cfg.first_token_timeout_s),
            )
            self._clients[name] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.close()

    async def stream(self, tier: TierConfig, state: StreamState,
                     logprobs: bool = False) -> AsyncIterator[str]:
        """Yield text deltas of one streamed completion, filling ``state`` as it goes.

        Raises :class:`ProviderError`; a stream that ends without a finish_reason raises
        ``truncated`` (the partial text stays in ``state``).
        """
        cfg = self.config(tier.provider)
        kwargs: dict[str, Any] = {
            "model": tier.model, "messages": state.messages, "stream": True,
            "stream_options": {"include_usage": True},
        }
        # max_tokens rather than max_completion_tokens: local servers understand it.
        kwargs["max_tokens"] = tier.max_output_tokens
        if tier.temperature is not None:
            kwargs["temperature"] = tier.temperature
        if tier.top_p is not None:
            kwargs["top_p"] = tier.top_p
        if tier.extra_body:
            kwargs["extra_body"] = dict(tier.extra_body)
        if logprobs:
            kwargs["logprobs"] = True
        # A server that ignores max_tokens is cut here: generously above what max_tokens
        # allows (tokens rarely average over 4 characters), so a compliant one never is.
        cap_chars = tier.max_output_tokens * CHARS_PER_TOKEN_CAP
        state.started = time.perf_counter()
        opened = False
        # Built before the deadlines start: creating a client (SSL context, connection pool)
        # takes a noticeable moment the first time and is not the server being slow.
        client = self.client(tier.provider)
        loop = asyncio.get_running_loop()
        total_deadline = loop.time() + cfg.total_timeout_s
        first_deadline = min(loop.time() + cfg.first_token_timeout_s, total_deadline)
        try:
            # Deadlines wrap each await, never a yield: a timeout scope spanning a yield would
            # fire inside the consumer's code (e.g. a UI handler) instead of here.
            async with asyncio.timeout_at(first_deadline):
                stream = await client.chat.completions.create(**kwargs)
            opened = state.opened = True
            ctype = stream.response.headers.get("content-type", "")
            if "text/event-stream" not in ctype:
                await stream.close()
                raise ProviderError("bad_response", self._msg(
                    tier, f"the server answered with '{ctype or 'no content type'}' instead of "
                    f"an event stream; check base_url in [providers.{tier.provider}] points at "
                    "an OpenAI-compatible /v1 endpoint"))
            chunks = stream.__aiter__()
            try:
                while True:
                    deadline = first_deadline if state.ttft_s is None else total_deadline
                    try:
                        async with asyncio.timeout_at(deadline):
                            chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        break
                    delta = self._absorb(chunk, state)
                    if delta:
                        if state.ttft_s is None:
                            state.ttft_s = time.perf_counter() - state.started
                        yield delta
                    if state.chars > cap_chars:
                        state.finish_reason = "length"
                        break
            finally:
                await stream.close()
        except ProviderError:
            raise
        except TimeoutError:
            if state.ttft_s is None and loop.time() < total_deadline:
                raise ProviderError("timeout", self._msg(
                    tier, f"no answer within {cfg.first_token_timeout_s:g} s (first token); "
                    f"raise first_token_timeout_s in [providers.{tier.provider}] or check the "
                    "server is not overloaded")) from None
            raise ProviderError("timeout", self._msg(
                tier, f"the answer took longer than {cfg.total_timeout_s:g} s; raise "
                f"total_timeout_s in [providers.{tier.provider}]")) from None
        except _NotText as exc:
            raise ProviderError("bad_response", self._msg(
                tier, f"the server sent a chunk whose content is a {exc} instead of text; the "
                "stream was abandoned")) from None
        except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
            raise ProviderError("bad_response", self._msg(
                tier, f"the server sent a malformed chunk ({type(exc).__name__}); the stream "
                "was abandoned")) from None
        except openai.APIStatusError as exc:
            raise self._status_error(tier, exc) from None
        except openai.APITimeoutError:
            raise ProviderError("timeout", self._msg(
                tier, f"timed out (connect {cfg.connect_timeout_s:g} s / read "
                f"{cfg.first_token_timeout_s:g} s); check the server or raise the timeouts in "
                f"[providers.{tier.provider}]")) from None
        except openai.APIConnectionError as exc:
            if state.finish_reason is not None:
                # The answer was complete (finish_reason seen); only the tail (usage, [DONE])
                # was lost. Usage is then estimated.
                return
            raise self._connection_error(tier, exc, opened) from None
        except openai.OpenAIError as exc:
            raise ProviderError("bad_response", self._msg(
                tier, f"unexpected reply: {scrub(str(exc), self._key(tier))[:200]}")) from None
        except Exception as exc:
            # Whatever else the SDK or its transport raises (a raw protocol error, a decoding
            # bug) must end as a failed attempt the user can read, never crash the turn.
            raise ProviderError("unexpected", self._msg(
                tier, f"unexpected failure ({type(exc).__name__}: "
                f"{scrub(str(exc), self._key(tier))[:200]}); please report it")) from exc
        finally:
            state.ended = time.perf_counter()
        if state.finish_reason is None:
            raise ProviderError("truncated", self._msg(
                tier, "the stream ended before the answer was finished (no finish_reason); "
                "the partial answer is not complete"))

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _absorb(chunk: Any, state: StreamState) -> str:
        raw_usage = getattr(chunk, "usage", None)
        if raw_usage is not None:
            state.provider_usage = usage_from_chunk(raw_usage, state)
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return ""
        choice = choices[0]
        if getattr(choice, "finish_reason", None):
            state.finish_reason = choice.finish_reason
        lp = getattr(choice, "logprobs", None)
        content_lp = getattr(lp, "content", None) if lp is not None else None
        if content_lp:
            state.logprobs_seen = True
            state.logprobs.extend(
                float(t.logprob) for t in content_lp
                if isinstance(getattr(t, "logprob", None), int | float))
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None) if delta is not None else None
        if text is not None and not isinstance(text, str):
            # The SDK does not validate stream chunks: a number or an object here would
            # otherwise reach the answer (and the screen) as something that is not text.
            raise _NotText(type(text).__name__)
        if text:
            state.parts.append(text)
            state.chars += len(text)
            return text
        return ""

    def _key(self, tier: TierConfig) -> str | None:
        secret = self.config(tier.provider).api_key()
        return secret.get_secret_value() if secret else None

    def _msg(self, tier: TierConfig, what: str) -> str:
        return f"{tier.provider}/{tier.model} (tier {tier.name}): {what}"

    def _status_error(self, tier: TierConfig, exc: openai.APIStatusError) -> ProviderError:
        cfg = self.config(tier.provider)
        status = exc.status_code
        server_says = scrub(_server_message(exc), self._key(tier))[:200]
        if status in (401, 403):
            if cfg.keyless:
                fix = (f"this server needs a key: set api_key_env in [providers.{tier.provider}] "
                       "to the name of an environment variable holding it, and export it")
            else:
                fix = (f"check the key in the environment variable {cfg.api_key_env} "
                       f"(set {cfg.api_key_env} to a valid key for {cfg.base_url})")
            what = "rejected the API key" if status == 401 else "refused access to this model"
            return ProviderError("auth", self._msg(tier, f"the server {what} (HTTP {status}); "
                                                   f"{fix}"), status=status)
        if status == 404:
            return ProviderError("not_found", self._msg(
                tier, f"model '{tier.model}' was not found at {cfg.base_url} (HTTP 404); check "
                f"the model name in [[tiers]] '{tier.name}' and base_url in "
                f"[providers.{tier.provider}]"), status=status)
        if status == 429:
            return ProviderError("rate_limit", self._msg(
                tier, f"rate limited (HTTP 429): {server_says or 'too many requests'}"),
                retry_after=retry_after_of(exc.response.headers), status=status)
        if status >= 500:
            return ProviderError("server", self._msg(
                tier, f"server error (HTTP {status}): {server_says or 'no details'}"),
                retry_after=retry_after_of(exc.response.headers), status=status)
        return ProviderError("bad_request", self._msg(
            tier, f"the server refused the request (HTTP {status}): {server_says}"), status=status)

    def _connection_error(self, tier: TierConfig, exc: BaseException,
                          opened: bool) -> ProviderError:
        if opened:
            return ProviderError("truncated", self._msg(
                tier, "the connection broke mid-answer (stream cut before finish_reason); the "
                "partial answer is not complete"))
        cfg = self.config(tier.provider)
        cause = exc.__cause__ or exc
        return ProviderError("connection", self._msg(
            tier, f"cannot reach {cfg.base_url} ({type(cause).__name__}); is the server running? "
            f"check base_url in [providers.{tier.provider}]"))


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error")
        msg = inner.get("message") if isinstance(inner, dict) else body.get("message")
        if isinstance(msg, str):
            return msg
    return ""


def retry_after_of(headers: Any) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, then Retry-After seconds)."""
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        ra = headers.get("retry-after")
        if ra is not None:
            return max(0.0, float(ra))
    except (TypeError, ValueError):
        # An HTTP-date Retry-After is rare from model servers; fall back to our own backoff.
        return None
    return None
