"""The interventions beyond answers: flags, nudges from the sweep, briefs, summaries, feedback."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import yaml

from connectors.events import Event, TicketRef
from plugin.runtime import build_runtime

from .conftest import REPO
from .test_pipeline import T0, actions, msg_event


def status_event(status, previous, minutes, ticket="42"):
    return Event("zendesk", ticket, "status_changed", T0 + timedelta(minutes=minutes), subject="Help",
                 status=status, previous_status=previous)


def test_risk_is_flagged_once_per_kind_inside_the_window(runtime):
    first = runtime.pipeline.handle(msg_event("Someone hacked my account and placed orders I never made!"))
    assert actions(first) == [("flag", "flag-security-incident")]
    assert "P0 risk on this ticket: security" in first[0].note.body
    again = runtime.pipeline.handle(msg_event("My account was hacked, please hurry", minutes=30))
    assert [o.decision.action for o in again] == ["silent"]
    # The trace says which condition held the flag back (the window is the rule's, not Python's).
    considered = {c["rule"]: c for c in again[0].decision.considered}
    assert considered["flag-security-incident"]["failed"] == "minutes_since_security_flag > 360 (is 30.0)"
    later = runtime.pipeline.handle(msg_event("It got hacked again overnight", minutes=60 * 7))
    assert actions(later) == [("flag", "flag-security-incident")]


def test_a_test_environment_silences_flags(runtime):
    outcome = runtime.pipeline.handle(msg_event("URGENT: production is down for all our users", tags=("staging",)))
    assert actions(outcome) == [("silent", "test-environment")]


def test_answer_and_flag_on_one_message(runtime):
    outcomes = runtime.pipeline.handle(msg_event("This is unacceptable. How do I reset my password?"))
    assert sorted(o.decision.action for o in outcomes) == ["answer", "flag"]


def test_sweep_nudges_a_waiting_customer_once(runtime):
    runtime.pipeline.handle(msg_event("My jacket arrived torn, what now?"))
    assert runtime.housekeeper.sweep(T0 + timedelta(hours=1)) == []
    [nudge] = runtime.housekeeper.sweep(T0 + timedelta(hours=5))
    assert nudge.decision.rule == "nudge-customer-waiting"
    assert "waited 5.0 h" in nudge.note.body and "arrived torn" in nudge.note.body
    assert runtime.housekeeper.sweep(T0 + timedelta(hours=9)) == []  # one nudge per quiet spell
    runtime.pipeline.handle(msg_event("Hello? Anyone?", minutes=10 * 60))
    assert [o.decision.rule for o in runtime.housekeeper.sweep(T0 + timedelta(hours=15))] == ["nudge-customer-waiting"]


def test_sweep_chases_a_promised_update(runtime):
    runtime.pipeline.handle(msg_event("Where is my refund for the boots?"))
    runtime.pipeline.handle(msg_event("I'll check with the warehouse and get back to you tomorrow.",
                                      role="analyst", minutes=5))
    assert runtime.housekeeper.sweep(T0 + timedelta(hours=20)) == []
    [nudge] = runtime.housekeeper.sweep(T0 + timedelta(hours=30))
    assert nudge.decision.rule == "nudge-promised-update"
    assert "check with the warehouse" in nudge.note.body


def test_sweep_leaves_solved_tickets_alone(runtime):
    runtime.pipeline.handle(msg_event("My jacket arrived torn, what now?"))
    runtime.pipeline.handle(status_event("solved", "open", 30))
    assert runtime.housekeeper.sweep(T0 + timedelta(hours=10)) == []


def test_reopened_ticket_gets_a_brief(runtime):
    runtime.pipeline.handle(msg_event("How long does a refund take to reach my card?"))
    runtime.pipeline.handle(msg_event("I've refunded the order; it takes 5 to 7 business days.", role="analyst",
                                      minutes=20))
    runtime.pipeline.handle(status_event("solved", "open", 30))
    [brief] = runtime.pipeline.handle(status_event("open", "solved", 60 * 24 * 3))
    assert brief.decision.rule == "brief-on-reopen"
    body = brief.note.body
    assert "reopened" in body and "Problem:" in body and "I've refunded the order" in body
    assert "knowledge/orders/refund-timing.md" in body  # a similar case from the knowledge base


def test_handover_needs_a_previous_owner(runtime):
    runtime.pipeline.handle(msg_event("How long does a refund take to reach my card?"))
    runtime.pipeline.handle(msg_event("Looking into it.", role="analyst", minutes=5))
    first = Event("zendesk", "42", "assigned", T0 + timedelta(minutes=6), assignee="ann")
    assert [o.decision.action for o in runtime.pipeline.handle(first)] == ["silent"]
    moved = Event("zendesk", "42", "assigned", T0 + timedelta(minutes=60), assignee="bob")
    [brief] = runtime.pipeline.handle(moved)
    assert brief.decision.rule == "brief-on-handover" and "new owner" in brief.note.body


def test_summary_on_request_with_owners(runtime):
    runtime.pipeline.handle(msg_event("The zipper on my new jacket broke. Can I get a replacement?"))
    runtime.pipeline.handle(msg_event("Sorry! Could you send me a photo of the zipper? I'll then arrange "
                                      "the replacement.", role="analyst", minutes=10))
    [summary] = runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False, minutes=15))
    body = summary.note.body
    assert summary.decision.rule == "summarize-on-request"
    assert "Problem:" in body and "zipper" in body
    assert "- Analyst to do: \u201cI'll then arrange the replacement.\u201d" in body
    assert "- Waiting on the customer: \u201cCould you send me a photo of the zipper?\u201d" in body


def test_feedback_is_recorded_against_the_last_note(runtime):
    runtime.pipeline.handle(msg_event("How do I reset my password?"))
    [outcome] = runtime.pipeline.handle(msg_event("@vigil wrong", role="analyst", public=False, minutes=3))
    assert (outcome.decision.action, outcome.note) == ("record_feedback", None)
    [note] = runtime.store.notes.list_notes(TicketRef("zendesk", "42"))
    assert note["feedback"] == "wrong"


def rules_changed(tmp_path, drop=(), edit=lambda text: text, add=""):
    """The shipped rules without the rules named in `drop`, edited, with `add` as a file of its own."""
    out = tmp_path / "rules-changed"
    out.mkdir(parents=True)
    for path in sorted((REPO / "rules").glob("*.yml")):
        data = yaml.safe_load(edit(path.read_text()))
        data["rules"] = [r for r in data["rules"] if r["name"] not in drop]
        (out / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    if add:
        (out / "added.yml").write_text(add)
    return out


@pytest.fixture
def runtime_with(settings):
    """Build a runtime on other rules: runtime_with(rules_dir)."""
    built = []

    def build(rules_dir):  # each with a database of its own
        built.append(build_runtime(settings.replace(rules_dir=rules_dir, home=settings.home / str(len(built)))))
        return built[-1]
    yield build
    for rt in built:
        rt.close()


def test_a_note_that_repeats_an_earlier_one_is_not_posted(runtime):
    runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False))
    [again] = runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False, minutes=1))
    assert (again.decision.action, again.decision.rule, again.note) == ("silent", "repeated-note", None)
    assert again.decision.reason.endswith("[note_similarity >= 0.7 (is 1.0)]; it silenced summarize")
    assert again.decision.facts["note_similarity"] == 1.0  # the drafted note's measure is kept
    assert len(runtime.store.notes.list_notes(TicketRef("zendesk", "42"))) == 1
    ticket = runtime.store.tickets.find_ticket(TicketRef("zendesk", "42"))
    *_, last = runtime.store.tickets.timeline(ticket)  # what `vigil explain` shows
    assert last["rule"] == "repeated-note"


def test_without_the_repeat_rule_the_same_summary_is_posted_twice(tmp_path, runtime_with):
    runtime = runtime_with(rules_changed(tmp_path, drop={"repeated-note"}))
    runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False))
    [again] = runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False, minutes=1))
    assert again.decision.action == "summarize" and again.note is not None


def test_the_repeat_threshold_is_the_rules(tmp_path, runtime_with):
    # A second summary after one more message overlaps the first by about 0.77: a repeat at the
    # shipped 0.7, a new note once the rule asks for 0.9.
    def second_summary(runtime):
        runtime.pipeline.handle(msg_event("My parcel never arrived. Where is it?"))
        runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False, minutes=1))
        runtime.pipeline.handle(msg_event("It was a birthday present for my daughter, and the party is on Saturday "
                                          "so please tell me the courier and the tracking number.", minutes=2))
        [again] = runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False, minutes=3))
        return again.decision
    shipped = second_summary(runtime_with(REPO / "rules"))
    assert (shipped.action, shipped.rule) == ("silent", "repeated-note")
    assert 0.7 <= shipped.facts["note_similarity"] < 0.9
    lenient = second_summary(runtime_with(rules_changed(
        tmp_path, edit=lambda text: text.replace("note_similarity >= 0.7", "note_similarity >= 0.9"))))
    assert (lenient.action, lenient.rule) == ("summarize", "summarize-on-request")


ANSWER_ANY = """\
rules:
  - name: answer-any-question
    action: answer
    priority: 10
    why: A careless rule that forgets to ask who wrote the message.
    when: [is_question == true, answer_confidence >= 0.05]
    examples:
      fire: [{is_question: true, answer_confidence: 0.9}]
      silent: [{is_question: false, answer_confidence: 0.9}]
