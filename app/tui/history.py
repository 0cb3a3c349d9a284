"""Prompt history: Up/Down in an empty prompt step through earlier prompts, Ctrl+R searches.

The prompts come from the store (every session, newest first, each once) and from what is
sent in this run. Stepping starts only from an empty prompt and goes on while the prompt still
shows the recalled text; typing anything else ends it, so Up and Down move the cursor again.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from app.core.textsafe import inert

SHOWN = 200  # matches listed by the search screen
LINE_CHARS = 110


class PromptHistory:
    def __init__(self) -> None:
        self.items: list[str] = []  # newest first
        self.pos: int | None = None  # index of the recalled prompt while stepping

    def load(self, stored: list[str]) -> None:
        seen = set(self.items)
        self.items += [p for p in stored if p not in seen]

    def add(self, prompt: str) -> None:
        if prompt in self.items:
            self.items.remove(prompt)
        self.items.insert(0, prompt)
        self.pos = None

    def stepping(self, current: str) -> bool:
        """Whether Up/Down belong to the history now (not to the cursor)."""
        if not current:
            return bool(self.items) or self.pos is not None
        return self.pos is not None and self.pos < len(self.items) \
            and self.items[self.pos] == current

    def step(self, delta: int) -> str:
        """The prompt ``delta`` steps older (-1 is Up) or newer; '' past the newest."""
        if delta < 0:
            nxt = 0 if self.pos is None else min(self.pos + 1, len(self.items) - 1)
        else:
            nxt = None if self.pos in (None, 0) else self.pos - 1
        self.pos = nxt
        return "" if nxt is None else self.items[nxt]


def one_line(prompt: str, width: int = LINE_CHARS) -> str:
    line = inert(" ".join(prompt.split()))
    return line if len(line) <= width else line[: width - 1] + "…"


class HistorySearch(ModalScreen[str | None]):
    """Type to filter every earlier prompt; Enter puts the chosen one in the input."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close", id="history_close")]
    AUTO_FOCUS = "#history-query"

    def __init__(self, prompts: list[str]) -> None:
        super().__init__()
        self.prompts = prompts
        self._shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="history-search", classes="dialog") as box:
            box.border_title = "Search earlier prompts"
            box.border_subtitle = "type to filter · ↓ then enter picks · esc closes"
            yield Input(placeholder="words to look for", id="history-query")
            yield OptionList(id="history-matches")
            yield Static("", id="history-count")

    def on_mount(self) -> None:
        self._fill("")

    def _fill(self, query: str) -> None:
        words = query.casefold().split()
        matches = [p for p in self.prompts if all(w in p.casefold() for w in words)]
        self._shown = matches[:SHOWN]
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(one_line(p), id=str(i)) for i, p in enumerate(self._shown)])
        total = len(self.prompts)
        self.query_one("#history-count", Static).update(
            f"{len(matches)} of {total} prompt(s)" if total else "No prompts sent yet.")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._shown:
            self.dismiss(self._shown[0])
        elif self.prompts:  # Enter on no match did nothing a user could see
            self.query_one("#history-count", Static).update(
                f"No earlier prompt has all of these words (0 of {len(self.prompts)}): "
                "change them, or esc closes.")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._shown[int(event.option.id or 0)])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
