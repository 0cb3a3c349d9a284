"""The compare view: the answer given on the left, another tier's answer on the right.

Live (Ctrl+E in the console): the right column streams a re-run of the turn through the
engine, in a worker owned by this screen that only posts :class:`CompareEvent` messages; the
handlers here render them. Review (``routedeck review``): both stored answers are shown at once.

The screen never stores anything: it dismisses with the verdict id ("cheap_enough",
"premium_better", "tie"), "skip" (review only) or None (Esc), and its caller asks the core
to record it. Leaving while the right answer streams cancels that call (the engine records
the cancelled attempt, so what was spent stays in the ledger).
"""

from __future__ import annotations

import re
import secrets
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from app.core.calling.events import Answer, Event, TurnFinished
from app.core.conversation.escalation import (
    VERDICT_KEYS,
    EscalationRefused,
    Plan,
    verdict_words,
)
from app.core.textsafe import inert
from app.tui.widgets.chat import AnswerView

if TYPE_CHECKING:
    from app.core.conversation.session import ConsoleSession

DIFF_MAX_CHARS = 3_000  # the diff is for short answers; long ones read better side by side
TITLE_PROMPT_CHARS = 70
_TOKENS = re.compile(r"\s+|[^\s]+")

KEY_HELP: tuple[tuple[str, str, str], ...] = (
    # (keys shown, action, text)
    # A verdict's text is its id: the line names the two tiers judged (verdict_words).
    ("1/c", "verdict", "cheap_enough"),
    ("2/p", "verdict", "premium_better"),
    ("3/t", "verdict", "tie"),
    ("d", "toggle_diff", "diff"),
    ("r", "other_tier", "other tier"),
    ("n/s", "skip", "skip"),
    ("esc", "leave", "leave without verdict"),
)
SHORT_LABELS = {"leave without verdict": "leave", "other tier": "other"}
BLIND_KEY_HELP: tuple[tuple[str, str, str], ...] = (
    ("1", "verdict", "A better"),
    ("2", "verdict", "B better"),
    ("3", "verdict", "same"),
    *(k for k in KEY_HELP if k[1] != "verdict"),
)


class CompareEvent(Message):
    """One engine event of re-run number ``run`` (a stale run's events are ignored)."""

    def __init__(self, run: int, event: Event) -> None:
        super().__init__()
        self.run = run
        self.event = event


class CompareRefused(Message):
    """The re-run could not start (the session said why, in words): nothing was sent."""

    def __init__(self, run: int, text: str) -> None:
        super().__init__()
        self.run = run
        self.text = text


