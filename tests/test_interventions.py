"""The interventions beyond answers: flags, nudges from the sweep, briefs, summaries, feedback."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from connectors.events import Event, TicketRef

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


def test_a_note_that_repeats_an_earlier_one_is_not_posted(runtime):
    runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False))
    [again] = runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False, minutes=1))
    assert again.decision.action == "silent" and "repeat an earlier one" in again.decision.reason
    assert len(runtime.store.notes.list_notes(TicketRef("zendesk", "42"))) == 1


def test_a_vip_flag_with_a_positive_utc_offset_is_decided(runtime):
    """Issue 11 defect 6: "VIP once" looked back to datetime.min in the event's own offset,
    which overflows when converted to UTC, so the delivery failed."""
    from datetime import timezone
    event = msg_event("Someone hacked my account!", tags=("vip",))
    event = dataclasses.replace(event, occurred_at=event.occurred_at.astimezone(timezone(timedelta(hours=2))))
    outcomes = runtime.pipeline.handle(event)
    assert [o.decision.action for o in outcomes] == ["flag"]
    assert "vip" in outcomes[0].decision.reason or "vip" in outcomes[0].note.body.lower()
