"""Demo playback (``routedeck --play FILE``): type each prompt, send it, wait for the answer.

The worker only posts messages (type, send, done); the app's handlers change the screen.
Pause state and the "answer finished" signal are set by handlers and read by the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from app.core.rows import BadRow, read_rows

TYPE_STEP_S = 0.02  # typing animation tick
TYPE_MAX_S = 0.8  # long prompts are typed in bigger chunks so no prompt takes longer than this


def load_prompts(path: Path) -> tuple[list[str], list[str]]:
    """(prompts, problems) of a text or JSONL prompt file."""
    prompts: list[str] = []
    problems: list[str] = []
    for row in read_rows(path):
        if isinstance(row, BadRow):
            problems.append(f"{path.name}:{row.line}: skipped: {row.problem}")
        elif row.prompt.strip():
            prompts.append(row.prompt)
    return prompts, problems


class Playback:
    def __init__(self, prompts: list[str], delay_s: float) -> None:
        self.prompts = prompts
        self.delay_s = delay_s
        self.sent = 0
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.finished = False

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def toggle(self) -> bool:
        """Pause or resume; returns True when now paused."""
        if self.paused:
            self._resumed.set()
        else:
            self._resumed.clear()
        return self.paused

    def turn_done(self) -> None:
        self._idle.set()

    def turn_started(self) -> None:
        self._idle.clear()

    async def run(self, post: Callable[[Message], object]) -> None:
        from app.tui.messages import PlayDone, PlaySend, PlayType

        for prompt in self.prompts:
            await self._idle.wait()
            await asyncio.sleep(self.delay_s)
            await self._resumed.wait()
            await self._idle.wait()  # the user may have sent something meanwhile
            if self.delay_s > 0:
                steps = max(1, min(len(prompt), int(TYPE_MAX_S / TYPE_STEP_S)))
                size = -(-len(prompt) // steps)
                for end in range(size, len(prompt), size):
                    post(PlayType(prompt[:end]))
                    await asyncio.sleep(TYPE_STEP_S)
            self._idle.clear()
            post(PlaySend(prompt))
            self.sent += 1
        await self._idle.wait()
        self.finished = True
        post(PlayDone(self.sent))