def diff_content(given: str, other: str) -> Content:
    """Word-level diff: words only in the given answer struck out, words only in the other
    answer underlined, shared text plain."""
    a, b = _TOKENS.findall(given), _TOKENS.findall(other)
    parts: list[Content | str | tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append("".join(a[i1:i2]))
            continue
        if op in ("delete", "replace"):
            parts.append(("".join(a[i1:i2]), "$error strike"))
        if op in ("insert", "replace"):
            parts.append(("".join(b[j1:j2]), "$success underline"))
    return Content.assemble(*parts)


def _prompt_line(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= TITLE_PROMPT_CHARS else line[: TITLE_PROMPT_CHARS - 1] + "…"


class CompareScreen(Screen[str | None]):
    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #compare-title { height: auto; padding: 0 1; background: $panel; }
    CompareScreen #compare-cols { height: 1fr; }
    CompareScreen .compare-col {
        width: 1fr; border: round $primary 40%; border-title-color: $primary; padding: 0 1;
    }
    CompareScreen #compare-diff-box {
        height: 1fr; border: round $accent; border-title-color: $accent; padding: 0 1;
        display: none;
    }
    CompareScreen.-diff #compare-diff-box { display: block; }
    CompareScreen.-diff #compare-cols { display: none; }
    CompareScreen #compare-keys { height: 1; padding: 0 1; background: $panel; }
    """

    BINDINGS = [
        Binding("1,c", "verdict('cheap_enough')", "cheap was enough", id="verdict_cheap"),
        Binding("2,p", "verdict('premium_better')", "premium was better", id="verdict_premium"),
        Binding("3,t", "verdict('tie')", "tie", id="verdict_tie"),
        Binding("d", "toggle_diff", "diff", id="compare_diff"),
        Binding("r", "other_tier", "other tier", id="compare_other_tier"),
        Binding("n,s", "skip", "skip", id="review_skip"),
        Binding("escape", "leave", "leave", id="compare_leave"),
        Binding("q", "quit_review", "quit", id="review_quit"),
    ]

    def __init__(self, given: Answer, tier_names: list[str], prompt: str, *,
                 session: ConsoleSession | None = None, plan: Plan | None = None,
                 other: Answer | None = None, title: str = "",
                 labels: tuple[str, str] = ("", ""), blind: bool = False) -> None:
        super().__init__()
        # Blind: the columns are "A" and "B" in random order and nothing says which tier or
        # cost is which until the verdict is given.
        self.blind = blind
        self.swapped = blind and secrets.randbelow(2) == 1
        self.given = given
        self.tier_names = tier_names
        self.prompt = prompt
        self.session = session
        self.plan = plan
        self.review = plan is None
        self.other = other  # the right answer once it is complete
        self.title_text = title
        self.labels = labels
        self.run_no = 0
        self.failed = ""
        self._right: AnswerView | None = None

    # --- construction -----------------------------------------------------------------
    @classmethod
    def live(cls, session: ConsoleSession, plan: Plan, blind: bool = False) -> CompareScreen:
        return cls(plan.given, session.tier_names, plan.prompt, session=session, plan=plan,
                   title=f"Compare turn {plan.turn_index + 1}", blind=blind)

    @classmethod
    def stored(cls, pair: dict[str, Any], tier_names: list[str], title: str,
               blind: bool = False) -> CompareScreen:
        from app.core.conversation.stored import answer_from_request

        a, b = pair.get("answer"), pair.get("compared")
        given = answer_from_request(a, (a or {}).get("answer") or "(answer text not stored)")
        other = answer_from_request(b, (b or {}).get("answer") or "(answer text not stored)")
        return cls(given, tier_names, pair.get("prompt") or "(prompt not stored)", other=other,
                   title=title, labels=(f"A — {given.tier}", f"B — {other.tier}"), blind=blind)

    # --- which column is which ------------------------------------------------------------
    @property
    def _given_col(self) -> str:
        return "#compare-right" if self.swapped else "#compare-left"

    @property
    def _other_col(self) -> str:
        return "#compare-left" if self.swapped else "#compare-right"

    def _label(self, given: bool) -> str:
        """Column title: the tier when not blind, else A (left) or B (right)."""
        left = given != self.swapped
        if self.blind:
            return "A" if left else "B"
        if given:
            return self.labels[0] or "the answer given"
        return self.labels[1] or f"re-run on {self.plan.tier if self.plan else '?'}"

    @property
    def given_cheaper(self) -> bool:
        return self.plan.upward if self.plan is not None else True

    def blind_verdict(self, side_a_better: bool | None) -> str:
        """The stored verdict for "A better" (True), "B better" (False) or "same" (None)."""
        if side_a_better is None:
            return "tie"
        given_better = side_a_better != self.swapped
        return "cheap_enough" if given_better == self.given_cheaper else "premium_better"

    def reveal(self) -> str:
        def side(ans: Answer | None) -> str:
            return f"{ans.tier} ({ans.model})" if ans is not None else "?"

        a, b = (self.other, self.given) if self.swapped else (self.given, self.other)
        return f"A was {side(a)}, B was {side(b)}."

    def compose(self) -> ComposeResult:
        title = Content.assemble((self.title_text or "Compare", "bold $primary"), "  ",
                                 ("“" + inert(_prompt_line(self.prompt)) + "”", "italic"))
        yield Static(title, id="compare-title")
        with Horizontal(id="compare-cols"):
            for given in (not self.swapped, self.swapped):
                col = VerticalScroll(classes="compare-col",
                                     id="compare-left" if given != self.swapped else "compare-right")
                col.border_title = self._label(given)
                with col:
                    if given:
                        yield self._answer_view(self.given, self._label(True))
                    elif self.other is not None:
                        yield self._answer_view(self.other, self._label(False))
        with VerticalScroll(id="compare-diff-box") as box:
            box.border_title = "diff"
            yield Static("", id="compare-diff")
        yield Static(self._keys(), id="compare-keys")

    def _answer_view(self, answer: Answer, label: str) -> AnswerView:
        view = AnswerView(answer.tier, answer.model, self.tier_names,
                          blind_label=label if self.blind else None)
        view.show(answer)
        return view

    def on_mount(self) -> None:
        if self.plan is not None:
            self._start(self.plan)

    # --- the live re-run ----------------------------------------------------------------
    def _start(self, plan: Plan) -> None:
        self.plan = plan
        self.other = None
        self.failed = ""
        self.run_no += 1
        self.remove_class("-diff")
        col = self.query_one(self._other_col, VerticalScroll)
        col.border_title = self._label(False)
        if self._right is not None:
            self._right.remove()
        assert self.session is not None
        self._right = AnswerView(plan.tier, self.session.settings.tier(plan.tier).model,
                                 self.tier_names,
                                 blind_label=self._label(False) if self.blind else None)
        col.mount(self._right)
        self.run_worker(self._run(self.run_no, plan), group="compare", exclusive=True,
                        exit_on_error=False)
        self._refresh_keys()

    async def _run(self, run: int, plan: Plan) -> None:
        assert self.session is not None
        try:
            async for ev in self.session.escalate(plan.turn_index, plan.tier):
                self.post_message(CompareEvent(run, ev))
        except EscalationRefused as exc:
            self.post_message(CompareRefused(run, str(exc)))

    def on_compare_event(self, message: CompareEvent) -> None:
        right = self._right
        if message.run != self.run_no or right is None:
            return
        ev = message.event
        right.apply(ev)
        if isinstance(ev, TurnFinished):
            if ev.status == "ok" and ev.answer.text:
                self.other = ev.answer
            else:
                self.failed = ev.message or f"the re-run ended: {ev.status}"
                right.add_note(self.failed)
            self._refresh_keys()

    def on_compare_refused(self, message: CompareRefused) -> None:
        if message.run != self.run_no or self._right is None:
            return
        self.failed = message.text
        self._right.add_note(message.text)
        self._refresh_keys()

    @property
    def streaming(self) -> bool:
        return not self.review and self.other is None and not self.failed

    # --- keys -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verdict":
            if self.review:
                return True
            return self.other is not None and self.session is not None \
                and self.session.pending is not None
        if action == "toggle_diff":
            return self.other is not None
        if action == "other_tier":
            return not self.review and len(self.tier_names) > 2
        if action in ("skip", "quit_review"):
            return self.review
        if action == "leave":
            return True
        return True

    def _enabled(self, action: str) -> bool:
        param: tuple[object, ...] = ("tie",) if action == "verdict" else ()
        return bool(self.check_action(action, param))

    def _keys(self) -> Content:
        line = self._key_line(short=False)
        # One line of keys: in a narrow terminal the labels take their short forms rather
        # than lose the last keys (esc's "leave" was cut at 80 columns).
        if 0 < self.size.width and len(line.plain) > self.size.width - 2:
            line = self._key_line(short=True)
        return line

    @property
    def judged_tiers(self) -> tuple[str, str]:
        """(cheaper tier, pricier tier) of the two answers: what the verdict keys name."""
        if self.plan is not None:
            return self.plan.tiers()
        return self.given.tier, self.other.tier if self.other is not None else "premium"

    def _key_line(self, short: bool) -> Content:
        parts: list[Content | str | tuple[str, str]] = []
        lower, higher = self.judged_tiers
        for keys, action, text in (BLIND_KEY_HELP if self.blind else KEY_HELP):
            if action == "verdict" and text in VERDICT_KEYS:
                short_text = {"cheap_enough": f"{lower} ok", "premium_better": higher}.get(
                    text, VERDICT_KEYS[text])
                text = verdict_words(text, lower, higher)
            else:
                short_text = SHORT_LABELS.get(text, text)
            if action == "skip" and not self.review:
                continue
            if action == "other_tier" and (self.review or len(self.tier_names) <= 2):
                continue
            on = self._enabled(action)
            label = "quit" if action == "leave" and self.review else text
            if short:
                label = "quit" if action == "leave" and self.review else short_text
            gap = " " if short else "  "
            parts += [(f" {keys} ", "bold reverse" if on else "dim"),
                      (f" {label}{gap}", "" if on else "dim")]
        if self.streaming:
            parts.append(("streaming…", "dim italic"))
        elif self.failed:
            parts.append(("re-run failed" if short else "the re-run failed: nothing to judge",
                          "$error"))
        return Content.assemble(*parts)

    def on_resize(self) -> None:
        if self.is_mounted:
            self._refresh_keys()

    def _refresh_keys(self) -> None:
        self.query_one("#compare-keys", Static).update(self._keys())
        self.refresh_bindings()

    def action_verdict(self, verdict: str) -> None:
        if self.blind:
            # Keys 1/2/3 mean "A better", "B better", "the same" here.
            side = {"cheap_enough": True, "premium_better": False}.get(verdict)
            verdict = self.blind_verdict(side)
            self.app.notify(f"Revealed: {self.reveal()}", timeout=10)
        self.dismiss(verdict)

    def action_skip(self) -> None:
        self.dismiss("skip")

    def action_leave(self) -> None:
        if self.streaming and self.session is not None:
            # The engine ends the re-run as cancelled and records what it cost.
            self.session.cancel_turn()
        self.dismiss(None)

    def action_quit_review(self) -> None:
        self.dismiss(None)

    def action_toggle_diff(self) -> None:
        if self.other is None:
            return
        if max(len(self.given.text), len(self.other.text)) > DIFF_MAX_CHARS:
            self.notify(f"The diff is for short answers (both under {DIFF_MAX_CHARS:,} "
                        "characters); these read better side by side.", severity="warning")
            return
        if not self.has_class("-diff"):
            first, second = (self.other, self.given) if self.swapped else (self.given, self.other)
            names = ("A", "B") if self.blind else ("the answer given",
                                                   f"the {self.other.tier} answer")
            self.query_one("#compare-diff", Static).update(
                Content.assemble((f"struck: only in {names[0]} · underlined: only in "
                                  f"{names[1]}\n\n", "dim"),
                                 diff_content(inert(first.text), inert(second.text))))
        self.toggle_class("-diff")

    def action_other_tier(self) -> None:
        if self.plan is None or self.session is None:
            return
        choices = [t for t in self.tier_names if t != self.given.tier]
        nxt = choices[(choices.index(self.plan.tier) + 1) % len(choices)] \
            if self.plan.tier in choices else choices[0]
        try:
            plan = self.session.plan_escalation(self.plan.turn_index, nxt)
        except EscalationRefused as exc:
            self.notify(str(exc), title="Nothing sent", severity="warning")
            return
        self._start(plan)
