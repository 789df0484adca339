"""Flags, nudges, briefs and summaries in plain words: facts, a next step, no quote, no syntax."""

from __future__ import annotations

import re
from datetime import timedelta

from connectors.events import Event, TicketRef

from .test_pipeline import T0, actions, msg_event

FURIOUS = ("I am FURIOUS. Your checkout has been failing since Monday with error 502 and we lost $4,200 in "
           "sales. Our launch is on Friday and all of our stores cannot take payments. Call me on "
           "+1 (415) 555-0199 or write to ann.lee@example.com, my card is 4111 1111 1111 1111.")
PRIVATE = ("555-0199", "ann.lee@example.com", "4111 1111 1111 1111", "4111")
# What only the engine's condition trace says: it belongs in `vigil explain`, not in a note.
ENGINE_SYNTAX = re.compile(r"==|!=|>=|<=|\(is |\bcontains\b|\bminutes_since_\w+|\bflagged_kinds\b|\bnote_similarity\b|\brole\b ==|\[role|retrieval_score|answer_confidence")


def assert_plain(body: str) -> None:
    assert not ENGINE_SYNTAX.search(body), body
    for private in PRIVATE:
        assert private not in body, (private, body)


def test_a_flag_on_a_furious_customer_names_the_money_the_deadline_and_a_next_step(runtime):
    [flag] = runtime.pipeline.handle(msg_event(FURIOUS))
    assert actions([flag]) == [("flag", "flag-business-impact")]
    body = flag.note.body
    assert body.startswith("**Vigil:** P1 risk on this ticket: business impact, several people or sites "
                           "affected, strong negative emotion.")
    assert "- Money at stake: $4,200" in body
    assert "- Deadline: launch is on Friday" in body
    assert "- Affected: all of our stores" in body and "- Error: error 502" in body
    rules = {r.name: r for r in runtime.engine.rules}
    for name in ("flag-business-impact", "flag-widespread", "flag-negative-emotion"):
        assert rules[name].params["next_step"] in body  # each kind's next step, from the rule's data
    assert "Why you see this: The customer describes impact on their business" in body
    assert_plain(body)
    assert "Seen in the customer's latest message: business impact (\u201claunch is\u201d)" in body  # the cue words
    quoted = [FURIOUS[i:i + 30] for i in range(len(FURIOUS) - 30) if FURIOUS[i:i + 30] in body]
    assert quoted == []  # facts and cue words, never the message quoted back
    [stored] = runtime.store.notes.list_notes(TicketRef("zendesk", "42"))
    assert_plain(stored["body"])


def test_a_nudge_says_how_long_what_is_open_and_what_to_do(runtime):
    runtime.pipeline.handle(msg_event("My jacket arrived torn, what now? Reach me at ann.lee@example.com"))
    [nudge] = runtime.housekeeper.sweep(T0 + timedelta(hours=5))
    body = nudge.note.body
    assert "waited 5.0 h" in body and "Still open:\n- \u201cMy jacket arrived torn, what now?\u201d" in body
    assert "Next step: Reply today" in body
    assert "Why you see this: The customer has waited too long for an analyst's reply. 5.0 h since the " \
           "customer's last message; the rule waits 4.0 h." in body
    assert_plain(body)


def test_a_brief_and_a_summary_carry_no_personal_data_or_engine_syntax(runtime):
    runtime.pipeline.handle(msg_event("How long does a refund take to reach my card 4111 1111 1111 1111?"))
    runtime.pipeline.handle(msg_event("I've refunded the order; it takes 5 to 7 business days. Call me on "
                                      "+1 (415) 555-0199 if it does not arrive.", role="analyst", minutes=20))
    runtime.pipeline.handle(Event("zendesk", "42", "status_changed", T0 + timedelta(minutes=30),
                                  status="solved", previous_status="open"))
    [brief] = runtime.pipeline.handle(Event("zendesk", "42", "status_changed", T0 + timedelta(days=3),
                                            status="open", previous_status="solved"))
    assert brief.decision.rule == "brief-on-reopen"
    assert "Problem:" in brief.note.body and "I've refunded the order" in brief.note.body
    assert "Next step: " in brief.note.body
    assert "Last public message: an analyst, 3.0 days ago, saying what was done above." in brief.note.body
    assert_plain(brief.note.body)
    [summary] = runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False,
                                                  minutes=60 * 24 * 3 + 5))
    assert summary.decision.rule == "summarize-on-request"
    assert_plain(summary.note.body)


def test_an_answer_note_says_why_in_plain_words(runtime):
    [answer] = runtime.pipeline.handle(msg_event("How do I reset my password?"))
    assert "Why you see this: A customer asked an in-scope question that the knowledge base answers" \
           in answer.note.body
    assert_plain(answer.note.body)
    assert "answer_confidence" in answer.decision.reason  # the trace is kept for `vigil explain`


def test_every_action_that_writes_a_note_has_one_writer_and_no_other_action_has():
    # The vocabulary is the decision core's (rulebook); the notes module only gives behaviour.
    from plugin.decision.rulebook import ACTIONS, NOTE_ACTIONS
    from plugin.notes.actions import WRITERS
    assert set(WRITERS) == set(NOTE_ACTIONS) and set(NOTE_ACTIONS) < set(ACTIONS)
    assert {"record_feedback", "silent"} == set(ACTIONS) - set(NOTE_ACTIONS)
