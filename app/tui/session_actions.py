"""The console's session keys: new (Ctrl+N), the sessions list (F4: resume, rename, delete),
renaming this session and its system prompt. Mixed into :class:`app.tui.app.RouteDeckApp`;
every store call runs off the UI loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.tui.screens.dialogs import AskText, Confirm
from app.tui.screens.sessions import SessionChoice, SessionPicker
from app.tui.widgets.chat import ChatView

if TYPE_CHECKING:
    from app.tui.app import RouteDeckApp


class SessionActions:
    def action_new_session(self: RouteDeckApp) -> None:
        if self.running:
            self.notify("Cancel the answer being streamed first (esc).", severity="warning")
            return
        self.off_loop(self.session.new_session, self._new_session_opened,
                      "No new session: the ledger cannot be written")

    def _new_session_opened(self: RouteDeckApp, session_id: int) -> None:
        self.reset_screen()
        self.query_one(ChatView).add_notice(f"New session {session_id}.", "info")

    def action_sessions(self: RouteDeckApp) -> None:
        self.off_loop(self.session.list_sessions,
                      lambda sessions: self.push_screen(
                          SessionPicker(sessions, self.session.session_id), self._session_chosen),
                      "The stored sessions could not be read")

    def _session_chosen(self: RouteDeckApp, choice: SessionChoice | None) -> None:
        if choice is None:
            return
        info = choice.session
        if choice.action == "resume":
            self._resume(info.id, info.turns)
        elif choice.action == "rename":
            self._ask_rename(info.id, info.title, then=self.action_sessions)
        elif choice.action == "delete" and info.id == self.session.session_id:
            # Said before asking: "Are you sure?" then "it is open" wasted the answer.
            self.notify(f"Session {info.id} is open: start a new one (ctrl+n) before deleting it."
                        , severity="warning")
        elif choice.action == "delete":
            self.push_screen(Confirm(
                f"Delete session {info.id} ({info.title!r})? Its conversation text is "
                "forgotten; its costs and verdict counts stay in the ledger, but its "
                "verdicts no longer teach the router (their prompts go too)."),
                lambda yes: self._delete(info.id) if yes else self.action_sessions())

    def _resume(self: RouteDeckApp, session_id: int, turns: int = 0) -> None:
        # Resuming the open session reads it again: turns another process (`ask -c`) added
        # to it then show and are sent as history.
        if self.running:
            self.notify("Cancel the answer being streamed first (esc).", severity="warning")
            return
        self.off_loop(lambda: self.session.resume(session_id),
                      lambda _: self._resumed(turns),
                      f"Session {session_id} could not be opened")

    def _resumed(self: RouteDeckApp, turns: int = 0) -> None:
        self.reset_screen()
        self.show_stored_turns()
        if turns and not len(self.session.conversation):
            # A `routedeck compare` batch: answered calls, no conversation to show.
            sid = self.session.session_id
            self.query_one(ChatView).add_notice(
                f"Session {sid} has {turns} answered prompt(s) but no conversation to show "
                f"(a `routedeck compare` batch): judge its pairs with `routedeck review "
                f"--session {sid}`. A prompt sent here starts its conversation.", "info")

    def _delete(self: RouteDeckApp, session_id: int) -> None:
        def done(_: None) -> None:
            self.notify(f"Session {session_id} deleted.")
            self.action_sessions()

        self.off_loop(lambda: self.session.delete_session(session_id), done,
                      "The session could not be deleted")

    def action_rename_session(self: RouteDeckApp) -> None:
        if self.session.session_id is not None:
            self._ask_rename(self.session.session_id, self.session.title)

    def _ask_rename(self: RouteDeckApp, session_id: int, title: str, then=None) -> None:  # type: ignore[no-untyped-def]
        def save(new: str | None) -> None:
            if new is None or not new.strip():
                if then is not None:
                    then()
                return

            def saved(stored: str) -> None:
                self.notify(f"Session {session_id} is now {stored!r}.")
                self.refresh_header()
                if then is not None:
                    then()

            self.off_loop(lambda: self.session.rename(new, session_id), saved,
                          "The session could not be renamed")

        self.push_screen(AskText(f"Rename session {session_id}", "A short title:", title), save)

    def action_system_prompt(self: RouteDeckApp) -> None:
        current = self.session.system_prompt or ""
        configured = self.settings.chat.system_prompt

        def save(text: str | None) -> None:
            if text is None:
                return

            def saved(_: None) -> None:
                self.refresh_header()
                self.notify("This session's system prompt is set; it is sent first with every "
                            "prompt from now on." if text.strip() else
                            "This session uses the configured system prompt again.")

            self.off_loop(lambda: self.session.set_system_prompt(text), saved,
                          "The system prompt could not be saved")

        hint = ("Sent first with every prompt of this session (over the tier's and the "
                "configured one). Empty: use the configured one"
                + (f" ({configured[:60]!r})." if configured else " (none)."))
        self.push_screen(AskText("System prompt for this session", hint, current), save)
