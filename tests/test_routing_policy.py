"""The task-aware policy: task minimum tiers, demand lifts, short routine requests, levels
that work with any tier list, config validation, and the seed table routed as a person would."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from app.core.config.errors import ConfigError
from app.core.config.loader import load_settings
from app.core.config.settings import TASK_TYPES, Settings, tier_level
from app.core.routing.policy import BOTTOM_BAND, TOP_BAND, decide, policy_score, route
from app.core.routing.types import Classification

SEED_TOP = [
    ("Review this contract clause for compliance issues", "expert"),
    ("Analyze this error log and suggest a fix:\n2024-05-01 12:00:01 ERROR worker.py:212 Task "
     "failed: ConnectionResetError: [Errno 104] Connection reset by peer\n2024-05-01 12:00:02 "
     "WARN retrying in 5s (attempt 3/3)", "code_debug"),
    ("Implement a red-black tree in Rust with deletion", "code_write"),
    ("Compare PostgreSQL and MySQL for a write-heavy workload and recommend one", "analysis"),
    ("Derive the Black-Scholes PDE", "proof"),
]
SEED_CHEAP = ["What is 2+2?", "hi", "hello there", "thanks!", "thank you so much"]
_STOP = {"to", "at", "its", "the", "a", "of", "and", "is", "in", "for", "on", "it", "this"}


def tiers(n: int) -> Settings:
    names = ["local", "small", "cheap", "premium"][-n:]
    return Settings(tiers=[{"name": t, "provider": "openai", "model": f"m-{t}"} for t in names],
                    router={"thresholds": [0.2 + 0.1 * i for i in range(n - 1)]})


def c(score: float, task: str = "factual", demands: tuple[str, ...] = (), form: str = "free",
      **kw) -> Classification:
    kw.setdefault("task_label", task)
    return Classification(task, score, 0.5, (), 1.0, "learned", demands=demands, form=form,
                          **kw)


@pytest.mark.parametrize(("prompt", "task"), SEED_TOP)
def test_seed_table_hard_prompts_reach_the_top_tier(prompt, task):
    d = route(prompt, Settings())
    assert d.tier == "premium", (d.reason, d.signals)
    assert d.task_type == task
    assert d.score >= d.threshold  # the score tells the same story as the tier
    assert d.rule in ("threshold", "task_min", "demand", "low_confidence")


@pytest.mark.parametrize("prompt", SEED_CHEAP)
def test_seed_table_easy_prompts_stay_cheap(prompt):
    d = route(prompt, Settings())
    assert d.tier == "cheap", (d.reason, d.signals)
    assert d.score < d.threshold


@pytest.mark.parametrize("prompt", [p for p, _ in SEED_TOP] + SEED_CHEAP)
def test_seed_table_explanations_are_reasons_a_person_accepts(prompt):
    d = route(prompt, Settings())
    assert d.reason and len(d.signals) <= 5
    for s in d.signals[:4]:
        assert len(s.label) <= 30, s.label  # the panel cuts longer ones
        quoted = re.findall(r"'([^']+)'", s.label)
        for q in quoted:
            assert not set(q.split()) & _STOP, s.label
        assert not re.fullmatch(r"(word|phrase) '.*'", s.label), s.label
    assert any(s.label.startswith("task: ") for s in d.signals)


def test_policy_raise_keeps_the_classifier_order_and_model_score():
    s = Settings()
    low = decide(c(0.01, "expert"), s, "Review my lease")
    high = decide(c(0.15, "expert"), s, "Review my lease")
    assert low.tier == high.tier == "premium" and low.rule == "task_min"
    # Just past the threshold, still in the classifier's order.
    assert 0.2 <= low.score < high.score < 0.2002
    assert low.model_score == 0.01 and "needs at least the premium tier" in low.reason


def test_threshold_fitting_scores_do_not_depend_on_the_threshold():
    """calibrate fits a new threshold on policy_score(bands=True): prompts the policy routes
    regardless of the score sit in the top / bottom bands whatever the current threshold."""
    for th in (0.2, 0.7):
        s = Settings(router={"thresholds": [th]})
        up = policy_score(c(0.01, "expert"), s, 15, bands=True)
        down = policy_score(c(0.8, "factual"), s, 15, bands=True)
        assert up == pytest.approx(TOP_BAND + (1 - TOP_BAND) * 0.01)
        assert down == pytest.approx(BOTTOM_BAND * 0.8)


def test_a_middle_tier_is_reached_just_past_its_threshold():
    s = tiers(3)
    s.router.task_min_tier = {"analysis": "top-1"}
    d = decide(c(0.05, "analysis"), s, "x" * 300)
    assert d.tier == "cheap" and d.threshold == 0.2 and 0.2 <= d.score < 0.2002


def test_demand_lifts_one_tier_and_says_which():
    s = tiers(3)
    d = decide(c(0.05, "code_write", ("nontrivial_code",)), s, "x" * 200)
    assert d.tier == "cheap" and d.rule == "demand" and "non-trivial code" in d.reason
    d = decide(c(0.25, "code_write", ("nontrivial_code",)), s, "x" * 200)
    assert d.tier == "premium"
    off = tiers(3).model_copy(deep=True)
    off.router.demand_lift = {"nontrivial_code": 0}
    assert decide(c(0.05, "code_write", ("nontrivial_code",)), off, "x" * 200).tier == "small"


def test_short_routine_requests_stay_on_the_cheapest_tier():
    s = Settings()
    d = decide(c(0.6, "translate"), s, "translate 'hello' to German")
    assert d.tier == "cheap" and d.rule == "routine" and 0.19 < d.score < 0.196
    # Long: a routine type (known, not a guess) still is one; another type is left to the
    # score, and so is a routine type with routine_tasks off.
    long = decide(c(0.6, "translate"), s, "x" * 500)
    assert long.tier == "cheap" and long.reason.startswith("routine translate request")
    assert decide(c(0.6, "factual"), s, "x" * 500).tier == "premium"
    assert decide(c(0.6, "translate", task_label="translation?"), s, "x" * 500).tier == "premium"
    s.router.routine_tasks = []
    assert decide(c(0.6, "translate"), s, "x" * 500).tier == "premium"
    s.router.routine_tasks = ["translate"]
    assert decide(c(0.6, "translate", ("constraints",)), s, "short").tier == "premium"
    assert decide(c(0.6, "factual"), s, "short").tier == "cheap"  # short and of a known type
    s.router.routine_max_chars = 0
    assert decide(c(0.6, "factual"), s, "short").tier == "premium"


def test_short_questions_that_hide_a_subtle_answer_are_lifted_and_say_why():
    # Short, so no length or type rule catches them; each has one demand a person would name.
    s = Settings()
    for prompt, demand, label in (
        ("why can a paxos acceptor promise two proposers the same round after a crash?",
         "subtle_systems", "subtle systems question"),
        ("stm32: uart rx sometimes loses a byte when the adc interrupt fires, why",
         "subtle_systems", "subtle systems question"),
        ("roll a die until you get two sixes in a row: expected number of rolls?",
         "probability", "probability/counting"),
        ("how many ways to tile a 2x12 strip with 1x2 and 2x2 tiles?", "probability",
         "probability/counting"),
        ("p99 latency doubled but cpu and memory metrics look the same, what am i missing?",
         "discrepancy", "unexplained discrepancy"),
        ("mum takes amlodipine and metformin, can she start magnesium too?", "drug_mix",
         "medicines taken together"),
        ("write a sonnet about the sea where every line starts with the letter s",
         "constraints", "many or hard constraints"),
        ("my s3 presigned url works in curl but returns 403 from the browser, why?",
         "conditions", "question with conditions"),
        ("does a verbal job offer still bind them if they withdraw it before i sign?",
         "conditions", "question with conditions"),
    ):
        d = route(prompt, s)
        assert demand in d.demands and d.tier == "premium", (prompt, d.demands, d.reason)
        # Named: as the rule when it lifted the prompt, else among the signals.
        assert label in d.reason or any(label in x.render() for x in d.signals), d.reason
        assert d.rule != "demand" or label in d.reason or "and" in d.reason, d.reason
    # The same words asking for the textbook answer, or with no twist, lift nothing.
    for prompt, demand in (
        ("what is paxos?", "subtle_systems"), ("why use a mutex?", "subtle_systems"),
        ("what are the odds of rolling two sixes", "probability"),
        ("expected value of a fair die roll", "probability"),
        ("how many ways can I say thank you in japanese", "probability"),
        ("write a function that checks whether a string is a palindrome", "constraints"),
        ("write a python function counting the number of ways to climb 10 stairs",
         "probability"),
        ("what's the difference between vitamin d and vitamin k", "drug_mix"),
        ("my bread is still flat even though i used fresh yeast", "discrepancy"),
        ("prob of flipping heads twice in a row?", "probability"),
        ("formula for the moment of inertia of a disc", "advanced_math"),
        # The first word is the question's own ("when did ...?"), and a calculation's
        # conditions are its data; a long prompt states conditions as a matter of course.
        ("when did the berlin wall fall?", "conditions"),
        ("if a train goes 60 km/h for 2.5 hours, how far does it go?", "conditions"),
        ("why does my sourdough rise well in summer but not in winter? " + "x" * 200,
         "conditions"),
    ):
        assert demand not in route(prompt, s).demands, prompt
    s.router.demand_lift = {**s.router.demand_lift, "probability": 0}
    d = route("roll a die until you get two sixes in a row: expected number of rolls?", s)
    assert "probability" in d.demands and d.rule != "demand"


def test_a_demand_reason_fits_the_status_line_and_the_signals_name_the_rest():
    d = route("raft: can a follower that missed two terms still grant its vote if its log is "
              "behind?", Settings())
    assert {"subtle_systems", "conditions"} <= set(d.demands) and d.rule == "demand"
    assert d.reason.startswith("subtle systems question: one tier up"), d.reason
    assert any("question with conditions" in x.render() for x in d.signals)
    # The status line at 80 columns shows about 50 characters of the reason.
    assert len(d.reason.split(";")[0]) <= 50


def test_famous_gotchas_and_routine_tool_errors_count_as_known_errors():
    s = Settings()
    for prompt, name in (
        ("def add(item, bucket=[]):\n    bucket.append(item)\n    return bucket\n"
         "why does the list keep growing between calls?", "mutable default argument"),
        ("why does round(0.5) give 0 in python", "round half to even"),
        ("why does round(2.5) still give 2 even after i convert it to float?",
         "round half to even"),  # conditions do not make a gotcha a hard case
        ("docker run fails: Bind for 0.0.0.0:80 failed: port is already allocated",
         "port already allocated"),
    ):
        d = route(prompt, s)
        assert d.task_type == "code_debug", (prompt, d.task_type)  # where known errors apply
        assert d.tier == "cheap" and f"common error ({name})" in d.reason, d.reason


def test_asking_for_steps_is_not_by_itself_a_reason_for_the_top_tier():
    # "step by step" was a default escalate keyword: a how-to for boiling an egg went premium.
    d = route("explain step by step how to boil an egg", Settings())
    assert d.tier == "cheap" and d.rule != "keyword"
    assert "multi_step" in d.demands  # still named, lifting nothing by default
    assert route("Prove that there are infinitely many primes, step by step",
                 Settings()).tier == "premium"


def test_a_short_request_whose_type_is_a_guess_is_left_to_the_score():
    s = Settings()
    guess = c(0.19, "calculation", task_label="calculation?")
    prompt = "show 2PC blocks if the coordinator crashes"
    d = decide(guess, s, prompt)
    assert d.tier == "premium" and d.rule == "low_confidence"  # within the margin: one tier up
    assert decide(c(0.19, "calculation"), s, prompt).rule == "routine"  # a known type
    low = decide(c(0.1, "calculation", task_label="calculation?"), s, prompt)
    assert low.tier == "cheap" and low.rule == "threshold"


def probs(**share: float) -> tuple[float, ...]:
    return tuple(share.get(t, 0.0) for t in TASK_TYPES)


def test_routine_transforms_stay_cheap_at_any_length():
    s = Settings()
    pasted = "extract the invoice numbers: " + "INV-2024-0042 due 2024-05-01, " * 20
    likely = probs(extraction=0.35, summarize=0.2, factual=0.45)  # 0.55 routine, not argmax
    d = decide(c(0.6, "factual", task_probs=likely), s, pasted)
    assert d.tier == "cheap" and d.rule == "routine"
    assert d.reason.startswith("routine factual request: the cheap tier is enough")
    # Not more likely than not routine: the score decides.
    unsure = probs(extraction=0.3, summarize=0.2, factual=0.5)
    assert decide(c(0.6, "factual", task_probs=unsure), s, pasted).tier == "premium"
    # A demand factor that lifts, a type with a higher minimum, or the rule off: not kept.
    assert decide(c(0.6, "extraction", ("constraints",), task_probs=likely), s,
                  pasted).tier == "premium"
    assert decide(c(0.6, "expert", task_probs=likely), s, pasted).tier == "premium"
    s.router.routine_tasks = []
    assert decide(c(0.6, "factual", task_probs=likely), s, pasted).tier == "premium"


def test_everyday_requests_stay_cheap_unless_they_ask_for_more():
    s = Settings()
    for prompt, topic in (
        ("3 day itinerary for lisbon, we like food and walking around, not big on museums",
         "travel"),
        ("beginner gym routine 3x a week, 45 min max, I want to fix my posture", "fitness"),
        ("what can I make tonight with chicken thighs, rice and spinach", "cooking"),
        ("hostel or airbnb for 4 nights in prague with two friends, pros and cons?", "travel"),
        ("How long should I boil an egg for a runny yolk?", "cooking"),
        ("which laptop should I buy for uni, mostly notes and netflix", "shopping"),
    ):
        d = route(prompt, s)
        assert (d.tier, d.rule) == ("cheap", "everyday"), (prompt, d.reason)
        assert d.reason == f"everyday request ({topic}): the cheap tier is enough"
        assert f"everyday: {topic}" in [x.label for x in d.signals]
    # Planning at work, an expert question about a home, and a trip with stacked
    # requirements are not everyday requests that ask for nothing more.
    for prompt in (
        "plan the migration of our team's booking service to postgres, 2k rps at peak",
        "my landlord kept my whole deposit after 4 years for carpet wear, is that legal?",
        "plan a 5 day trip to Japan, must include at least 3 onsen towns, no more than 2 "
        "hotel changes, and make sure it works with a JR pass",
    ):
        d = route(prompt, s)
        assert d.tier == "premium" and d.rule != "everyday", (prompt, d.reason)
    # A product is a purchase only when the prompt is about choosing one.
    from app.core.routing.demands import everyday_topic
    from app.core.routing.features import prepare

    assert everyday_topic(prepare("my laptop, a book and a bowl: stack them stably")) == ""
    # Puzzles keep their own rule, and the rule can be turned off.
    riddle = ("a woman shoots her husband, holds him under water for five minutes, then "
              "hangs him. an hour later they go out to dinner together. how?")
    assert route(riddle, s).rule != "everyday"
    s.router.everyday_routine = False
    assert route("3 day itinerary for lisbon, we like food and walking", s).tier == "premium"


def test_a_beginner_s_error_message_stays_cheap_unless_it_comes_and_goes():
    s = Settings()
    for prompt, name in (
        ("IndentationError: expected an indented block\nfor i in range(10):\nprint(i)",
         "IndentationError"),
        ("error: 'ledPin' was not declared in this scope\n\nvoid setup() {\n  int ledPin = 9;"
         "\n}\nvoid loop() { digitalWrite(ledPin, HIGH); }", "undeclared name"),
        ('why does this error\nprint("total: " + total)\nTypeError: can only concatenate '
         'str (not "int") to str', "TypeError"),
    ):
        d = route(prompt, s)
        assert (d.tier, d.rule) == ("cheap", "known_error"), (prompt, d.reason)
        assert d.reason == f"common error ({name}): the cheap tier is enough"
        assert f"common error: {name}" in [x.label for x in d.signals]
    flaky = ("Traceback (most recent call last):\n  File \"app.py\", line 9\n"
             "NameError: name 'cache' is not defined\nbut only under load, why?")
    assert route(flaky, s).tier == "premium"
    s.router.known_errors_routine = False
    assert route("IndentationError: expected an indented block\nfor i in range(10):\n"
                 "print(i)", s).tier == "premium"


def test_what_a_brought_text_says_asks_nothing_of_the_answer():
    from app.core.routing.demands import instruction_of

    email = ("summarise this email from my landlord pls: Dear tenants, you must ensure that "
             "bins are out by 7am on Tuesdays, do not leave bikes in the hallway, make sure "
             "the fire door is never propped open, and at least one key must be left with "
             "the agent during the works, including for the basement. Regards, Ms Okafor")
    assert instruction_of(email) == "summarise this email from my landlord pls"
    d = route(email, Settings())
    assert "constraints" not in d.demands and d.tier == "cheap", d.reason
    # A colon inside a puzzle's own statement introduces no brought text ...
    assert instruction_of("me, jo and priya split 3 chores each week: bins, bathroom, kitchen."
                          " rules: nobody does the same chore twice in a row, jo can't do "
                          "the bathroom on weeks after a party, and I must do bins once a "
                          "month. how many valid 4-week rotas are there?") == ""
    # ... and a spec to implement is a list of requirements on the answer.
    spec = ("implement this spec in python: the limiter must allow at most 100 requests per "
            "minute per api key, must not block other keys, make sure it works across 3 "
            "worker processes, ensure expired entries are evicted, with a bounded memory of "
            "10MB, and including metrics for rejected calls")
    d = route(spec, Settings())
    assert d.task_type == "code_write" and "constraints" in d.demands


def test_routine_tasks_must_be_task_types():
    with pytest.raises(ValidationError, match="unknown task type.*chitchat"):
        Settings(router={"routine_tasks": ["greeting", "chitchat"]})


def test_quizzes_and_few_shot_prompts_are_left_to_the_score():
    s = Settings()
    for form in ("choice", "fewshot"):
        d = decide(c(0.05, "expert", form=form), s, "A. yes\nB. no")
        assert d.tier == "cheap" and d.rule == "threshold"


def test_policy_score_matches_decide():
    s = Settings()
    for cl, prompt in [(c(0.05, "expert"), "Review my lease"), (c(0.6, "factual"), "short"),
                       (c(0.3, "creative"), "x" * 300), (c(0.1, "proof", form="numeric"), "x")]:
        assert policy_score(cl, s, len(prompt)) == decide(cl, s, prompt).score


@pytest.mark.parametrize(("value", "n", "index"), [
    ("top", 2, 1), ("top", 4, 3), ("cheapest", 4, 0), ("top-1", 4, 2), ("top-1", 2, 0),
    ("cheapest+1", 3, 1), ("cheapest+5", 3, 2), ("premium", 2, 1), ("nope", 2, None)])
def test_tier_levels_work_with_any_tier_list(value, n, index):
    names = ["a", "b", "c", "d"][:n]
    if value == "premium":
        names = ["cheap", "premium"]
    assert tier_level(value, names) == index


def test_defaults_hold_for_four_tiers():
    s = tiers(4)
    assert decide(c(0.0, "expert"), s, "Review my lease").tier == "premium"
    assert decide(c(0.0, "factual"), s, "What is DNS?").tier == "local"


def test_config_names_the_key_and_the_fix(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[router.task_min_tier]\nexpert = "gold"\nlegal = "top"\n'
                   '[router.demand_lift]\nvibes = 1\n[router.task_examples]\ncoding = ["x"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    text = err.value.render()
    assert "router.task_min_tier.expert: 'gold' is not a tier name (cheap, premium) or a level" in text
    assert "router.task_min_tier.legal: unknown task type" in text
    assert "router.demand_lift.vibes: unknown demand factor" in text
    assert "router.task_examples.coding: unknown task type" in text
    assert "Fix:" in text


def test_old_task_names_still_work_in_config():
    s = Settings(router={"task_min_tier": {"code": "top", "math": "cheapest"}})
    levels = s.router.task_levels()
    assert levels["code_write"] == levels["code_debug"] == "top"
    assert levels["proof"] == levels["calculation"] == "cheapest"


def test_example_config_matches_the_built_in_defaults():
    from pathlib import Path

    from app.core.config.settings import DEFAULT_DEMAND_LIFT, DEFAULT_TASK_MIN_TIER

    s = load_settings(Path(__file__).resolve().parents[1] / "config.example.toml")
    assert s.router.task_min_tier == DEFAULT_TASK_MIN_TIER
    assert s.router.demand_lift == DEFAULT_DEMAND_LIFT
    assert s.router.task_levels() == Settings().router.task_levels()


def test_vocabularies_agree_between_config_and_router():
    from app.core.config.settings import DEMAND_FACTORS, TASK_TYPES
    from app.core.routing.demands import DEMAND_IDS
    from app.core.routing.types import TASK_TYPES as ROUTER_TASKS

    assert TASK_TYPES == ROUTER_TASKS and DEMAND_FACTORS == DEMAND_IDS


def test_everyday_prompts_route_as_a_person_would():
    """training/data/everyday.tsv: both halves (the holdout half was never tuned on) keep
    at least 85% agreement and 85% of their short hard prompts on the top tier."""
    from training import train_tasks

    s = Settings()
    for half in ("dev", "holdout"):
        items = [e for e in train_tasks.everyday() if e["half"] == half]
        tiers_got = {e["prompt"]: route(e["prompt"], s).tier for e in items}
        agree = sum(tiers_got[e["prompt"]] == e["tier"] for e in items) / len(items)
        hard = [e for e in items if e["short_hard"] == "1"]
        on_top = sum(tiers_got[e["prompt"]] == "premium" for e in hard) / len(hard)
        assert agree >= 0.85 and on_top >= 0.85, (half, agree, on_top)


def test_blind_everyday_prompts_do_not_fall_back():
    """training/data/everyday_blind.tsv, written by people who never saw the router: a floor
    two or three prompts under what the shipped weights and policy reach there (dev 89%,
    holdout 81%, dev2 91%, holdout2 84%, dev3 97%, dev4 90%, holdout3 89%, holdout4 86%, dev5
    93%, dev6 89% when this was written; the goal is 85%), so a change that routes them worse
    is caught."""
    from training import train_tasks

    s = Settings()
    assert train_tasks.halves(train_tasks.EVERYDAY_BLIND) == [
        "dev", "holdout", "dev2", "holdout2", "dev3", "dev4", "holdout3", "holdout4", "dev5",
        "dev6"]
    for half, floor in (("dev", 0.86), ("holdout", 0.78), ("dev2", 0.87), ("holdout2", 0.8),
                        ("dev3", 0.93), ("dev4", 0.86), ("holdout3", 0.85),
                        ("holdout4", 0.82), ("dev5", 0.89), ("dev6", 0.85)):
        items = [e for e in train_tasks.everyday(train_tasks.EVERYDAY_BLIND)
                 if e["half"] == half]
        assert len(items) == (80 if half in ("dev5", "dev6") else 70)
        agree = sum(route(e["prompt"], s).tier == e["tier"] for e in items) / len(items)
        assert agree >= floor, (half, agree)


def test_a_numeric_problem_kept_cheap_does_not_say_proof_is_enough():
    # Typed proof/advanced maths, but a numeric problem that asks for no proof is treated as
    # a calculation: the reason must not read "short proof/advanced maths request: cheap".
    d = route("Find all integer solutions to x^2 - 7y^2 = 1 and explain why the set is "
              "infinite.", Settings())
    assert (d.tier, d.rule) == ("cheap", "routine")
    assert "proof/advanced maths request" not in d.reason
    assert d.reason.startswith("short numeric problem that asks for no proof: the cheap tier")


def test_a_score_is_never_shown_on_the_wrong_side_of_its_threshold():
    from app.core.routing.types import digits_apart

    assert digits_apart(0.15, 0.1486) == 3 and f"{0.1486:.3f}" == "0.149"  # not "0.15 < 0.15"
    assert digits_apart(0.2, 0.194) == 2 and digits_apart(0.2, 0.2004) == 2
    assert digits_apart(None, 0.5) == 2
    s = tiers(3)
    s.router.thresholds, s.router.low_confidence_margin = [0.15, 0.2], 0.0
    d = decide(c(0.1496, "factual"), s, "x" * 300)
    assert d.tier == "small" and "score 0.1496 < threshold 0.1500" in d.reason
    assert "score 0.19 < threshold 0.20" in decide(c(0.19, "factual"), s, "x" * 300).reason


def test_maths_words_are_named_only_where_they_mean_maths():
    plan = route("Summarize this: we will postpone the product launch by two weeks because QA "
                 "found blocking bugs in checkout, and marketing needs the new date", Settings())
    assert not any(s.label.startswith(("maths words", "quantity words")) for s in plan.signals)
    sum_ = route("A store sells apples at 3 dollars each. How many can I buy with 20 dollars and "
                 "what is the product of the remaining change and 4?", Settings())
    assert any(s.label.startswith(("maths words", "quantity words")) for s in sum_.signals)


def test_the_low_confidence_reason_shows_the_score_under_its_threshold():
    d = decide(c(0.1998, "factual", form="free"), Settings(), "x" * 300)
    assert d.rule == "low_confidence" and "score 0.1998 is within" in d.reason
