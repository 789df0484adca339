"""Posting notes: retries with Retry-After, backoff on 5xx, failures kept, order per ticket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.model import utcnow
from plugin.runtime import build_runtime

from .fakehttp import FakeServer, Reply
from .test_pipeline import msg_event

PUT = "/api/v2/tickets/42.json"


def ok() -> Reply:
    return Reply(200, {"ticket": {"id": 42}, "audit": {"id": 1, "events": [
        {"id": 9, "type": "Comment", "public": False, "body": "x"}]}})


@pytest.fixture
def helpdesk():
    with FakeServer() as server:
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
    [n] = rt.store.list_notes("42")
    return n


def test_429_waits_for_retry_after_then_posts(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(429, {"error": "slow down"}, headers={"Retry-After": "120"}), ok())
    draft_one(rt)
    before = utcnow()
    rt.worker.deliver_notes()
    assert note(rt)["status"] == "drafted" and "429" in note(rt)["last_error"]
    [due] = rt.store.notes_due(before + timedelta(hours=1))
    assert timedelta(seconds=115) <= due.next_attempt_at - before <= timedelta(seconds=130)
    rt.worker.deliver_notes(now=before + timedelta(seconds=60))  # not due yet: nothing sent
    assert len(helpdesk.received("PUT", PUT)) == 1
    rt.worker.deliver_notes(now=before + timedelta(seconds=121))
    assert note(rt)["status"] == "delivered" and len(helpdesk.received("PUT", PUT)) == 2


def test_5xx_backs_off_then_succeeds(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(503, {"error": "down"}), ok())
    draft_one(rt)
    rt.worker.deliver_notes()
    assert note(rt)["status"] == "drafted" and note(rt)["attempts"] == 1
    rt.worker.deliver_notes(now=utcnow() + timedelta(seconds=31))
    assert note(rt)["status"] == "delivered" and note(rt)["attempts"] == 2


def test_after_the_last_try_the_note_is_failed_and_kept(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(500, {"error": "down"}))
    draft_one(rt)
    for hours in range(4):
        rt.worker.deliver_notes(now=utcnow() + timedelta(hours=hours))
    assert note(rt)["status"] == "failed" and note(rt)["attempts"] == 3
    assert len(helpdesk.received("PUT", PUT)) == 3


def test_permanent_error_fails_at_once(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(404, {"error": "RecordNotFound"}))
    draft_one(rt)
    rt.worker.deliver_notes()
    assert note(rt)["status"] == "failed" and note(rt)["attempts"] == 1


def test_a_waiting_note_holds_back_later_notes_of_its_ticket(rt, helpdesk):
    helpdesk.script("PUT", PUT, Reply(429, {}, headers={"Retry-After": "600"}), ok())
    draft_one(rt)
    draft_one(rt, "How long does a refund take to reach my card?", minutes=30)
    assert [n["status"] for n in rt.store.list_notes("42")] == ["drafted", "drafted"]
    rt.worker.deliver_notes()
    rt.worker.deliver_notes()
    assert len(helpdesk.received("PUT", PUT)) == 1  # the second note did not overtake the first
    rt.worker.deliver_notes(now=utcnow() + timedelta(seconds=601))
    rt.worker.deliver_notes(now=utcnow() + timedelta(seconds=601))
    bodies = [r.json()["ticket"]["comment"]["html_body"] for r in helpdesk.received("PUT", PUT)]
    assert "reset" in bodies[1].lower() and "refund" in bodies[2].lower()


def test_notes_retry_command_requeues_and_posts(rt, helpdesk, settings, monkeypatch):
    helpdesk.script("PUT", PUT, Reply(404, {"error": "gone"}), ok())
    draft_one(rt)
    rt.worker.deliver_notes()
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
    posters = [threading.Thread(target=rt.worker.deliver_notes) for _ in range(3)]
    for p in posters:
        p.start()
    for p in posters:
        p.join()
    assert len(helpdesk.received("PUT", PUT)) == 1
    assert note(rt)["status"] == "delivered"
