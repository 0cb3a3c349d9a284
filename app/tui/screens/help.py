"""F1: what every key does (after [keymap]) and what the panels mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from app.core.config.keys import DESCRIPTIONS
from app.tui.bindings import key_for
from app.tui.fmt import hanging

PANELS = (
    ("Decision", "where the prompt went and why: tier, score against the threshold, the rule "
                 "that fired, the strongest signals, and the estimated cost on every tier. It "
                 "fills in before the first token arrives; 'answered' shows where the answer "
                 "that stands came from when that differs (fallback, cascade, compare)."),
    ("Ledger", "what this session cost, what always using the premium tier would have cost, "
               "the saving, calls per tier, fallbacks, escalations, cache hits and the budget. "
               "Offline, it projects what the routed prompts would have cost."),
    ("Small terminals", "under 120 columns the panels narrow; under 90 (or with F3) a one-line "
                        "strip shows the route and the saving instead."),
    ("Answer header", "tier · model · latency · tokens in→out · cost, and marks for cached, "
                      "fallback, escalated, estimated usage (~) and cut answers; while waiting "
                      "it counts the seconds (esc cancels at any time)."),
    ("Prompts", "Up/Down in an empty prompt recall earlier prompts (all sessions); Ctrl+R "
                "searches them; Ctrl+G asks the last prompt again; Ctrl+L edits it."),
    ("Compare", "Ctrl+Up/Down (or a click) selects an answer; the escalate key re-runs it (else "
                "the last) on the next tier, side by side. 1/c cheap was enough, 2/p premium "
                "was better, 3/t tie, d diff, r other tier, esc no verdict. 'Premium was "
                "better' keeps its answer and the session on that tier (the pin key ends that). "
                "Blind compare (palette) shows A and B without tiers until the verdict. F2 "
                "shows satisfaction and the router scored on your verdicts."),
    ("Palette", "Ctrl+P lists every action, including themes, sessions, the system prompt "
                "and copying code blocks; [keymap] in the config remaps any key by its "
                "binding id."),
)


KEY_COLUMNS = 32  # "  key" (16) + binding id (16): descriptions start here


def help_text(keymap: dict[str, str], width: int = 0) -> Content:
    """The help, wrapped for ``width`` columns (0: left to the terminal): key descriptions
    continue under their column, paragraphs two columns in."""
    rows = [Content.styled("Keys", "bold $primary")]
    keys = [(key_for(binding_id, keymap), binding_id, what)
            for binding_id, what in DESCRIPTIONS.items()]
    keys.append(("ctrl+p", "palette", "command palette"))
    for key, binding_id, what in keys:
        rows.append(Content.assemble((f"  {key:<14}", "bold"), (f"{binding_id:<16}", "dim"),
                                     hanging(what, width, KEY_COLUMNS)))
    rows.append(Content(""))
    for title, text in PANELS:
        head = f"{title}: "
        body = hanging(head + text, width, 2)[len(head):]
        rows.append(Content.assemble((head, "bold $primary"), body))
    return Content("\n").join(rows)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,f1,q", "dismiss", "Close", id="help_close"),
    ]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body", classes="dialog") as body:
            body.border_title = "RouteDeck help"
            body.border_subtitle = "esc closes"
            yield Static(help_text(self.keymap), id="help-text")

    def on_resize(self) -> None:
        # The width inside the scrollbar: the text is wrapped here, not by the terminal.
        width = self.query_one("#help-body", VerticalScroll).scrollable_content_region.width
        self.query_one("#help-text", Static).update(help_text(self.keymap, width - 2))
