"""The decision panel: why the current prompt went where it went, shown on RouteDecided."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

from app.core.calling.events import Answer
from app.core.routing.types import RouteDecision, digits_apart
from app.tui.fmt import format_usd, hanging, ms, tier_style

LABEL = "dim"
WIDTH = 10  # label column
SIGNAL_CHARS = 30  # a signal stays on one line of the panel


def _row(label: str, *parts: Content | str | tuple[str, str]) -> Content:
    return Content.assemble((f"{label:<{WIDTH}}", LABEL), *parts, "\n")


def outcome_row(outcome: Outcome, tier_names: Sequence[str]) -> Content:
    """Where the answer that stands came from: it can differ from the route (fallback,
    cascade, a re-run kept after compare)."""
    ans = outcome.answer
    marks = []
    if ans.fallback_from:
        marks.append(f"fallback from {ans.fallback_from}")
    if ans.escalated_from and not outcome.kept_after_compare:
        marks.append(f"escalated from {ans.escalated_from}")
    if outcome.kept_after_compare:
        marks.append("kept after compare")
    if outcome.status not in ("ok", "truncated"):
        marks.append(outcome.status)
    elif outcome.status == "truncated":
        marks.append("cut short")
    row = _row("answered", (ans.tier, f"{tier_style(ans.tier, tier_names)} bold"),
               f" · {ans.model}")
    if marks:
        row = Content.assemble(row, _row("", (", ".join(marks), "$warning")))
    return row


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    status: str
    kept_after_compare: bool = False


# Rules that set the tier whatever the score said (policy.decide's precedence).
OVERRIDES = frozenset(("forced", "pinned", "budget_block", "budget_downgrade", "keyword",
                       "sticky"))


def render_decision(d: RouteDecision, tier_names: Sequence[str], pin: str | None = None,
                    outcome: Outcome | None = None, width: int = 0, height: int = 0) -> Content:
    """The panel's text; ``width`` (the panel's content width, 0 if unknown) decides how much
    of each signal fits on its one line, and ``height`` (its content height, 0 if unknown)
    which lines give way when they do not all fit (see _fit)."""
    signal_chars = max(12, min(SIGNAL_CHARS, width - WIDTH - 6)) if width else SIGNAL_CHARS
    style = tier_style(d.tier, tier_names)
    score = "" if 0 < width < 44 else "score "
    if d.threshold is None:
        versus = ""
    elif d.rule in OVERRIDES and d.score_tier and d.score_tier != d.tier:
        # The tier did not come from the score: "premium (score 0.10 < 0.20)" would read as
        # a contradiction. Where the score alone would have gone; the flag says what decided.
        versus = f"  ({score}{d.score:.2f} alone: {d.score_tier})"
    else:
        own = d.model_score
        n = digits_apart(d.threshold, d.score)
        if own is not None and round(own, 2) != round(d.score, 2):
            # The policy moved the score to its tier's side of the threshold ("0.20 >= 0.20"
            # would hide that): the classifier's own score, then where the policy put it.
            versus = f"  ({score}{own:.2f} → {d.score:.{n}f})"
        else:
            # ">=" as the reason writes it: "≥" here and ">=" in the line below read as two.
            versus = (f"  ({score}{d.score:.{n}f} {'>=' if d.score >= d.threshold else '<'} "
                      f"{d.threshold:.{n}f})")
    flags = [f for f, on in (("forced", d.forced), ("pinned", d.pinned), ("BLOCKED", d.blocked)) if on]
    lines = [
        _row("tier", (d.tier, f"{style} bold"), versus,
             (f"  [{', '.join(flags)}]" if flags else "", "$warning")),
        _row("model", f"{d.model}  via {d.provider}"),
    ]
    task = d.task_label or d.task_type
    # The score's confidence (against the threshold), not the task classifier's: said so, as
    # it sits on the task's line.
    confidence = f"score confidence {d.confidence:.2f}"
    split_confidence = None
    if 0 < width < WIDTH + len(task) + 3 + len(confidence):
        split_confidence = _row("", (confidence, LABEL))
        lines += [_row("task", task), split_confidence]
    else:
        lines.append(_row("task", task, (f"   {confidence}", LABEL)))
    lines.append(_row("why", hanging(d.reason, width, WIDTH)))
    if outcome is not None and (outcome.answer.tier != d.tier or outcome.status != "ok"
                                or outcome.kept_after_compare):
        lines.append(outcome_row(outcome, tier_names))
    smaller: list[Content] = []  # signals after the first, smallest last
    for i, sig in enumerate(d.signals[:4]):
        colour = ("$success" if sig.weight < 0 else "$rd-cost-warning") if round(sig.weight, 2) \
            else LABEL
        label = sig.label if len(sig.label) <= signal_chars else sig.label[: signal_chars - 1] + "…"
        lines.append(_row("signals" if i == 0 else "", (sig.weight_text, colour), f" {label}"))
        if i:
            smaller.append(lines[-1])
    decided = _row("decided", f"{ms(d.decision_us)}", (f"   {d.strategy}", LABEL))
    lines.append(decided)
    # What gives way first when the panel is short (see _fit).
    spare = [*reversed(smaller), decided, *([split_confidence] if split_confidence else [])]
    names = max((len(e.tier) for e in d.estimates), default=0)
    # "◂ routed" on a narrow panel: the arrow alone (a cut "◂" and "routed" wrapped under
    # the labels said less).
    mark = "  ◂" if 0 < width < WIDTH + names + 11 + len("  ◂ routed") else "  ◂ routed"
    for i, e in enumerate(d.estimates):
        chosen = mark if e.tier == d.tier else ""
        lines.append(_row("est. cost" if i == 0 else "",
                          (f"{e.tier:<{names}}", tier_style(e.tier, tier_names)),
                          f"  {format_usd(e.cost_usd):>9}", (chosen, LABEL)))
    if d.estimates:
        first = d.estimates[0]
        tokens = f"~{first.input_tokens} in / {first.output_tokens} out tok (est.)"
        lines.append(_row("", (hanging(tokens, width, WIDTH), LABEL)))
        spare.insert(0, lines[-1])  # a detail of the estimate: the first to go
    if pin:
        lines.append(_row("session", (f"pinned to {pin}", "$warning")))
    elif d.pinned:
        # The decision above was pinned; without this its "tier pinned to ..." reads as now.
        lines.append(_row("session", ("pin lifted: the next prompt is routed", LABEL)))
    return Content("").join(_fit(lines, spare, height)).rstrip("\n")


def _fit(lines: list[Content], spare: list[Content], height: int) -> list[Content]:
    """``lines`` without as many ``spare`` ones (first given way first) as it takes to fit
    ``height`` rows, so a short panel cuts the token estimate, the smaller signals and the
    timing rather than the cost of each tier at its bottom."""
    rows = sum(line.plain.count("\n") for line in lines)
    if not height or rows <= height:
        return lines
    drop: set[int] = set()
    for line in spare:
        if rows <= height:
            break
        drop.add(id(line))
        rows -= line.plain.count("\n")
    return [line for line in lines if id(line) not in drop]


class DecisionPanel(Static):
    """Tier, model, task, score vs threshold, reason, signals, timing and per-tier estimates."""

    def __init__(self, tier_names: Sequence[str], **kwargs) -> None:
        super().__init__(self._idle_text(None), **kwargs)
        self.tier_names = list(tier_names)
        self.decision: RouteDecision | None = None
        self.outcome: Outcome | None = None
        self.pin: str | None = None
        self.border_title = "Decision"

    @staticmethod
    def _idle_text(pin: str | None) -> Content:
        hint = Content.styled("Type a prompt: the route and its reasons show here before "
                              "the first token arrives.", LABEL)
        if pin:
            hint = Content.assemble(hint, "\n", (f"session pinned to {pin}", "$warning"))
        return hint

    def show(self, decision: RouteDecision) -> None:
        self.decision, self.outcome = decision, None
        self._redraw()

    def show_outcome(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._redraw()

    def _redraw(self) -> None:
        if self.decision is not None:
            # The panel's height comes from the layout (1fr), not from its text: a repaint
            # suffices, and a reflow would re-arrange every answer mounted in the chat.
            self.update(render_decision(self.decision, self.tier_names, self.pin, self.outcome,
                                        self.content_size.width, self.content_size.height),
                        layout=False)

    def on_resize(self) -> None:
        self._redraw()

    def set_pin(self, pin: str | None) -> None:
        self.pin = pin
        if self.decision is None:
            self.update(self._idle_text(pin))
        else:
            self._redraw()
