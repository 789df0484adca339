"""End to end through the Flask app: signed webhook in, decision stored, internal note out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from connectors.events import TicketRef
from plugin.web.app import create_app
from plugin.model import utcnow

from .conftest import FIXTURES, write_entry
from .fakehttp import FakeServer, Reply
from .signing import zendesk_headers

CUSTOMER_COMMENT = (FIXTURES / "zendesk" / "ticket.comment_added__customer_public.json").read_bytes()
SECRET = "zendesk-test-secret"
PUT = "/api/v2/tickets/35436.json"


def signed(body: bytes, secret: str = SECRET, at: datetime | None = None, invocation: str = "inv-1") -> dict:
    return zendesk_headers(body, secret, invocation, at)


def update_reply(status: int = 200) -> Reply:
    audit = {"id": 1, "events": [{"id": 777, "type": "Comment", "public": False, "body": "note"}]}
    return Reply(status, {"ticket": {"id": 35436, "status": "open"}, "audit": audit})


@pytest.fixture
def helpdesk():
    with FakeServer() as server:
        yield server


@pytest.fixture
def app(settings, knowledge_dir, helpdesk):
    write_entry(knowledge_dir, "exports/retry-failed-export", "Make a failed nightly export retry",
                ["export", "E1042", "retry"], """
        Error E1042 means the nightly export hit the plan's row quota.
        1. Open Settings, Exports and turn on "Retry failed exports".
        2. Lower the export's row limit or upgrade the plan.""")
    app = create_app(settings.replace(zendesk_url=helpdesk.url, zendesk_email="bot@example.org",
                                      zendesk_token="t0ken", jira_webhook_secret=""),
                     start_worker=False)
    yield app
    app.extensions["vigil"].close()


def test_signed_question_becomes_a_private_note(app, helpdesk):
    helpdesk.script("PUT", PUT, update_reply())
    response = app.test_client().post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT))
    assert response.status_code == 202, response.json
    runtime = app.extensions["vigil"]
    assert helpdesk.requests == []  # nothing is posted before the worker runs: the answer is fast
    runtime.processor.drain()
    [request] = helpdesk.received("PUT", PUT)
    comment = request.json()["ticket"]["comment"]
    assert comment["public"] is False
    assert "knowledge/exports/retry-failed-export.md" in comment["html_body"]
    [note] = runtime.store.notes.list_notes(TicketRef("zendesk", "35436"))
    assert (note["status"], note["rule"], note["public"]) == ("delivered", "answer-customer-question", False)
    [step] = list(runtime.store.tickets.timeline(runtime.store.tickets.find_ticket(TicketRef("zendesk", "35436"))))
    assert step["action"] == "answer" and "answer_confidence >= 0.3" in step["reason"]


def test_repeated_delivery_is_answered_200_and_processed_once(app, helpdesk):
    helpdesk.script("PUT", PUT, update_reply())
    client = app.test_client()
    assert client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT)).status_code == 202
    again = client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT))
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    app.extensions["vigil"].processor.drain()
    assert len(helpdesk.received("PUT", PUT)) == 1


@pytest.mark.parametrize("headers, why", [
    (lambda b: signed(b, secret="wrong"), "signature"),
    (lambda b: {k: v for k, v in signed(b).items() if "Signature" not in k}, "signature"),
    (lambda b: signed(b, at=utcnow() - timedelta(hours=1)), "timestamp"),
])
def test_bad_signatures_get_401_and_store_nothing(app, headers, why):
    response = app.test_client().post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=headers(CUSTOMER_COMMENT))
    assert response.status_code == 401 and why in response.json["error"].lower()
    assert app.extensions["vigil"].store.inbox.pending_deliveries() == []


@pytest.mark.parametrize("body", [b"{not json", b"[]", json.dumps({"type": "zen:event-type:ticket.comment_added"}).encode()])
def test_malformed_bodies_get_400_with_a_reason(app, body):
    response = app.test_client().post("/webhooks/zendesk", data=body, headers=signed(body))
    assert response.status_code == 400 and response.json["error"]


def test_connector_without_secret_is_refused_not_open(app):
    body = b"{}"
    response = app.test_client().post("/webhooks/jira", data=body, headers={"X-Hub-Signature": "sha256=00"})
    assert response.status_code == 404
    assert "VIGIL_JIRA_WEBHOOK_SECRET" in response.json["error"]
    assert app.test_client().get("/healthz").json["connectors"] == ["zendesk"]


def test_oversized_body_gets_413(app):
    body = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    assert app.test_client().post("/webhooks/zendesk", data=body, headers=signed(body)).status_code == 413


def test_plugin_own_note_does_not_loop(app, helpdesk):
    own = (FIXTURES / "zendesk" / "ticket.comment_added__bot_note.json").read_bytes()
    assert app.test_client().post("/webhooks/zendesk", data=own, headers=signed(own, invocation="inv-own")).status_code == 202
    runtime = app.extensions["vigil"]
    runtime.processor.drain()
    assert helpdesk.requests == [] and runtime.store.notes.list_notes() == []


