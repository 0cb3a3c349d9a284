"""The command palette (Ctrl+P): every console action, the tier pins and the themes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from app.core.textsafe import inert
from app.tui.bindings import key_for
from app.tui.prompting import code_blocks

if TYPE_CHECKING:
    from app.tui.app import RouteDeckApp

# (title, binding id or "", action name, help)
ACTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("Send prompt", "send", "send_prompt", "send what is in the prompt box"),
    ("Cancel running answer", "cancel", "cancel_turn", "stop the answer being streamed"),
    ("Escalate / compare answer", "escalate", "escalate",
     "re-run the selected (or last) answer one tier up, side by side, and judge it"),
    ("Pin tier: cycle", "pin_tier", "cycle_pin", "auto → cheapest → … → premium → auto"),
    ("Force premium for the next prompt", "force_premium", "force_premium",
     "one prompt on the top tier, whatever the router says"),
    ("Copy answer", "copy_answer", "copy_answer",
     "the selected (or last) answer, to the system clipboard (or OSC 52)"),
    ("Search earlier prompts…", "search_history", "search_history",
     "every prompt sent before, in all sessions; enter puts one in the input"),
    ("Regenerate last answer", "regenerate", "regenerate",
     "ask the last prompt again; the new answer replaces the last one"),
    ("Edit last prompt", "edit_last", "edit_last",
     "put the last prompt back in the input; sending replaces that turn"),
    ("Ledger details", "ledger_details", "ledger_details", "per-model table and cost chart"),
    ("Show / hide side panels", "toggle_panels", "toggle_panels",
     "the decision and ledger panels (a one-line strip replaces them)"),
    ("New session", "new_session", "new_session", "start an empty conversation"),
    ("Sessions…", "sessions", "sessions", "resume, rename or delete a stored session"),
    ("Rename this session…", "", "rename_session", "give the session a title"),
    ("Set the session's system prompt…", "", "system_prompt",
     "sent first with every prompt of this session"),
    ("Blind compare: on / off", "", "toggle_blind",
     "compare answers as A and B without knowing which tier is which"),
    ("Pause / resume playback", "play_pause", "toggle_play", "demo playback of --play FILE"),
    ("Help", "help", "help", "keys and what the panels mean"),
    ("Quit", "quit", "quit", "leave RouteDeck"),
)


PALETTE_TURNS = 20  # the newest turns listed as "Compare turn N"


def _short(prompt: str, width: int = 48) -> str:
    line = inert(" ".join(prompt.split()))
    line = line if len(line) <= width else line[: width - 1] + "…"
    return escape(line)  # palette titles are markup: a prompt's brackets stay literal


class RouteDeckCommands(Provider):
    def _commands(self) -> list[tuple[str, Callable[[], object], str]]:
        app = cast("RouteDeckApp", self.app)
        out: list[tuple[str, Callable[[], object], str]] = []
        for title, binding_id, action, help_text in ACTIONS:
            if action == "toggle_play" and app.playback is None:
                continue
            key = key_for(binding_id, app.keymap) if binding_id else ""
            # Help is markup: "[f2]" unescaped is a style tag and vanished (and "[ctrl+e]",
            # which is none, showed), so the keys are escaped.
            out.append((title, partial(app.run_action, action),
                        escape(f"{help_text}  [{key}]") if key else help_text))
        for tier in app.session.tier_names:
            out.append((f"Compare with tier: {tier}", partial(app.escalate, None, tier),
                        f"re-run the selected (or last) answer on {tier}, side by side"))
        chosen = app.chosen_answer()
        if chosen is not None:
            for k, (lang, code) in enumerate(code_blocks(chosen[1]), start=1):
                lines = code.count("\n") + 1
                out.append((f"Copy code block {k} of turn {chosen[0] + 1} ({lang}, {lines} "
                            f"line{'s' if lines != 1 else ''})",
                            partial(app.copy_text, code, f"code block {k}"),
                            _short(code.split("\n", 1)[0], 60)))
        conv = app.session.conversation
        for i in reversed(conv.answered()[-PALETTE_TURNS:]):
            t = conv[i]
            assert t.answer is not None  # answered
            out.append((f"Compare turn {i + 1}: {_short(t.prompt)}", partial(app.escalate, i),
                        f"answered on {t.answer.tier} ({t.answer.model}); re-run one tier up"))
        for tier in ("auto", *app.session.tier_names):
            out.append((f"Pin tier: {tier}", partial(app.pin_tier, None if tier == "auto" else tier),
                        "route every prompt of this session" + ("" if tier == "auto" else f" to {tier}")))
        for name in sorted(app.available_themes):
            if name.startswith("routedeck") or name == app.theme:
                out.append((f"Theme: {name}", partial(setattr, app, "theme", name),
                            "switch now; the choice is remembered"))
        return out

    async def discover(self) -> Hits:
        for title, callback, help_text in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
