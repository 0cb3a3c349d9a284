"""The side panels' text at a given width: long values wrap under their value column, not
under the labels (the terminal's own wrap starts continuation lines at the panel's edge)."""

from __future__ import annotations

from app.core.config.settings import Settings
from app.core.conversation.ledger_view import LedgerView
from app.core.routing.policy import route
from app.tui.fmt import hanging
from app.tui.widgets.decision import WIDTH, render_decision
from app.tui.widgets.ledger import LABEL_WIDTH, render_ledger

PANEL = 48  # the side panels' content width at 140 columns


def test_hanging_wraps_under_the_value_column():
    text = "code debug/review needs at least the premium tier; like open Chatbot Arena requests"
    lines = hanging(text, PANEL, WIDTH).split("\n")
    assert len(lines) > 1
    assert all(len(line) <= PANEL - WIDTH for line in lines[:1])
    assert all(line.startswith(" " * WIDTH) and len(line) <= PANEL for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == text
    # Unknown or tiny widths leave the text to the terminal.
    assert hanging(text, 0, WIDTH) == text
    assert hanging(text, WIDTH + 5, WIDTH) == text


def test_a_long_reason_wraps_under_why_not_under_the_labels():
    s = Settings()
    d = route("Analyze this error log and suggest a fix: ERROR db pool exhausted", s)
    assert len(d.reason) > PANEL - WIDTH
    text = render_decision(d, [t.name for t in s.tiers], width=PANEL).plain.split("\n")
    start = next(i for i, line in enumerate(text) if line.startswith("why"))
    after = text[start + 1]
    assert after.startswith(" " * WIDTH) and after.strip()
    assert all(len(line) <= PANEL for line in text[start:start + 4])
    rest = [line for line in text[start + 1:] if not line.startswith(" " * WIDTH)]
    assert rest[0].startswith("signals")  # the next label follows the reason's last line


def test_projected_costs_keep_each_amount_with_its_name():
    v = LedgerView(projected_turns=2, projected_routed_usd=0.000213,
                   projected_premium_usd=0.00354)
    narrow = render_ledger(v, ["cheap", "premium"], width=PANEL).plain.split("\n")
    i = next(i for i, line in enumerate(narrow) if line.startswith("projected"))
    assert narrow[i].rstrip().endswith("$0.000213 routed")
    assert narrow[i + 1] == " " * LABEL_WIDTH + "$0.00354 all-premium"
    assert all(len(line) <= PANEL for line in narrow)
    wide = render_ledger(v, ["cheap", "premium"], width=90).plain
    assert "$0.000213 routed · $0.00354 all-premium" in wide


def test_a_short_panel_keeps_the_cost_of_each_tier():
    s = Settings()
    names = [t.name for t in s.tiers]
    d = route("Review this contract clause for compliance issues", s)
    full = render_decision(d, names, width=40).plain.split("\n")
    assert any("out tok" in line for line in full) and len(full) > 13
    assert any(line.startswith(" " * WIDTH + "score confidence") for line in full)  # 40 is narrow
    short = render_decision(d, names, width=40, height=13).plain.split("\n")
    assert len(short) <= 13
    # The token detail, the smaller signals and the timing give way; every tier's cost stays.
    assert not any("out tok" in line for line in short)
    assert sum(1 for line in short if "$" in line) == len(d.estimates)
    assert any("◂ routed" in line for line in short)
    assert [line for line in short if line.startswith(("tier", "why", "signals"))] == \
        [line for line in full if line.startswith(("tier", "why", "signals"))]


def test_context_signals_show_no_size():
    from app.core.routing.types import Signal

    assert Signal("task: code write", 0.0).render() == "    · task: code write"
    assert Signal("task: code write", 0.004).render() == "    · task: code write"
    assert Signal("asks for code", 0.05).render() == "+0.05 asks for code"
    s = Settings()
    d = route("Implement a red-black tree in Rust with deletion", s)
    text = render_decision(d, [t.name for t in s.tiers], width=PANEL).plain
    assert "+0.00" not in text and "-0.00" not in text
    assert "· task: code write" in text


def test_json_keeps_the_signed_weight_of_every_signal():
    from app.commands.route import decision_row

    d = route("Implement a red-black tree in Rust with deletion", Settings())
    fields = decision_row("1", d)["signals"]
    assert any(f.startswith("+0.00 task: ") for f in fields)
    assert all(f[:1] in "+-" for f in fields)
    assert d.to_dict()["signals"] == fields


def test_strip_and_panel_say_the_same_saving():
    from app.tui.widgets.strip import render_strip

    names = ["cheap", "premium"]
    for v in (LedgerView(), LedgerView(turns=2, spent_usd=0.001, premium_usd=0.004,
                                       savings_usd=0.003, savings_pct=75.0),
              LedgerView(turns=1, savings_usd=None)):
        panel = render_ledger(v, names, width=PANEL).plain
        strip = render_strip(None, v, names, width=120).plain
        saved = next(line for line in panel.split("\n") if line.startswith("saved"))
        amount = saved.split()[1]
        assert f"saved {amount}" in strip, (panel, strip)


def test_the_strip_keeps_the_reason_readable_at_80_columns():
    # At 80 columns the model name and the money's words give way before the reason: it
    # once kept 14 cells of it ("greeting/c…").
    from app.tui.widgets.strip import render_strip

    s = Settings()
    names = [t.name for t in s.tiers]
    d = route("Review this contract clause for compliance issues", s)
    for v in (LedgerView(projected_turns=1, projected_routed_usd=0.0035,
                         projected_premium_usd=0.0035),
              LedgerView(turns=2, spent_usd=0.001, premium_usd=0.004, savings_usd=0.003,
                         savings_pct=75.0)):
        strip = render_strip(d, v, names, width=78).plain
        assert len(strip) <= 78 and strip.startswith("premium · expert review (legal) needs")
        assert "would save 0%" in strip or "saved 75%" in strip
        assert "; like" not in strip  # no scrap of the evidence clause
    # A rule that fits is shown whole: the evidence clause after it gives way first.
    import dataclasses

    calc = dataclasses.replace(d, reason="calculation: score 0.21 >= threshold 0.20; like GSM8K "
                               "word problems, where premium won 21 points more often than cheap")
    strip = render_strip(calc, LedgerView(projected_turns=1, projected_routed_usd=0.0035,
                                          projected_premium_usd=0.0035), names, width=78).plain
    assert strip == "premium · calculation: score 0.21 >= threshold 0.20  │ would save 0%", strip
    # Offline at 80 columns: the saving in words (two bare amounts read as money spent), and
    # room for a greeting's whole reason.
    hi = route("hi", s)
    offline = LedgerView(projected_turns=2, projected_routed_usd=0.000426,
                         projected_premium_usd=0.00711)
    strip = render_strip(hi, offline, names, width=78).plain
    assert strip.endswith("│ would save 94%") and hi.reason in strip
    wide = render_strip(d, LedgerView(), names, width=160).plain
    assert wide.startswith(f"premium {d.model} · ")


def test_a_forced_tier_does_not_read_as_the_score_s_verdict():
    from app.core.routing.policy import SessionState

    s = Settings()
    names = [t.name for t in s.tiers]
    forced = route("hello there", s, state=SessionState(force_next="premium"))
    row = render_decision(forced, names, width=PANEL).plain.split("\n")[0]
    assert "premium" in row and "0.10 alone: cheap" in row and "[forced]" in row
    assert "<" not in row  # "premium (score 0.10 < 0.20)" contradicted itself
    pinned = route("hello there", s, state=SessionState(pinned_tier="cheap"))
    assert "0.10 < 0.20" in render_decision(pinned, names, width=PANEL).plain.split("\n")[0]


def test_a_score_the_policy_moved_shows_where_it_came_from():
    s = Settings()
    names = [t.name for t in s.tiers]
    raised = route("Review this contract clause for compliance issues", s)
    assert raised.model_score is not None and round(raised.model_score, 2) < 0.2
    tier_row = render_decision(raised, names, width=PANEL).plain.split("\n")[0]
    assert f"{raised.model_score:.2f} → {raised.score:.2f}" in tier_row and ">=" not in tier_row
    plain_row = render_decision(route("hi", s), names, width=PANEL).plain.split("\n")[0]
    assert "0.10 < 0.20" in plain_row


def test_help_wraps_key_descriptions_under_their_column():
    from app.tui.screens.help import KEY_COLUMNS, help_text

    lines = help_text({}, width=74).plain.split("\n")
    assert all(len(line) <= 74 for line in lines)
    keys_end = lines.index("")
    continued = [line for line in lines[1:keys_end] if not line.startswith("  ") or
                 line.startswith(" " * KEY_COLUMNS)]
    assert continued, "some description is long enough to wrap at 74 columns"
    assert all(line.startswith(" " * KEY_COLUMNS) for line in continued)
    paragraphs = lines[keys_end + 1:]
    assert all(line.startswith("  ") or ": " in line for line in paragraphs)


def test_the_cost_chart_axis_stays_straight_for_tiny_amounts():
    from app.tui.screens.ledger_details import cost_chart

    for series in ([(0.00001, 0.00003), (0.00002, 0.000056)], [(1.0, 3.0), (2.0, 5.5)]):
        rows = cost_chart(series).plain.split("\n")[:-1]  # the legend has no axis
        axis = {row.index("│") if "│" in row else row.index("└") for row in rows}
        assert len(axis) == 1, rows


def test_panels_side_by_side_at_80_columns_wrap_under_their_values():
    # F3 at 80x24 gives each panel 36 columns: the events row wrapped to the panel's edge,
    # "◂ routed" lost "routed" to the next line and "(est.)" ended up under the labels.
    s = Settings()
    names = [t.name for t in s.tiers]
    d = route("3 day itinerary for lisbon, we like food and walking around", s)
    lines = render_decision(d, names, width=36).plain.split("\n")
    assert all(len(line) <= 36 for line in lines), lines
    routed = next(line for line in lines if d.tier in line and "$" in line)
    assert routed.rstrip().endswith("◂")
    tokens = [i for i, line in enumerate(lines) if "out tok" in line]
    assert tokens and all(line.startswith(" " * WIDTH) for line in lines[tokens[0]:])
    v = LedgerView(fallbacks=1, escalations=2, cache_hits=3)
    ledger = render_ledger(v, names, width=36).plain.split("\n")
    assert all(len(line) <= 36 for line in ledger), ledger
    i = next(i for i, line in enumerate(ledger) if line.startswith("events"))
    assert ledger[i + 1] == " " * LABEL_WIDTH + "cache 3"
