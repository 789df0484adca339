"""handle(event) against a real SQLite store, the shipped rules and a small knowledge base."""

from datetime import datetime, timedelta, timezone

from connectors.events import NOTE_MARKER, Event, Message, TicketRef

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def msg_event(text, role="customer", public=True, minutes=0, mid=None, ticket="42", kind="message",
              tags=(), status="open"):
    at = T0 + timedelta(minutes=minutes)
    return Event("zendesk", ticket, kind, at, subject="Help", status=status, tags=tags,
                 message=Message(role, public, text, at, message_id=mid or f"m{minutes}-{role}"))


def actions(outcomes):
    return [(o.decision.action, o.decision.rule) for o in outcomes]


def test_answerable_question_gets_a_drafted_note(runtime):
    [outcome] = runtime.pipeline.handle(msg_event("How do I reset my password?"))
    assert outcome.decision.action == "answer"
    assert outcome.note.sources[0] == "account/reset-password"
    [note] = runtime.store.notes.list_notes(TicketRef("zendesk", "42"))
    assert note["status"] == "drafted" and note["public"] is False
    assert note["rule"] == "answer-customer-question"


def test_shadow_mode_records_but_never_queues(runtime):
    runtime.pipeline.settings = runtime.settings.replace(shadow=True)
    runtime.pipeline.handle(msg_event("How do I reset my password?"))
    [note] = runtime.store.notes.list_notes(TicketRef("zendesk", "42"))
    assert note["status"] == "shadow"
    from plugin.model import utcnow
    assert runtime.store.notes.notes_due(utcnow()) == []


def test_every_decision_is_stored_silent_ones_too(runtime):
    runtime.pipeline.handle(msg_event("Thanks a lot, have a nice day!"))
    [step] = list(runtime.store.tickets.timeline(runtime.store.tickets.find_ticket(TicketRef("zendesk", "42"))))
    assert step["action"] == "silent" and step["rule"] is None
    assert "nearest was" in step["reason"] and step["considered"]


def test_repeated_comment_is_processed_once(runtime):
    event = msg_event("How do I reset my password?", mid="c-1")
    assert len(runtime.pipeline.handle(event)) == 1
    assert runtime.pipeline.handle(event) == []
    assert len(runtime.store.notes.list_notes(TicketRef("zendesk", "42"))) == 1


def test_own_notes_are_never_acted_on(runtime):
    [outcome] = runtime.pipeline.handle(msg_event(f"{NOTE_MARKER} how do I reset my password?",
                                                  role="plugin", public=False))
    assert (outcome.decision.action, outcome.decision.rule) == ("silent", "own-note")
    assert "loop guard" in outcome.decision.reason and "role == plugin (is 'plugin')" in outcome.decision.reason
    assert runtime.store.notes.list_notes(TicketRef("zendesk", "42")) == []


def test_never_the_same_answer_twice_on_a_ticket(runtime):
    runtime.pipeline.handle(msg_event("How do I reset my password?"))
    later = runtime.pipeline.handle(msg_event("Password reset: how do I do it again?", minutes=60))
    assert actions(later) == [("silent", None)]
    assert "answer_repeats == false (is True)" in later[0].decision.reason


def test_cooldown_between_notes(runtime):
    runtime.pipeline.handle(msg_event("How do I reset my password?"))
    soon = runtime.pipeline.handle(msg_event("How long does a refund take to go back to my card?", minutes=3))
    assert actions(soon) == [("silent", "cooldown")]
    later = runtime.pipeline.handle(msg_event("How long does a refund take to go back to my card?", minutes=30,
                                              mid="again"))
    assert actions(later) == [("answer", "answer-customer-question")]


def test_opt_out_tag_silences(runtime):
    outcomes = runtime.pipeline.handle(msg_event("How do I reset my password?", tags=("vigil_off",)))
    assert actions(outcomes) == [("silent", "opted-out")]


def test_question_outside_the_knowledge_base_stays_silent(runtime):
    outcomes = runtime.pipeline.handle(msg_event("Do you sell gift wrapping for birthday presents?"))
    assert actions(outcomes) == [("silent", None)]
    assert "answer_confidence >= 0.3" in outcomes[0].decision.reason


def test_analyst_public_reply_is_not_answered(runtime):
    outcomes = runtime.pipeline.handle(msg_event("How do I reset my password? Let me check.", role="analyst"))
    assert actions(outcomes) == [("silent", None)]


