"""Posting notes: retries with Retry-After, backoff on 5xx, failures kept, order per ticket."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner

from connectors.events import TicketRef
from plugin.cli import main
from plugin.model import utcnow
from plugin.runtime import build_runtime
from plugin.work.poster import note_ref

from .fakehttp import FakeServer, Reply
from .test_pipeline import msg_event

PUT = "/api/v2/tickets/42.json"


def ok() -> Reply:
    return Reply(200, {"ticket": {"id": 42}, "audit": {"id": 1, "events": [
        {"id": 9, "type": "Comment", "public": False, "body": "x"}]}})


@pytest.fixture
def helpdesk():
    with FakeServer() as server:
        # A retry after an unsure failure reads the ticket's comments first: none, unless scripted.
        server.fallback = lambda request: (comments() if request.method == "GET" and "/comments.json" in request.path
                                           else Reply(404, {"error": f"nothing at {request.path}"}))
        yield server


@pytest.fixture
def rt(settings, helpdesk):
    runtime = build_runtime(settings.replace(zendesk_url=helpdesk.url, zendesk_email="bot@example.org",
                                             zendesk_token="t0ken", delivery_max_attempts=3,
                                             delivery_backoff_seconds=30))
    yield runtime
    runtime.close()


def draft_one(rt, text="How do I reset my password?", minutes=0, ticket="42"):
    rt.pipeline.handle(msg_event(text, minutes=minutes, ticket=ticket))


def note(rt):
    [n] = rt.store.notes.list_notes(TicketRef("zendesk", "42"))
    return n


def test_429_waits_for_retry_after_then_posts(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(429, {"error": "slow down"}, headers={"Retry-After": "120"}), ok())
    draft_one(rt)
    before = utcnow()
    rt.poster.deliver_notes()
    assert note(rt)["status"] == "drafted" and "429" in note(rt)["last_error"]
    [due] = rt.store.notes.notes_due(before + timedelta(hours=1))
    assert timedelta(seconds=115) <= due.next_attempt_at - before <= timedelta(seconds=130)
    rt.poster.deliver_notes(now=before + timedelta(seconds=60))  # not due yet: nothing sent
    assert len(helpdesk.received("PUT", PUT)) == 1
    rt.poster.deliver_notes(now=before + timedelta(seconds=121))
    assert note(rt)["status"] == "delivered" and len(helpdesk.received("PUT", PUT)) == 2


def test_5xx_backs_off_then_succeeds(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(503, {"error": "down"}), ok())
    draft_one(rt)
    rt.poster.deliver_notes()
    assert note(rt)["status"] == "drafted" and note(rt)["attempts"] == 1
    rt.poster.deliver_notes(now=utcnow() + timedelta(seconds=31))
    assert note(rt)["status"] == "delivered" and note(rt)["attempts"] == 2


def test_after_the_last_try_the_note_is_failed_and_kept(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(500, {"error": "down"}))
    draft_one(rt)
    for hours in range(4):
        rt.poster.deliver_notes(now=utcnow() + timedelta(hours=hours))
    assert note(rt)["status"] == "failed" and note(rt)["attempts"] == 3
    assert len(helpdesk.received("PUT", PUT)) == 3


def test_permanent_error_fails_at_once(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(404, {"error": "RecordNotFound"}))
    draft_one(rt)
    rt.poster.deliver_notes()
    assert note(rt)["status"] == "failed" and note(rt)["attempts"] == 1


def test_a_waiting_note_holds_back_later_notes_of_its_ticket(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(429, {}, headers={"Retry-After": "600"}), ok())
    draft_one(rt)
    draft_one(rt, "How long does a refund take to reach my card?", minutes=30)
    assert [n["status"] for n in rt.store.notes.list_notes(TicketRef("zendesk", "42"))] == ["drafted", "drafted"]
    rt.poster.deliver_notes()
    rt.poster.deliver_notes()
    assert len(helpdesk.received("PUT", PUT)) == 1  # the second note did not overtake the first
    rt.poster.deliver_notes(now=utcnow() + timedelta(seconds=601))
    rt.poster.deliver_notes(now=utcnow() + timedelta(seconds=601))
    bodies = [r.json()["ticket"]["comment"]["html_body"] for r in helpdesk.received("PUT", PUT)]
    assert "reset" in bodies[1].lower() and "refund" in bodies[2].lower()


def test_notes_retry_command_requeues_and_posts(rt, helpdesk, settings, monkeypatch):
    helpdesk.script("PUT", PUT, Reply(404, {"error": "gone"}), ok())
    draft_one(rt)
    rt.poster.deliver_notes()
    assert note(rt)["status"] == "failed"
    for name, value in {"VIGIL_HOME": str(settings.home), "VIGIL_KNOWLEDGE_DIR": str(settings.knowledge_dir),
                        "VIGIL_RULES_DIR": str(settings.rules_dir), "VIGIL_ZENDESK_URL": helpdesk.url,
                        "VIGIL_ZENDESK_EMAIL": "bot@example.org", "VIGIL_ZENDESK_TOKEN": "t0ken",
                        "VIGIL_ZENDESK_WEBHOOK_SECRET": "s"}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["notes", "retry"])
    assert result.exit_code == 0, result.output
    assert "1 failed note(s) queued again" in result.output
    assert note(rt)["status"] == "delivered"


def test_a_note_is_posted_once_when_two_posters_race(rt, helpdesk):
    import threading
    helpdesk.script("PUT", PUT, Reply(200, ok().body, delay=0.3))  # slow helpdesk: the window is open
    draft_one(rt)
    posters = [threading.Thread(target=rt.poster.deliver_notes) for _ in range(3)]
    for p in posters:
        p.start()
    for p in posters:
        p.join()
    assert len(helpdesk.received("PUT", PUT)) == 1
    assert note(rt)["status"] == "delivered"


def test_the_helpdesk_down_for_minutes_backs_off_keeps_order_then_fails_retryably(rt, helpdesk):
    """Notes of two tickets against a helpdesk answering 503 for an hour: nothing is lost."""
    other = "/api/v2/tickets/43.json"
    for route in (PUT, other):
        helpdesk.script("PUT", route, Reply(503, {"error": "maintenance"}))
    draft_one(rt)
    draft_one(rt, "How long does a refund take to reach my card?", minutes=30)
    draft_one(rt, "How do I reset my password?", ticket="43")
    start = utcnow()
    for minute in range(0, 60):  # the worker's passes over an hour of outage
        rt.poster.deliver_notes(now=start + timedelta(minutes=minute))
    # Each ticket's first note was tried delivery_max_attempts times, backing off; the later
    # note of ticket 42 never overtook it, and failed with it, so a retry keeps the order.
    assert len(helpdesk.received("PUT", PUT)) == 3 and len(helpdesk.received("PUT", other)) == 3
    attempts = [r for r in helpdesk.requests if r.method == "PUT"]
    assert all("reset" in r.json()["ticket"]["comment"]["html_body"].lower() for r in attempts)
    assert [n["status"] for n in rt.store.notes.list_notes()] == ["failed"] * 3
    assert [n["last_error"][:35] for n in rt.store.notes.list_notes(TicketRef("zendesk", "42"))] == [
        "Zendesk answered 503 to the note on", "kept back behind note 1, which fail"]
    for route in (PUT, other):
        helpdesk.script("PUT", route, ok())
    assert rt.store.notes.retry_failed_notes() == 3  # the helpdesk is back: `vigil notes retry`
    for _ in range(3):
        rt.poster.deliver_notes()
    assert [n["status"] for n in rt.store.notes.list_notes()] == ["delivered"] * 3
    bodies = [r.json()["ticket"]["comment"]["html_body"] for r in helpdesk.received("PUT", PUT)[3:]]
    assert "reset" in bodies[0].lower() and "refund" in bodies[1].lower()  # in order


# -- several workers: exactly once, in order per ticket ------------------------------------

def stored_delivery(rt, *events):
    from connectors.events import Delivery
    assert rt.store.inbox.accept(Delivery("zendesk", f"d-{events[0].message.message_id}", events))
    [(pk, done, stored)] = rt.store.inbox.pending_deliveries()
    return pk, done, stored


def counts(rt):
    with rt.store.db.engine.connect() as conn:
        return tuple(conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in ("messages", "decisions", "notes"))


def test_an_event_interrupted_before_its_commit_leaves_nothing_and_runs_again_once(rt, monkeypatch):
    pk, done, events = stored_delivery(rt, msg_event("How do I reset my password?"))
    real = rt.store.notes.add_note

    def killed(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt  # the process dies after writing the note, before the commit
    monkeypatch.setattr(rt.store.notes, "add_note", killed)
    with pytest.raises(KeyboardInterrupt):
        rt.processor.run_delivery(pk, done, events)
    assert counts(rt) == (0, 0, 0)  # rolled back: as if the event had never been looked at
    monkeypatch.setattr(rt.store.notes, "add_note", real)
    rt.processor.drain()
    assert counts(rt) == (1, 1, 1)
    assert rt.store.inbox.pending_deliveries() == []


def test_two_workers_handling_one_delivery_take_effect_once(rt, settings):
    second = build_runtime(settings)  # another process's worker, same database
    try:
        pk, done, events = stored_delivery(rt, msg_event("How do I reset my password?"),
                                           msg_event("How long does a refund take?", minutes=1))
        rt.processor.run_delivery(pk, done, events)
        once = counts(rt)
        second.processor.run_delivery(pk, done, events)  # it read the delivery before the first finished
        assert once[:2] == (2, 2) and once[2] >= 1
        assert counts(rt) == once
        assert rt.store.inbox.pending_deliveries() == []
    finally:
        second.close()


def test_a_ticket_held_by_another_worker_waits_for_it_until_its_lease_expires(rt, settings):
    second = build_runtime(settings.replace(lease_seconds=0.3))
    try:
        stored_delivery(rt, msg_event("How do I reset my password?"))
        assert rt.store.inbox.take_lease("ticket:zendesk:42", "a-worker-that-died", 0.3)
        second.processor.drain()
        assert counts(rt)[1] == 0  # not its turn: the other holder may be mid-event
        import time
        time.sleep(0.35)
        second.processor.drain()
        assert counts(rt)[1] == 1  # the holder's lease ran out: the ticket is taken over
        assert second.store.inbox.take_lease("ticket:zendesk:42", "someone", 10)  # and released after
    finally:
        second.close()


def test_events_of_one_ticket_are_decided_in_order_by_racing_workers(rt, settings):
    import threading
    others = [build_runtime(settings) for _ in range(3)]
    try:
        from connectors.events import Delivery
        texts = [f"Question number {i}: how do I reset my password?" for i in range(12)]
        for i, text in enumerate(texts):
            rt.store.inbox.accept(Delivery("zendesk", f"d{i}", (msg_event(text, minutes=i, mid=f"c{i}"),)))
        threads = [threading.Thread(target=o.processor.drain) for o in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        conversation = rt.store.tickets.conversation(rt.store.tickets.find_ticket(TicketRef("zendesk", "42")))
        assert [m.body for m in conversation] == texts
        assert counts(rt)[1] == 12
    finally:
        for o in others:
            o.close()


# -- a note whose earlier try may have landed is looked for before it is posted again -------

COMMENTS = "/api/v2/tickets/42/comments.json"


def comments(*bodies: str) -> Reply:
    return Reply(200, {"comments": [{"id": 700 + i, "type": "Comment", "public": False, "body": body,
                                     "html_body": f"<p>{body}</p>", "author_id": 1,
                                     "created_at": "2026-11-26T01:00:00Z"} for i, body in enumerate(bodies)],
                       "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                       "links": {"prev": None, "next": None}})


def posted_ref(helpdesk) -> str:
    html = helpdesk.received("PUT", PUT)[0].json()["ticket"]["comment"]["html_body"]
    return re.search(r"vigil-ref \d+-[0-9a-f]{8}", html).group(0)


def test_a_5xx_after_zendesk_stored_the_note_does_not_post_it_twice(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(502, {"error": "bad gateway"}), ok())  # stored, then the gateway failed
    draft_one(rt)
    rt.poster.deliver_notes()
    helpdesk.script("GET", COMMENTS, comments("How do I reset my password?", f"The note... {posted_ref(helpdesk)}"))
    rt.poster.deliver_notes(now=utcnow() + timedelta(hours=1))
    assert len(helpdesk.received("PUT", PUT)) == 1  # found, not posted again
    assert (note(rt)["status"], note(rt)["attempts"]) == ("delivered", 2)
    [(remote_id,)] = rt.store.db.engine.connect().exec_driver_sql("SELECT remote_id FROM notes").all()
    assert remote_id == "701"


def test_a_5xx_that_stored_nothing_is_posted_again_after_looking(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(503, {"error": "down"}), ok())
    helpdesk.script("GET", COMMENTS, comments("How do I reset my password?"))
    draft_one(rt)
    rt.poster.deliver_notes()
    rt.poster.deliver_notes(now=utcnow() + timedelta(hours=1))
    assert len(helpdesk.received("GET", COMMENTS)) == 1 and len(helpdesk.received("PUT", PUT)) == 2
    assert note(rt)["status"] == "delivered"


def test_a_429_is_certain_so_the_retry_does_not_look(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(429, {}, headers={"Retry-After": "1"}), ok())
    draft_one(rt)
    rt.poster.deliver_notes()
    rt.poster.deliver_notes(now=utcnow() + timedelta(hours=1))
    assert helpdesk.received("GET", COMMENTS) == [] and note(rt)["status"] == "delivered"


def test_a_poster_that_died_mid_post_is_found_out_by_the_next_one(settings, helpdesk):
    rt = build_runtime(settings.replace(zendesk_url=helpdesk.url, zendesk_email="bot@example.org",
                                        zendesk_token="t0ken", lease_seconds=0.2))
    try:
        helpdesk.script("PUT", PUT, ok())
        draft_one(rt)
        [due] = rt.store.notes.notes_due(utcnow())
        assert rt.store.notes.claim_note(due.id, utcnow(), 0.2)  # a poster claims it, posts, is SIGKILLed
        rt.poster.deliver_notes()
        assert helpdesk.received("PUT", PUT) == []  # the claim holds while it lasts
        time.sleep(0.25)
        helpdesk.script("GET", COMMENTS, comments(f"... {note_ref(due.id, due.body)}"))
        rt.poster.deliver_notes()
        assert helpdesk.received("PUT", PUT) == [] and note(rt)["status"] == "delivered"
    finally:
        rt.close()


def test_a_failed_delivery_is_kept_listed_and_decided_again_from_the_event_that_failed(
        rt, settings, helpdesk, monkeypatch):
    import json
    from plugin.decision.pipeline import Pipeline
    pk, done, events = stored_delivery(rt, msg_event("How do I reset my password?"),
                                       msg_event("How long does a refund take?", minutes=1))
    real = Pipeline.handle

    def broken(self, event, *args, **kwargs):
        if "refund" in event.message.body:
            raise ValueError("a bug in the second event's handling")
        return real(self, event, *args, **kwargs)
    monkeypatch.setattr(Pipeline, "handle", broken)
    rt.processor.run_delivery(pk, done, events)
    assert counts(rt)[:2] == (1, 1)  # the first event took effect, the second did not
    assert [d[0] for d in rt.store.inbox.pending_deliveries()] == [pk]  # tried again, up to decide_max_attempts
    for _ in range(settings.decide_max_attempts - 1):
        rt.processor.run_delivery(*rt.store.inbox.pending_deliveries()[0])
    assert rt.store.inbox.pending_deliveries() == []
    for name, value in {"VIGIL_HOME": str(settings.home), "VIGIL_KNOWLEDGE_DIR": str(settings.knowledge_dir),
                        "VIGIL_RULES_DIR": str(settings.rules_dir), "VIGIL_ZENDESK_WEBHOOK_SECRET": "s"}.items():
        monkeypatch.setenv(name, value)
    listed = CliRunner().invoke(main, ["deliveries", "--json"])
    assert listed.exit_code == 0, listed.output
    [failed] = [json.loads(line) for line in listed.output.splitlines()]
    assert (failed["id"], failed["handled"], failed["events"]) == (pk, 1, 2)
    assert failed["error"] == "ValueError: a bug in the second event's handling"
    assert failed["tries"] == settings.decide_max_attempts
    monkeypatch.setattr(Pipeline, "handle", real)  # the fix is deployed
    result = CliRunner().invoke(main, ["deliveries", "retry"])
    assert result.exit_code == 0 and "1 failed deliveries queued again" in result.output, result.output
    assert counts(rt)[:2] == (2, 2)  # the second event decided once; the first not again
    assert rt.store.inbox.failed_deliveries() == [] and rt.store.inbox.pending_deliveries() == []


def test_a_delivery_whose_tries_never_finished_is_set_aside_not_tried_again(rt, settings, monkeypatch):
    """Issue 11 defect 1: a comment that hung the worker froze every restarted process too. Each
    try is counted before it starts, so tries cut short by a kill (simulated: counted, never
    finished) add up, and the next worker sets the delivery aside without deciding it."""
    from plugin.decision.pipeline import Pipeline
    pk, done, events = stored_delivery(rt, msg_event("How do I reset my password?"))
    for _ in range(settings.decide_max_attempts):  # each process died deciding it
        assert rt.store.inbox.begin_attempt(pk, settings.decide_max_attempts)
    decided = []
    monkeypatch.setattr(Pipeline, "handle", lambda self, event, *a, **k: decided.append(event))
    rt.processor.process_ticket(TicketRef("zendesk", "42").key)
    assert decided == [] and rt.store.inbox.pending_deliveries() == []
    [failed] = rt.store.inbox.failed_deliveries()
    assert failed["id"] == pk and "never finished" in failed["error"]
    assert rt.store.inbox.retry_failed_deliveries(pk) == 1  # `vigil deliveries retry`: tries start again
    assert rt.store.inbox.begin_attempt(pk, settings.decide_max_attempts)
