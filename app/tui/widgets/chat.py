"""The chat pane: user prompts and streamed Markdown answers with a cost header each.

Answers stream through ``Markdown.get_stream`` inside a small per-answer worker fed by a
queue; the turn handlers only append to the queue, so all state changes stay in handlers.
After the stream stops the body gets one full ``update`` so code fences that arrived in
pieces are re-parsed whole. The pane is anchored: it follows new text while the reader is at
the bottom and stops following as soon as they scroll up.

Long sessions: a Markdown widget is a tree of block widgets, and every layout pass walks all
of them. So only the newest ``LIVE_ANSWERS`` answers stay live Markdown widgets; older ones
are frozen into a single Static holding a Rich Markdown rendering of the same text, and at
most ``max_turns`` turns stay mounted at all (the conversation itself stays complete).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from rich.markdown import Markdown as RichMarkdown
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Markdown, Static

from app.core.calling.events import (
    Answer,
    AttemptFailed,
    AttemptStarted,
    CacheHit,
    Escalated,
    Event,
    TextDelta,
    TurnFinished,
)
from app.core.textsafe import inert
from app.tui.fmt import format_usd, seconds, tier_style, tokens

LIVE_ANSWERS = 6
_RESET = object()  # queue marker: a retry/fallback/escalation starts the answer afresh
_END = object()  # queue marker: the turn finished


class UserMessage(Horizontal):
    """A prompt under "you": a label column beside the text, so both the prompt's own line
    breaks and the lines the pane wraps stay under its first line, not under the label."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.body = Static(Content(text), classes="user-text")

    def compose(self):
        yield Static(Content.styled("you", "bold $primary"), classes="user-label")
        yield self.body

    @property
    def shown(self) -> str:
        """The prompt as the pane shows it, label included."""
        return f"you  {self.body.render()}"


class Notice(Static):
    """A system line in the chat: the offline notice, errors, session changes."""

    def __init__(self, text: str | Content, kind: str = "info") -> None:
        super().__init__(text)
        self.add_class(f"-{kind}")
        self.text = Content(text) if isinstance(text, str) else text
        self.turn_index: int | None = None  # the turn an offline "not sent" line is of

    def mark_replaced(self) -> None:
        """Its (offline) turn was edited: the line stays, dimmed, saying so."""
        self.add_class("-replaced")
        self.update(Content.assemble(self.text, ("  (replaced by the edit below)", "dim")))