"""


def test_the_loop_guard_silences_even_a_rule_that_forgets_the_author(tmp_path, runtime_with):
    own = msg_event("[vigil-note] How do I reset my password?", role="plugin", public=False)
    guarded = runtime_with(rules_changed(tmp_path / "a", add=ANSWER_ANY))
    [outcome] = guarded.pipeline.handle(own)
    assert (outcome.decision.action, outcome.decision.rule) == ("silent", "own-note")
    assert "it silenced answer" in outcome.decision.reason
    unguarded = runtime_with(rules_changed(tmp_path / "b", drop={"own-note"}, add=ANSWER_ANY))
    assert [o.decision.action for o in unguarded.pipeline.handle(own)] == ["answer"]


def test_vip_is_flagged_once_per_ticket_while_other_kinds_come_back_after_the_window(runtime):
    [first] = runtime.pipeline.handle(msg_event("Someone hacked my account!", tags=("vip",)))
    assert first.decision.action == "flag" and "VIP customer" in first.note.body
    assert "security" in first.note.body.lower()
    [later] = runtime.pipeline.handle(msg_event("It got hacked again overnight", tags=("vip",), minutes=60 * 7))
    assert later.decision.rule == "flag-security-incident"
    assert "VIP" not in later.note.body.split("\n")[0]  # the headline names security alone
    assert later.decision.facts["flagged_kinds"] == ["security", "vip"]
    assert later.decision.facts["minutes_since_security_flag"] == 420.0
    [quiet] = runtime.pipeline.handle(msg_event("I am FURIOUS, nobody has answered", tags=("vip",),
                                                minutes=60 * 30))
    considered = {c["rule"]: c for c in quiet.decision.considered}
    assert considered["flag-vip"]["failed"] == "flagged_kinds not contains vip (is ['security', 'vip'])"


def test_the_flag_window_is_the_rules(tmp_path, runtime_with):
    runtime = runtime_with(rules_changed(tmp_path, edit=lambda text: text.replace(
        "minutes_since_security_flag > 360", "minutes_since_security_flag > 20")))
    runtime.pipeline.handle(msg_event("Someone hacked my account and placed orders I never made!"))
    again = runtime.pipeline.handle(msg_event("My account was hacked, please hurry", minutes=30))
    assert actions(again) == [("flag", "flag-security-incident")]


def test_a_vip_flag_with_a_positive_utc_offset_is_decided(runtime):
    """Issue 11 defect 6: "VIP once" looked back to datetime.min in the event's own offset,
    which overflows when converted to UTC, so the delivery failed."""
    from datetime import timezone
    event = msg_event("Someone hacked my account!", tags=("vip",))
    event = dataclasses.replace(event, occurred_at=event.occurred_at.astimezone(timezone(timedelta(hours=2))))
    outcomes = runtime.pipeline.handle(event)
    assert [o.decision.action for o in outcomes] == ["flag"]
    assert "vip" in outcomes[0].decision.reason or "vip" in outcomes[0].note.body.lower()