def test_a_time_with_an_offset_is_stored_as_the_same_moment(runtime):
    from datetime import timezone as tz
    pacific = T0.astimezone(tz(timedelta(hours=-8)))
    event = msg_event("How do I reset my password?")
    runtime.pipeline.handle(Event(event.source, event.ticket_id, "message", pacific, subject="Help",
                                  status="open", message=Message("customer", True, "Hello?", pacific, "m-tz")))
    [message] = runtime.store.tickets.conversation(runtime.store.tickets.find_ticket(TicketRef("zendesk", "42")))
    assert message.created_at == T0 and message.created_at.utcoffset() == timedelta(0)


def test_forgetting_a_ticket_removes_its_model_calls_and_learning_queue_entry(runtime):
    """Issue 11 defect 7: forget_ticket left model_calls and learning_queue rows, so the
    ticket's rows could not be deleted (foreign keys) and `vigil replay` failed the second time."""
    from plugin.model import ModelCall
    from plugin.store.tables import learning_queue, model_calls
    from sqlalchemy import func, select
    runtime.pipeline.handle(msg_event("How do I reset my password?"))
    ticket = runtime.store.tickets.find_ticket(TicketRef("zendesk", "42"))
    runtime.store.notes.record_model_call(ticket, T0, ModelCall("m", "1", 10, 5, 0.1, "ok"))
    runtime.store.learning.queue_learning(ticket, T0)
    runtime.store.tickets.forget_ticket(TicketRef("zendesk", "42"))
    with runtime.store.db.read() as conn:
        left = [conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (model_calls, learning_queue)]
    assert left == [0, 0]
    assert runtime.store.tickets.find_ticket(TicketRef("zendesk", "42")) is None
    assert len(runtime.pipeline.handle(msg_event("How do I reset my password?"))) == 1  # decided afresh


def test_a_huge_comment_is_stored_whole_and_decided_on_its_start_and_end(runtime):
    """Issue 11 defect 1: deciding reads at most decide_max_chars of a comment (its start and
    its end, where a question after a pasted log is), so no comment can take long to decide."""
    from .test_linear_text import deadline
    text = "x" * 64_000 + "\nHow do I reset my password?"  # a pasted log, then the question on its line
    with deadline(5.0):
        [outcome] = runtime.pipeline.handle(msg_event(text))
    assert outcome.decision.action == "answer"  # the question at the end was read
    ticket = runtime.store.tickets.find_ticket(TicketRef("zendesk", "42"))
    [stored] = runtime.store.tickets.conversation(ticket)
    assert stored.body == text  # nothing lost


def test_an_edited_comment_keeps_its_new_text_and_is_not_decided_again(runtime):
    """Issue 11 defect 15: an edited comment (same id, new text) was dropped as a repeat."""
    assert len(runtime.pipeline.handle(msg_event("How do I reset my pasword?", mid="c-9"))) == 1
    assert runtime.pipeline.handle(msg_event("How do I reset my password?", mid="c-9", minutes=2)) == []
    ticket = runtime.store.tickets.find_ticket(TicketRef("zendesk", "42"))
    assert [m.body for m in runtime.store.tickets.conversation(ticket)] == ["How do I reset my password?"]


def test_a_problem_statement_is_searched_though_not_read_as_a_question(settings, knowledge_dir):
    """A rule that answers every customer message (the ranking alone, as `vigil eval --real`
    measures it) finds the entry; the shipped rules still want a question."""
    from plugin.decision.rulebook import load_rules
    from plugin.evaluation.realsets import ranking_alone
    from plugin.runtime import build_runtime
    text = "password reset link never arrives"
    shipped = build_runtime(settings)
    searched = []
    search = shipped.pipeline.index.search
    shipped.pipeline.index.search = lambda *a, **k: searched.append(a) or search(*a, **k)  # type: ignore[method-assign]
    try:
        [outcome] = shipped.pipeline.handle(msg_event(text))
        assert outcome.decision.facts["is_question"] is False and outcome.decision.action != "answer"
        assert searched == []  # no shipped rule answers a statement: no search on its path
    finally:
        shipped.close()
    rules = ranking_alone(load_rules(settings.rules_dir))
    every = build_runtime(settings.replace(home=settings.home / "every"), rules=rules)
    try:
        [outcome] = every.pipeline.handle(msg_event(text))
        assert outcome.decision.action == "answer" and outcome.note.sources[0] == "account/reset-password"
    finally:
        every.close()
