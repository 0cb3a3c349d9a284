"""OpenAI-compatible providers: one lazily created ``AsyncOpenAI`` client per provider,
streaming chat completions, timeouts, and SDK errors mapped to readable error kinds.

The SDK's own retries are off (``max_retries=0``): the engine owns retries and fallback so
that every attempt is visible as an event and a ledger record.

Error kinds (``ProviderError.kind``): ``auth`` (401/403), ``not_found`` (404, unknown model),
``rate_limit`` (429, with the server's Retry-After), ``server`` (5xx), ``timeout`` (connect,
first token or total), ``connection`` (refused/DNS/unreachable), ``truncated`` (the stream
ended or broke before a finish_reason), ``bad_response`` (non-JSON body or malformed chunk),
``bad_request`` (other 4xx). Messages name provider, model and the fix, and never contain a
key or a URL's password.

The SDK sends the request and raises for HTTP errors; the event stream itself is read here,
with bounds (:mod:`app.core.calling.bounded` for the body, :mod:`app.core.calling.sse` for
its events): a server that sends a gzip bomb, a line that never ends, or an endless stream
costs bounded memory, and every wait is bounded by the provider's deadlines. Each chunk is
checked before it is believed: content must be text (lone surrogates are replaced, see
:func:`app.core.textsafe.clean`), usage must be plausible (:mod:`app.core.calling.usage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai

from app.core.calling import tokens
from app.core.calling.bounded import BadEncoding, BodyTooLarge, http_client, httpx
from app.core.calling.events import Usage
from app.core.calling.sse import ServerEvent, StreamTooLarge, read_events
from app.core.calling.usage import Reported, checked
from app.core.config.settings import ProviderConfig, Settings, TierConfig
from app.core.config.urls import redact_url, redact_urls_in, url_password
from app.core.textsafe import clean

# Keyless local servers ignore the key, but the SDK insists on one being set.
PLACEHOLDER_KEY = "routedeck-keyless"
CHARS_PER_TOKEN_CAP = 8
# Bytes of event stream allowed per token of max_output_tokens (a chunk with its logprob is
# a few hundred bytes), and at least this much whatever the cap.
STREAM_BYTES_PER_TOKEN = 1024
STREAM_BYTES_MIN = 4 << 20
DRAIN_S = 0.5  # after [DONE]: how long the rest of the body may take (keeps the connection)
_JSON_TYPES = {int: "number", float: "number", bool: "boolean", dict: "object", list: "array"}
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "truncated", "bad_response"})
_KEYLIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*]{6,}")


class _NotText(Exception):
    """A delta's content was not a string."""


class _BadChunk(Exception):
    """An event's data was not a chat-completion chunk (not JSON, or not an object)."""


class _ServerSaid(Exception):
    """The stream carried an error object instead of a chunk."""


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
    reported: Reported | None = None  # the believable part of the server's usage
    max_output_tokens: int | None = None
    logprobs: list[float] = field(default_factory=list)
    logprobs_seen: bool = False
    opened: bool = False  # the server accepted the request (HTTP 200): tokens may be billed
    started: float = 0.0  # perf_counter at request start
    ttft_s: float | None = None
    ended: float | None = None
    chars: int = 0  # characters received so far
    answered_by: str | None = None  # the model the server says answered, if it names one

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

    @property
    def provider_usage(self) -> Usage | None:
        """The server's usage when every count of it was believable (no estimate needed)."""
        rep = self.reported
        if rep is None or not rep.complete:
            return None
        return Usage(rep.input_tokens, rep.output_tokens,  # type: ignore[arg-type]
                     rep.cached_input_tokens, rep.reasoning_tokens, "provider")

    @property
    def usage_notes(self) -> list[str]:
        """What the server claimed that was not believed (see :mod:`app.core.calling.usage`)."""
        return list(self.reported.notes) if self.reported is not None else []

    def usage(self) -> Usage:
        """Provider-reported usage when it came and makes sense; each count that is missing or
        not believable is a tiktoken estimate (blocking: call it from a thread)."""
        full = self.provider_usage
        if full is not None:
            return full
        rep = self.reported
        inp = rep.input_tokens if rep is not None else None
        out = rep.output_tokens if rep is not None else None
        if inp is None:
            inp = tokens.count_messages(self.messages, self.model).tokens
        if out is None:
            out = tokens.count(self.text, self.model).tokens if self.parts else 0
        cached = min(rep.cached_input_tokens, inp) if rep is not None else 0
        reasoning = min(rep.reasoning_tokens, out) if rep is not None else 0
        return Usage(inp, out, cached, reasoning, source="estimated")


