"""The durable-rules adapter: every matching rule fires, guards silence, nothing lingers."""

import random

import pytest

from plugin.decision.engine import RuleEngine, engine_view
from plugin.decision.rulebook import BASELINE, FACTS, load_rules
from plugin.decision.ruletest import run_examples

from .conftest import REPO


@pytest.fixture
def engine():
    e = RuleEngine(load_rules(REPO / "rules"))
    yield e
    e.close()


def facts(**changes):
    return dict(BASELINE, **changes)


def test_answer_fires_with_reason(engine):
    [decision] = engine.decide(facts(is_question=True, in_scope=True, answer_confidence=0.8))
    assert (decision.action, decision.rule) == ("answer", "answer-customer-question")
    assert "answer_confidence >= 0.3 (is 0.8)" in decision.reason


def test_silence_names_the_nearest_rule_and_the_failed_condition(engine):
    [decision] = engine.decide(facts(is_question=True, in_scope=True, answer_confidence=0.2))
    assert decision.action == "silent" and decision.rule is None
    assert "answer-customer-question" in decision.reason
    assert "answer_confidence >= 0.3 (is 0.2)" in decision.reason
    considered = {c["rule"]: c for c in decision.considered}
    assert considered["answer-customer-question"]["failed"] == "answer_confidence >= 0.3 (is 0.2)"
    assert considered["opted-out"]["fired"] is False


def test_a_guard_silences_and_says_so(engine):
    [decision] = engine.decide(facts(is_question=True, in_scope=True, answer_confidence=0.9,
                                     tags=["vigil_off"]))
    assert (decision.action, decision.rule) == ("silent", "opted-out")
    assert "silenced answer" in decision.reason


def test_a_guard_that_silences_nothing_is_not_the_reason(engine):
    [decision] = engine.decide(facts(status="solved", small_talk=True))
    assert decision.rule is None  # nothing would have fired anyway


@pytest.mark.parametrize("changes", [dict(is_question=True, in_scope=True, answer_confidence=0.9),
                                     dict(small_talk=True)])
def test_no_fact_lingers_after_a_decision(engine, changes):
    engine.decide(facts(**changes))
    engine.decide(facts(**changes))
    assert engine._host.get_facts(engine._ruleset, "event") == []


def test_durable_rules_and_python_evaluation_agree():
    """The explanation (Python) must never contradict the decision (durable-rules)."""
    rules = load_rules(REPO / "rules")
    engine = RuleEngine(rules)
    rng = random.Random(7)
    values = {bool: [True, False], float: [0.0, 2e-05, 0.2, 0.45, 0.9, 3.0, 20.0, 360.0, 1e6, 5e20],
              int: [0, 2, 5, 9],
              str: ["", "customer", "analyst", "plugin", "message", "created", "solved", "open", "summary"],
              list: [[], ["vigil_off"], ["security", "vip"], ["business_impact"], ["vip"]]}
    try:
        for _ in range(400):
            f = {name: rng.choice(values[kind]) for name, (kind, _) in FACTS.items()}
            fired = set(engine.fired(f))
            seen = engine_view(f)
            for rule in rules:
                assert (rule.name in fired) == (rule.first_failure(seen) is None), (rule.name, f)
    finally:
        engine.close()


def test_every_shipped_rule_example_passes():
    results = run_examples(load_rules(REPO / "rules"))
    failures = [f"{r.rule} {r.expect} {r.changes()}: {r.detail}" for r in results if not r.passed]
    assert results and failures == []


def test_examples_catch_a_rule_that_fires_too_often(tmp_path):
    (tmp_path / "r.yml").write_text("""\
rules:
  - name: loud
    action: answer
    why: Too eager.
    when: [role == customer]
    examples:
      fire: [{role: customer}]
      silent: [{role: customer, retrieval_score: 0.1}]
""")
    results = run_examples(load_rules(tmp_path))
    assert [r.passed for r in results] == [True, False]


@pytest.mark.parametrize("minutes", [2e-05, 1e-10, 5e20, -3e-7])
def test_numbers_json_writes_with_an_exponent_reach_the_engine(engine, minutes):
    """A comment a second old is 2e-05 minutes: the C engine's JSON parser refused that (error 204)."""
    decided = engine.decide(facts(minutes_waiting=minutes, minutes_silent=minutes,
                                  minutes_since_last_note=minutes))
    assert decided and decided[0].facts["minutes_waiting"] == minutes  # recorded as it was


def test_a_tiny_number_is_explained_as_the_engine_decided_it(tmp_path):
    """2e-05 reaches the engine as 0.0: the reason must say so, not contradict the decision."""
    (tmp_path / "r.yml").write_text("""rules:
  - name: waited-at-all
    action: nudge
    why: The customer has waited.
    when: [minutes_waiting > 0]
    examples:
      fire: [{minutes_waiting: 5.0}]
      silent: [{minutes_waiting: 0.0}]
""")
    engine = RuleEngine(load_rules(tmp_path))
    try:
        [decision] = engine.decide(facts(minutes_waiting=2e-05))
        assert decision.action == "silent" and "minutes_waiting > 0 (is 0.0)" in decision.reason
        assert decision.facts["minutes_waiting"] == 2e-05  # the facts are kept as they were
    finally:
        engine.close()


NOT_CONTAINS = """\
rules:
  - name: first-vip-flag
    action: flag
    why: Once.
    when: [risks contains vip, flagged_kinds not contains vip]
    examples:
      fire: [{risks: [vip]}]
      silent: [{risks: [vip], flagged_kinds: [vip]}]
"""


@pytest.mark.parametrize("flagged, fires", [([], True), (["security"], True), (["vip"], False),
                                            (["security", "vip"], False)])
def test_not_contains_holds_on_an_empty_list_in_the_engine_too(tmp_path, flagged, fires):
    # durable-rules' own "all items differ" is false on an empty list: the adapter decides it.
    (tmp_path / "r.yml").write_text(NOT_CONTAINS)
    engine = RuleEngine(load_rules(tmp_path))
    try:
        assert (engine.fired(facts(risks=["vip"], flagged_kinds=flagged)) == ["first-vip-flag"]) is fires
    finally:
        engine.close()


def test_the_plugins_own_note_is_silenced_by_a_rule_that_names_itself(engine):
    [decision] = engine.decide(facts(role="plugin", public=False, is_question=True))
    assert (decision.action, decision.rule) == ("silent", "own-note")
    assert "loop guard" in decision.reason and "role == plugin (is 'plugin')" in decision.reason


def test_a_guard_on_the_drafted_note_waits_for_the_note(engine):
    # Before drafting, note_similarity is a placeholder: the repeat guard cannot silence yet.
    asked = facts(is_question=True, in_scope=True, answer_confidence=0.8, note_similarity=0.9)
    [decision] = engine.decide(asked)
    assert decision.action == "answer"
    again = engine.recheck(decision, asked)
    assert (again.action, again.rule) == ("silent", "repeated-note")
    assert "note_similarity >= 0.7 (is 0.9)" in again.reason and again.reason.endswith("it silenced answer")
    kept = engine.recheck(decision, dict(asked, note_similarity=0.3))
    assert (kept.action, kept.rule, kept.facts["note_similarity"]) == ("answer", "answer-customer-question", 0.3)
    trace = {c["rule"]: c for c in kept.considered}
    assert trace["repeated-note"]["failed"] == "note_similarity >= 0.7 (is 0.3)"


def test_the_repeat_guard_leaves_flags_alone(engine):
    flagged = facts(risks=["security"], note_similarity=1.0)
    [decision] = engine.decide(flagged)
    assert engine.recheck(decision, flagged).action == "flag"
