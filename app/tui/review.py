"""``routedeck review``: stored answer pairs in the compare view, one by one, for verdicts.

Each pair (from ``routedeck compare`` or an escalation left without a verdict) is shown side
by side, cheaper tier on the left; a verdict key stores the verdict and moves on, n/s skips,
Esc/q stops. The app returns a :class:`ReviewResult`; the command prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import App
from textual.widgets import Static

from app.core.config.settings import Settings
from app.core.conversation.escalation import VERDICT_KEYS, judge_stored_pair
from app.core.ledger.store import Store
from app.tui import themes


@dataclass
class ReviewResult:
    total: int
    judged: int = 0
    skipped: int = 0
    counts: dict[str, int] | None = None

    def summary(self) -> str:
        if not self.judged:
            return f"judged none of {self.total} pair(s)."
        counts = self.counts or {}
        detail = ", ".join(f"{VERDICT_KEYS[k]} {counts[k]}" for k in VERDICT_KEYS if counts.get(k))
        left = self.total - self.judged - self.skipped
        return (f"judged {self.judged} of {self.total} pair(s) ({detail})"
                + (f"; skipped {self.skipped}" if self.skipped else "")
                + (f"; {left} not shown" if left else "") + ".")


class ReviewApp(App[ReviewResult]):
    CSS_PATH = "app.tcss"
    TITLE = "RouteDeck review"

    def __init__(self, settings: Settings, store: Store, pairs: list[dict[str, Any]],
                 blind: bool = False) -> None:
        super().__init__()
        self.blind = blind
        self.settings = settings
        self.store = store
        self.pairs = pairs
        self.tier_names = [t.name for t in settings.tiers]
        self.index = 0
        self.result = ReviewResult(len(pairs), counts={})
        loaded, _ = themes.load_themes()
        for theme in loaded:
            self.register_theme(theme)
        wanted = themes.chosen_theme(settings.ui.theme)
        self.theme = wanted if wanted in self.available_themes else themes.FALLBACK_DARK

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(themes.VARIABLE_DEFAULTS)

    def compose(self):
        yield Static("")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        from app.tui.screens.compare import CompareScreen

        if self.index >= len(self.pairs):
            self.exit(self.result)
            return
        pair = self.pairs[self.index]
        title = f"Review pair {self.index + 1} of {len(self.pairs)}"
        if pair.get("session_id") is not None:
            title += f" (session {pair['session_id']}, {pair.get('source') or 'compare'})"
        self.push_screen(CompareScreen.stored(pair, self.tier_names, title, blind=self.blind),
                         self._judged)

    def _judged(self, verdict: str | None) -> None:
        if verdict is None:
            self.exit(self.result)
            return
        if verdict == "skip":
            self.result.skipped += 1
        else:
            try:
                judge_stored_pair(self.store, self.pairs[self.index], verdict)
            except Exception as exc:  # noqa: BLE001 - shown as text; the pair is shown again
                self.notify(f"The verdict could not be stored: {type(exc).__name__}: {exc}",
                            severity="error", timeout=10)
                self._show()
                return
            self.result.judged += 1
            counts = self.result.counts if self.result.counts is not None else {}
            counts[verdict] = counts.get(verdict, 0) + 1
        self.index += 1
        self._show()
