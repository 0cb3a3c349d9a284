"""Provider fault matrix through the console (Pilot) against the loopback server.

Same table as the CLI matrix (:mod:`tests.reliability.helpers`). Each case ends with the
documented state on screen (an error notice naming the problem with the failed prompt back in
the input, or the answer after a retry/fallback), one ledger row per attempt, and a console
that answers the next prompt.
"""

from __future__ import annotations

import pytest

from app.core.config.loader import load_settings
from app.tui.widgets.chat import AnswerView, Notice
from app.tui.widgets.prompt import PromptInput
from tests.reliability.helpers import FAULTS, FaultCase
from tests.tui.helpers import make_app, send, wait_for

pytestmark = pytest.mark.reliability

SIZE = (150, 44)






def plain(widget) -> str:
    return str(widget.render())


@pytest.mark.parametrize("case", FAULTS, ids=[c.id for c in FAULTS])
async def test_console_fault_matrix(case: FaultCase, loopback, tmp_path):
    cfg = tmp_path / "faults.toml"
    cfg.write_text(case.config_text(loopback), encoding="utf-8")
    case.inject(loopback)
    app = make_app(load_settings(cfg))
    async with app.run_test(size=SIZE) as pilot:
        prompt = "hello there"
        await send(pilot, prompt)
        await wait_for(pilot, lambda: len(app.session.conversation) == 1 and not app.running)
        errors = [n for n in app.query(Notice) if n.has_class("-error")]
        if case.final == "ok":
            assert not errors
            answer = list(app.query(AnswerView))[-1]
            assert answer.text == loopback.reply
            assert app.query_one(PromptInput).text == ""
        else:
            assert len(errors) == 1
            text = plain(errors[0])
            assert "Traceback" not in text
            for word in case.words:
                assert word in text, text
            assert app.query_one(PromptInput).text == prompt  # left in the input for a retry
        store = app.session.store()
        rows = store.requests()
        assert [(r["status"], r["error_kind"]) for r in rows] == case.rows
        if case.usage_source:
            assert rows[-1]["usage_source"] == case.usage_source

        # Still usable: the next prompt is answered once the provider behaves.
        if case.base_url is None:
            loopback.reset()
            await send(pilot, "and now a second question")
            await wait_for(pilot, lambda: len(app.session.conversation) == 2 and not app.running)
            assert list(app.query(AnswerView))[-1].text == loopback.reply
            assert store.requests()[-1]["status"] == "ok"
        else:
            # Unreachable host: the console keeps accepting prompts (and records each try).
            await send(pilot, "and now a second question")
            await wait_for(pilot, lambda: len(app.session.conversation) == 2 and not app.running)
            assert len(store.requests()) == 2 * len(case.rows)