class AnswerView(Vertical):
    """One assistant answer: a header (tier, model, latency, tokens, cost, marks) and a body.

    :meth:`apply` renders engine events; the chat and the compare view both draw answers
    through it, and :meth:`show` draws an answer that is already complete (history, review).
    Text is made inert here, once: answers are data, never markup or terminal escapes."""

    class Settled(Message):
        """The answer's final Markdown update is done (it may be frozen from now on)."""

        def __init__(self, answer: AnswerView) -> None:
            super().__init__()
            self.answer = answer

    def __init__(self, tier: str, model: str, tier_names: Sequence[str], *,
                 blind_label: str | None = None) -> None:
        super().__init__()
        self.tier_names = list(tier_names)
        self.blind_label = blind_label  # blind compare: only "A"/"B" until the verdict
        self.started = time.monotonic()
        self.first_text_at: float | None = None
        self.tier = tier
        self.model = model
        self.parts: list[str] = []
        self.notes: list[str] = []
        self.finished: Answer | None = None
        self.status = "running"
        self.marks: list[str] = []
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.header = Static(self._header(), classes="answer-header")
        self.body: Markdown | None = Markdown("", classes="answer-body")
        self.note = Static("", classes="answer-note")
        self.note.display = False
        self.settled = False
        self.frozen = False

    def compose(self):
        yield self.header
        yield self.note
        yield self.body

    def on_mount(self) -> None:
        self.run_worker(self._pump(), group="answer-stream", exit_on_error=False)
        if self.finished is None:
            # The header counts the seconds while the answer is awaited or streams, so a slow
            # or stalled provider is visible (esc cancels at any time).
            self._ticker = self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        if self.finished is not None:
            self._ticker.stop()
            return
        self.header.update(self._header())

    @property
    def text(self) -> str:
        return "".join(self.parts)

    # --- called by the turn handlers ----------------------------------------------------
    def apply(self, ev: Event) -> None:
        """Render one engine event of this answer's turn."""
        if isinstance(ev, AttemptStarted):
            self.attempt(ev.tier, ev.model, ev.why)
        elif isinstance(ev, TextDelta):
            self.append(ev.text)
        elif isinstance(ev, CacheHit):
            if not self.parts:
                self.append(ev.text)
        elif isinstance(ev, AttemptFailed) and ev.retryable:
            # A failure that ends the turn is said once, by whoever shows the turn's end.
            self.add_note(f"✗ attempt {ev.attempt} on {ev.tier}: {ev.message}")
        elif isinstance(ev, Escalated):
            self.add_note(f"escalated {ev.from_tier} → {ev.to_tier}: {ev.reason}")
        elif isinstance(ev, TurnFinished):
            self.finish(ev.answer, ev.status)

    def show(self, answer: Answer, status: str = "ok") -> None:
        """Draw a complete answer at once."""
        self.attempt(answer.tier, answer.model, "routed")
        self.append(answer.text)
        self.finish(answer, status)

    def attempt(self, tier: str, model: str, why: str) -> None:
        if self.parts:
            self.parts.clear()
            self._queue.put_nowait(_RESET)
        self.tier, self.model = tier, model
        if why in ("fallback", "escalation") and why not in self.marks:
            self.marks.append(why)
        self.header.update(self._header())

    def append(self, text: str) -> None:
        if self.first_text_at is None and text:
            self.first_text_at = time.monotonic()
            # Now, not at the next one-second tick: "waiting for the first token" must not
            # stay above text that is already streaming.
            self.header.update(self._header())
        text = inert(text)
        self.parts.append(text)
        self._queue.put_nowait(text)

    def add_note(self, text: str) -> None:
        self.notes.append(inert(text))
        self.note.update(Content.styled("\n".join(self.notes), "$rd-cost-warning"))
        self.note.display = True

    def finish(self, answer: Answer, status: str) -> None:
        self.finished, self.status = answer, status
        self.tier, self.model = answer.tier or self.tier, answer.model or self.model
        if answer.text and status in ("ok", "truncated", "cancelled"):
            self.parts = [inert(answer.text)]
        self.header.update(self._header())
        self.set_class(status not in ("ok", "truncated"), "-failed")
        self._queue.put_nowait(_END)

    def mark_replaced(self) -> None:
        """This answer's turn was regenerated or edited: it stays on screen, dimmed."""
        self.remove_class("-turn")
        self.add_class("-replaced")
        self.add_note("replaced by a new answer (no longer sent with the conversation)")

    def replace_answer(self, answer: Answer) -> None:

        """The compare view kept another tier's answer for this turn: show that one instead."""
        self.finished, self.status = answer, "ok"
        self.tier, self.model = answer.tier, answer.model
        self.parts = [inert(answer.text)]
        if "compare" not in self.marks:
            self.marks.append("compare")
        self.set_class(False, "-failed")
        self.header.update(self._header())
        if self.frozen:
            self.query_one(".answer-frozen", Static).update(self._rich(self.text))
        elif self.settled and self.body is not None:
            self.body.update(self.text)

    # --- rendering ------------------------------------------------------------------------
    def _waiting(self) -> str:
        elapsed = f"{time.monotonic() - self.started:.0f} s"
        if self.first_text_at is None:
            return f" · waiting for the first token… {elapsed}"
        return f" · streaming… {elapsed}"

    def _header(self) -> Content:
        if self.blind_label is not None:
            state = self._waiting() if self.finished is None else " · tier hidden until your verdict"
            return Content.assemble((self.blind_label, "bold"), (state, "dim"))
        style = tier_style(self.tier, self.tier_names)
        parts: list[Content | str | tuple[str, str]] = [(self.tier, f"{style} bold"), " · ", self.model]
        ans = self.finished
        if ans is None:
            parts.append((self._waiting(), "dim"))
        else:
            parts.append(f" · {seconds(ans.latency_s)}")
            if ans.usage is not None:
                est = "~" if ans.usage.source == "estimated" else ""
                parts.append(f" · {est}{tokens(ans.usage.input_tokens)}→{est}"
                             f"{tokens(ans.usage.output_tokens)} tok")
            parts.append(f" · {format_usd(ans.cost_usd)}")
        for mark, colour in self._marks():
            parts += ["  ", (f"[{mark}]", f"{colour} bold")]
        return Content.assemble(*parts)

    def _marks(self) -> list[tuple[str, str]]:
        ans, status = self.finished, self.status
        out: list[tuple[str, str]] = []
        if ans is not None and ans.cached:
            out.append(("cached", "$rd-savings"))
        if ans is not None and ans.fallback_from:
            out.append((f"fallback from {ans.fallback_from}", "$warning"))
        elif "fallback" in self.marks:
            out.append(("fallback", "$warning"))
        if ans is not None and ans.escalated_from and "compare" not in self.marks:
            out.append((f"escalated from {ans.escalated_from}", "$warning"))
        elif "escalation" in self.marks:
            out.append(("escalated", "$warning"))
        if "compare" in self.marks or (ans is not None and ans.kept_after_compare):
            out.append(("kept after compare", "$accent"))
        if ans is not None and ans.estimated and not ans.cached:  # a cache hit used nothing
            out.append(("usage estimated", "$rd-cost-warning"))
        if status == "truncated":
            cut = "cut at max_output_tokens" if ans is not None and \
                ans.finish_reason == "length" else "TRUNCATED"
            out.append((cut, "$error"))
        if status == "cancelled":
            out.append(("cancelled", "$error"))
        if status in ("error", "crashed"):
            out.append(("failed", "$error"))
        return out

    async def _pump(self) -> None:
        stream = Markdown.get_stream(self.body)
        done = False
        try:
            while not done:
                batch = [await self._queue.get()]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                text: list[str] = []
                for item in batch:
                    if isinstance(item, str):
                        text.append(item)
                        continue
                    if text:
                        await stream.write("".join(text))
                        text = []
                    if item is _END:
                        done = True
                        break
                    await stream.stop()  # _RESET
                    await self.body.update("")
                    stream = Markdown.get_stream(self.body)
                if text and not done:
                    await stream.write("".join(text))
        finally:
            await stream.stop()
        # The final full parse: fences and tables split across deltas render correctly.
        await self.body.update(self.text)
        self.settled = True
        self.post_message(self.Settled(self))

    def _rich(self, text: str) -> RichMarkdown:
        dark = self.app.current_theme.dark
        return RichMarkdown(text, code_theme="monokai" if dark else "default", hyperlinks=False)

    async def freeze(self) -> None:
        """Swap the Markdown widget tree for one Static with the same text, rendered by Rich."""
        if self.frozen or not self.settled:
            return
        self.frozen = True
        frozen = Static(self._rich(self.text), classes="answer-frozen")
        # Drop our reference too, or the removed Markdown tree (dozens of widgets, their
        # caches and message queues) stays alive for the rest of the session.
        body, self.body = self.body, None
        await body.remove()
        await self.mount(frozen)