def scrub(text: str, key: str | None = None, url: str | None = None) -> str:
    """Remove anything that looks like an API key (and the actual key), and the password of
    ``url`` and of any URL quoted in it, from a message (lone surrogates replaced too)."""
    text = clean(text)
    if key:
        text = text.replace(key, "***")
    secret = url_password(url) if url else None
    if secret:
        text = text.replace(secret, "***")
    return _KEYLIKE.sub("***", redact_urls_in(text))


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
            # read bounds every socket read, so a stream that stalls mid-answer also ends.
            timeout = openai.Timeout(cfg.total_timeout_s, connect=cfg.connect_timeout_s,
                                     read=cfg.first_token_timeout_s)
            client = openai.AsyncOpenAI(
                base_url=cfg.base_url,
                api_key=secret.get_secret_value() if secret else PLACEHOLDER_KEY,
                max_retries=0,
                timeout=timeout,
                http_client=http_client(timeout=timeout),
            )
            self._clients[name] = client
        return client

    async def listed_models(self, tier: TierConfig, timeout_s: float = 5.0) -> list[str]:
        """The model ids the tier's server lists (GET /models): a probe that the server is
        there, answers like OpenAI and takes the key. Raises :class:`ProviderError` in the
        same words a failed call would use."""
        client = self.client(tier.provider)
        try:
            async with asyncio.timeout(timeout_s):
                page = await client.models.list()
            return [m.id for m in page.data]
        except ProviderError:
            raise
        except openai.APIStatusError as exc:
            raise self._status_error(tier, exc) from None
        except (TimeoutError, openai.APITimeoutError, httpx.TimeoutException):
            raise ProviderError("timeout", self._msg(
                tier, f"no answer to GET /models within {timeout_s:g} s")) from None
        except (openai.APIConnectionError, httpx.TransportError) as exc:
            raise self._connection_error(tier, exc, opened=False) from None
        except Exception as exc:  # noqa: BLE001 - an odd reply is a finding, not a crash
            raise ProviderError("bad_response", self._msg(
                tier, f"GET /models gave an unexpected reply ({type(exc).__name__}); is "
                f"base_url in [providers.{tier.provider}] an OpenAI-compatible /v1 endpoint?"
            )) from None

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
        budget = max(STREAM_BYTES_MIN, tier.max_output_tokens * STREAM_BYTES_PER_TOKEN)
        state.max_output_tokens = tier.max_output_tokens
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
            response = stream.response
            ctype = response.headers.get("content-type", "")
            if "text/event-stream" not in ctype:
                await response.aclose()
                raise ProviderError("bad_response", self._msg(
                    tier, f"the server answered with '{ctype[:80] or 'no content type'}' instead "
                    f"of an event stream; check base_url in [providers.{tier.provider}] points "
                    "at an OpenAI-compatible /v1 endpoint"))
            # The SDK's own stream reader is not used: it has no bound on a line or a body.
            events = read_events(response.aiter_raw(), budget)
            try:
                while True:
                    deadline = first_deadline if state.ttft_s is None else total_deadline
                    async with asyncio.timeout_at(deadline):
                        ev = await anext(events, None)
                    if ev is None:
                        break
                    if ev.data.startswith("[DONE]"):
                        await _drain(events, min(deadline, loop.time() + DRAIN_S))
                        break
                    delta = self._absorb(_chunk(ev), state, cap_chars)
                    if delta:
                        if state.ttft_s is None:
                            state.ttft_s = time.perf_counter() - state.started
                        yield delta
                    if state.chars >= cap_chars:
                        state.finish_reason = "length"
                        break
            finally:
                await events.aclose()
                await _close(response)
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
                tier, f"the server sent a chunk whose content is {exc} instead of text; the "
                "stream was abandoned")) from None
        except _BadChunk as exc:
            raise ProviderError("bad_response", self._msg(
                tier, f"the server sent a malformed chunk ({exc}); the stream was "
                "abandoned")) from None
        except _ServerSaid as exc:
            raise ProviderError("server", self._msg(
                tier, f"the server reported an error mid-answer: "
                f"{self._scrub(tier, str(exc))[:200]}")) from None
        except (StreamTooLarge, BodyTooLarge, BadEncoding) as exc:
            raise ProviderError("bad_response", self._msg(
                tier, f"{exc}; the stream was abandoned")) from None
        except openai.APIResponseValidationError as exc:
            raise ProviderError("bad_response", self._msg(
                tier, f"the server sent a malformed chunk ({type(exc).__name__}); the stream "
                "was abandoned")) from None
        except openai.APIStatusError as exc:
            raise self._status_error(tier, exc) from None
        except (openai.APITimeoutError, httpx.TimeoutException):
            raise ProviderError("timeout", self._msg(
                tier, f"timed out (connect {cfg.connect_timeout_s:g} s / read "
                f"{cfg.first_token_timeout_s:g} s); check the server or raise the timeouts in "
                f"[providers.{tier.provider}]")) from None
        except (openai.APIConnectionError, httpx.TransportError) as exc:
            if state.finish_reason is not None:
                # The answer was complete (finish_reason seen); only the tail (usage, [DONE])
                # was lost. Usage is then estimated.
                return
            raise self._connection_error(tier, exc, opened) from None
        except openai.OpenAIError as exc:
            raise ProviderError("bad_response", self._msg(
                tier, f"unexpected reply: {self._scrub(tier, str(exc))[:200]}")) from None
        except Exception as exc:
            # Whatever else the SDK or its transport raises (a raw protocol error, a decoding
            # bug) must end as a failed attempt the user can read, never crash the turn.
            raise ProviderError("unexpected", self._msg(
                tier, f"unexpected failure ({type(exc).__name__}: "
                f"{self._scrub(tier, str(exc))[:200]}); please report it")) from exc
        finally:
            state.ended = time.perf_counter()
        if state.finish_reason is None:
            raise ProviderError("truncated", self._msg(
                tier, "the stream ended before the answer was finished (no finish_reason); "
                "the partial answer is not complete"))

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _absorb(chunk: dict[str, Any], state: StreamState, cap_chars: int) -> str:
        """Fold one chunk into ``state``; the text to show (cut at ``cap_chars`` in all)."""
        error = chunk.get("error")
        if error is not None:
            inner = error.get("message") if isinstance(error, dict) else error
            raise _ServerSaid(inner if isinstance(inner, str) else "no details")
        if "usage" in chunk and chunk["usage"] is not None:
            state.reported = checked(chunk["usage"], state.messages, state.chars,
                                     state.max_output_tokens)
        named = chunk.get("model")
        if state.answered_by is None and isinstance(named, str) and named.isprintable() and named:
            # A dated snapshot ("gpt-4o-2024-08-06"), or the model a router picked for an
            # alias ("openrouter/auto"): what telemetry and the ledger call the answering model.
            state.answered_by = named[:200]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return ""
        choice = choices[0]
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            state.finish_reason = finish
        lp = choice.get("logprobs")
        content_lp = lp.get("content") if isinstance(lp, dict) else None
        if isinstance(content_lp, list) and content_lp and len(state.logprobs) < cap_chars:
            state.logprobs_seen = True
            state.logprobs.extend(
                float(t["logprob"]) for t in content_lp
                if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)
                and not isinstance(t.get("logprob"), bool) and math.isfinite(t["logprob"]))
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
        if text is not None and not isinstance(text, str):
            # A number or an object here would otherwise reach the answer (and the screen)
            # as something that is not text.
            raise _NotText(f"a JSON {_JSON_TYPES.get(type(text), type(text).__name__)}")
        if not text:
            return ""
        text = clean(text)[:max(0, cap_chars - state.chars)]
        state.parts.append(text)
        state.chars += len(text)
        return text

    def _scrub(self, tier: TierConfig, text: str) -> str:
        return scrub(text, self._key(tier), self.config(tier.provider).base_url)

    def _key(self, tier: TierConfig) -> str | None:
        secret = self.config(tier.provider).api_key()
        return secret.get_secret_value() if secret else None

    def _msg(self, tier: TierConfig, what: str) -> str:
        return f"{tier.provider}/{tier.model} (tier {tier.name}): {what}"

    def _status_error(self, tier: TierConfig, exc: openai.APIStatusError) -> ProviderError:
        cfg = self.config(tier.provider)
        status = exc.status_code
        server_says = self._scrub(tier, _server_message(exc))[:200]
        url = redact_url(cfg.base_url)
        if status in (401, 403):
            if cfg.keyless:
                fix = (f"this server needs a key: set api_key_env in [providers.{tier.provider}] "
                       "to the name of an environment variable holding it, and export it")
            else:
                fix = (f"check the key in the environment variable {cfg.api_key_env} "
                       f"(set {cfg.api_key_env} to a valid key for {url})")
            what = "rejected the API key" if status == 401 else "refused access to this model"
            return ProviderError("auth", self._msg(tier, f"the server {what} (HTTP {status}); "
                                                   f"{fix}"), status=status)
        if status == 404:
            return ProviderError("not_found", self._msg(
                tier, f"model '{tier.model}' was not found at {url} (HTTP 404); check "
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
            tier, f"cannot reach {redact_url(cfg.base_url)} ({type(cause).__name__}); is the "
            "server running? "
            f"check base_url in [providers.{tier.provider}]"))


