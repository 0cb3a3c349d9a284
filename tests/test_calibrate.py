"""Threshold calibration on a fixed label set whose best threshold is known."""

from __future__ import annotations

import pytest

from app.core.evaluation.calibrate import calibrate, new_thresholds, operating_point
from app.core.evaluation.metrics import Outcome

SCORES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
# Premium only helps on the four highest-scored prompts; cheap is right everywhere else.
OUTCOMES = [Outcome(cheap=0.0 if s >= 0.7 else 1.0, premium=1.0, cheap_cost=0.1, premium_cost=1.0)
            for s in SCORES]


def test_full_quality_needs_exactly_the_four_hard_prompts():
    p = calibrate(OUTCOMES, SCORES, quality=1.0)
    assert p.threshold == pytest.approx(0.7)
    assert p.premium_share == pytest.approx(0.4)
    assert p.quality_share == pytest.approx(1.0) and p.pgr == pytest.approx(1.0)
    assert p.cost_share == pytest.approx((4 * 1.0 + 6 * 0.1) / 10)


def test_premium_share_is_a_ceiling():
    p = calibrate(OUTCOMES, SCORES, premium_share=0.25)
    assert p.premium_share == pytest.approx(0.2) and p.threshold == pytest.approx(0.9)
    none = calibrate(OUTCOMES, SCORES, premium_share=0.0)
    assert none.premium_share == 0.0 and none.threshold > 1.0 - 1e-3


def test_budget_buys_the_best_quality_it_can():
    p = calibrate(OUTCOMES, SCORES, budget=0.5)
    assert p.threshold == pytest.approx(0.7)  # four premium calls cost 0.46 of always-premium
    tight = calibrate(OUTCOMES, SCORES, budget=0.2)
    assert tight.premium_share == pytest.approx(0.1) and tight.cost_share <= 0.2


def test_unreachable_quality_falls_back_to_all_premium():
    bad = [Outcome(0.0, 0.5, 0.1, 1.0) for _ in SCORES]
    assert calibrate(bad, SCORES, quality=1.0).premium_share == 1.0


def test_exactly_one_target():
    with pytest.raises(ValueError):
        calibrate(OUTCOMES, SCORES)
    with pytest.raises(ValueError):
        calibrate(OUTCOMES, SCORES, quality=0.9, budget=0.5)
    with pytest.raises(ValueError):
        calibrate(OUTCOMES, SCORES, quality=1.5)


def test_operating_point_matches_hand_arithmetic():
    p = operating_point(OUTCOMES, SCORES, 0.5)
    assert p.premium_share == pytest.approx(0.6)
    assert p.quality == pytest.approx(1.0)
    assert p.cost_share == pytest.approx((6 * 1.0 + 4 * 0.1) / 10)


def test_new_thresholds_keep_order():
    assert new_thresholds([0.5], 0.7) == [0.7]
    assert new_thresholds([0.3, 0.6], 0.2) == [0.2, 0.2]
    assert new_thresholds([0.3, 0.6], 0.8) == [0.3, 0.8]