class ChatView(VerticalScroll):
    """The conversation; keeps at most ``max_turns`` turns mounted so long sessions stay fast."""

    def __init__(self, tier_names: Sequence[str], max_turns: int = 60, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tier_names = list(tier_names)
        self.max_turns = max_turns
        self.hidden_turns = 0
        self._turn_starts: list[UserMessage] = []
        self._hidden_note = Static("", classes="hidden-note")
        self._hidden_note.display = False

    def compose(self):
        yield self._hidden_note

    def on_mount(self) -> None:
        self.anchor()

    async def on_answer_view_settled(self, message: AnswerView.Settled) -> None:
        live = [a for a in self.query_children(AnswerView) if not a.frozen]
        for answer in live[:-LIVE_ANSWERS]:
            await answer.freeze()

    def add_user(self, text: str) -> UserMessage:
        msg = UserMessage(text)
        self._turn_starts.append(msg)
        self.mount(msg)
        self._trim()
        return msg

    def add_answer(self, tier: str, model: str) -> AnswerView:
        view = AnswerView(tier, model, self.tier_names)
        self.mount(view)
        return view

    def add_notice(self, text: str | Content, kind: str = "info") -> Notice:
        notice = Notice(text, kind)
        self.mount(notice)
        return notice

    def clear_chat(self) -> None:
        for child in list(self.children):
            if child is not self._hidden_note:
                child.remove()
        self._turn_starts.clear()
        self.hidden_turns = 0
        self._hidden_note.display = False

    @property
    def mounted_turns(self) -> int:
        return len(self._turn_starts)

    def _trim(self) -> None:
        """Unmount the oldest turns past the cap; the history itself is kept by the session."""
        excess = len(self._turn_starts) - self.max_turns
        if excess <= 0:
            return
        cut_at = self._turn_starts[excess]
        doomed = []
        for child in self.children:
            if child is cut_at:
                break
            if child is not self._hidden_note:
                doomed.append(child)
        self.remove_children(doomed)
        del self._turn_starts[:excess]
        self.hidden_turns += excess
        self._hidden_note.update(Content.styled(
            f"… {self.hidden_turns} earlier turn(s) not shown (still in the conversation)", "dim"))
        self._hidden_note.display = True