def _chunk(ev: ServerEvent) -> dict[str, Any]:
    """The chat-completion chunk an event carries ({} for an event of another type, or one
    whose data is empty: a keep-alive)."""
    if not ev.data.strip():
        return {}
    try:
        data = json.loads(ev.data)
    except (ValueError, RecursionError) as exc:  # not JSON, nested too deep, huge integer
        if ev.event == "error":
            raise _ServerSaid(ev.data[:500]) from None
        if ev.event != "message":
            return {}  # a keep-alive or a type of event chat completions do not define
        raise _BadChunk(type(exc).__name__) from None
    if ev.event == "error":
        inner = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            raise _ServerSaid(inner["message"])
        raise _ServerSaid(str(inner)[:500])
    if not isinstance(data, dict):
        if ev.event != "message":
            return {}
        raise _BadChunk(f"a JSON {_JSON_TYPES.get(type(data), 'value')} instead of an object")
    return data


async def _close(response: Any) -> None:
    """Close the response, but never wait long: a peer that stalls cannot hold the turn."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_S):
            await response.aclose()


async def _drain(events: AsyncIterator[ServerEvent], until: float) -> None:
    """Read what follows [DONE] (usually nothing), briefly, so the connection is reused."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout_at(until):
            async for _ in events:
                pass


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