def test_accepted_delivery_survives_a_crash(app, settings, helpdesk):
    """Stored before the answer: a process that dies before working still loses nothing."""
    assert app.test_client().post("/webhooks/zendesk", data=CUSTOMER_COMMENT,
                                  headers=signed(CUSTOMER_COMMENT)).status_code == 202
    app.extensions["vigil"].close()  # the process ends with the delivery unprocessed
    helpdesk.script("PUT", PUT, update_reply())
    restarted = create_app(app.extensions["vigil"].settings, start_worker=False)
    try:
        restarted.extensions["vigil"].processor.drain()
        assert len(helpdesk.received("PUT", PUT)) == 1
    finally:
        restarted.extensions["vigil"].close()


def test_a_delivery_the_database_cannot_store_gets_503_never_2xx(app):
    from sqlalchemy import text
    with app.extensions["vigil"].store.db.engine.begin() as conn:
        conn.execute(text("DROP TABLE deliveries"))  # the database refuses every write to the inbox
    response = app.test_client().post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT))
    assert response.status_code == 503 and "retry" in response.json["error"]


def test_a_flood_from_one_source_gets_429_and_does_not_starve_the_other(settings):
    from plugin.web.app import RateLimit
    limit = RateLimit(rate=5)
    assert [limit.allow("zendesk", now=100.0) for _ in range(6)] == [True] * 5 + [False]
    assert limit.allow("jira", now=100.0)  # a bucket per source
    assert not limit.allow("zendesk", now=100.1) and limit.allow("zendesk", now=100.3)  # refills at 5/s

    app = create_app(settings.replace(webhook_rate_limit=3, jira_webhook_secret=""), start_worker=False)
    try:
        client = app.test_client()
        bodies = [CUSTOMER_COMMENT.replace(b'"id"', f'"x{i}": 0, "id"'.encode(), 1) for i in range(5)]  # 5 events
        answers = [client.post("/webhooks/zendesk", data=body,
                               headers=signed(body, invocation=f"inv-{i}")) for i, body in enumerate(bodies)]
        assert [a.status_code for a in answers][:3] == [202, 202, 202]
        assert answers[-1].status_code == 429 and answers[-1].headers["Retry-After"] == "1"
        assert "more than 3 zendesk webhooks a second" in answers[-1].json["error"]
        assert len(app.extensions["vigil"].store.inbox.pending_deliveries()) == 3  # the refused were not stored
    finally:
        app.extensions["vigil"].close()


def test_refused_requests_are_counted_per_hour_not_stored_one_row_each(app):
    """Issue 11 defect 5: 1,300 refused requests made 1,300 rows that nothing deleted."""
    from sqlalchemy import func, select
    from plugin.store.tables import webhook_results
    client = app.test_client()
    bad = signed(CUSTOMER_COMMENT, secret="wrong")
    for _ in range(40):
        assert client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=bad).status_code == 401
        assert client.post("/webhooks/no-such-desk", data=b"{}").status_code == 404
    store = app.extensions["vigil"].store
    with store.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_results)).scalar_one() <= 4  # an hour may turn
    assert store.operator.webhook_results() == {("zendesk", "unauthorized"): 40, ("unknown", "off"): 40}


def test_hours_of_refusals_past_keeping_are_pruned(app):
    from plugin.store.operator import KEEP_WEBHOOK_RESULTS
    operator = app.extensions["vigil"].store.operator
    now = utcnow()
    operator.record_webhook("zendesk", "unauthorized", now - KEEP_WEBHOOK_RESULTS - timedelta(hours=2))
    operator.record_webhook("zendesk", "unauthorized", now)
    assert operator.webhook_results() == {("zendesk", "unauthorized"): 1}


def test_an_unsigned_flood_does_not_spend_the_helpdesks_rate_limit(settings):
    """Issue 11 defect 5: the limit was charged before the signature was checked, so unsigned
    requests made valid webhooks get 429."""
    app = create_app(settings.replace(webhook_rate_limit=3, jira_webhook_secret=""), start_worker=False)
    try:
        client = app.test_client()
        unsigned = [client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers={"Content-Type": "application/json"})
                    for _ in range(10)]
        assert {a.status_code for a in unsigned} == {401}
        assert client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT)).status_code == 202
    finally:
        app.extensions["vigil"].close()


def test_a_replayed_signed_body_under_a_new_delivery_id_is_a_duplicate(app):
    """Issue 11 defect 4: the delivery id is an unsigned header; re-posting the same signed
    body with new ids stored the comment again and decided it again."""
    client = app.test_client()
    first = client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT, invocation="inv-1"))
    replay = client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT, invocation="inv-2"))
    assert first.status_code == 202
    assert replay.status_code == 200 and replay.json["status"] == "duplicate"
    assert len(app.extensions["vigil"].store.inbox.pending_deliveries()) == 1
