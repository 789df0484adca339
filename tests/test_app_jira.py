"""End to end for Jira: a captured webhook, signed, through the app; a note out through the jira package."""

from __future__ import annotations

from dataclasses import replace

import pytest

from connectors.events import TicketRef
from plugin.web.app import create_app

from .conftest import FIXTURES
from .fakehttp import FakeServer, Reply
from .signing import hub_headers
from .test_pipeline import msg_event

CREATED = (FIXTURES / "jira" / "mattermost-plugin-jira" / "webhook-issue-created.json").read_bytes()
SECRET = "jira-test-secret"


def signed(body: bytes, delivery: str = "d-1") -> dict:
    return hub_headers(body, SECRET, delivery)


@pytest.fixture
def jira():
    with FakeServer() as server:
        yield server


@pytest.fixture
def app(settings, jira):
    app = create_app(settings.replace(jira_url=jira.url, jira_user="bot@example.org", jira_token="t0ken",
                                      zendesk_webhook_secret=""), start_worker=False)
    yield app
    app.extensions["vigil"].close()


def test_captured_issue_is_stored_decided_and_explained(app):
    client = app.test_client()
    assert client.post("/webhooks/jira", data=CREATED, headers=signed(CREATED)).status_code == 202
    assert client.post("/webhooks/jira", data=CREATED, headers=signed(CREATED)).status_code == 200  # a retry
    runtime = app.extensions["vigil"]
    runtime.processor.drain()
    ticket = runtime.store.tickets.find_ticket(TicketRef("jira", "TES-41"))
    [step] = list(runtime.store.tickets.timeline(ticket))
    assert step["event"] == "created" and step["action"] == "silent"
    assert "nearest was" in step["reason"]  # silence is explained too


def test_wrong_signature_is_401(app):
    headers = dict(signed(CREATED), **{"X-Hub-Signature": "sha256=" + "0" * 64})
    assert app.test_client().post("/webhooks/jira", data=CREATED, headers=headers).status_code == 401


def test_a_jira_note_goes_out_internal(app, jira):
    jira.script("GET", "/rest/api/2/issue/SUP-9", Reply(200, {"id": "1", "key": "SUP-9", "fields": {
        "project": {"key": "SUP", "projectTypeKey": "service_desk"}}}))
    jira.script("POST", "/rest/api/2/issue/SUP-9/comment", Reply(201, {"id": "10500"}))
    runtime = app.extensions["vigil"]
    runtime.pipeline.handle(replace(msg_event("How do I reset my password?", ticket="SUP-9"), source="jira"))
    runtime.processor.drain()
    [post] = jira.received("POST", "/rest/api/2/issue/SUP-9/comment")
    sent = post.json()
    assert sent["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert "knowledge/account/reset-password.md" in sent["body"]
    assert runtime.store.notes.list_notes(TicketRef("jira", "SUP-9"))[0]["status"] == "delivered"


# --- comment bodies without a reporter ---------------------------------------------------------
# Captured Cloud comment_created of comment 10019 on TES-41: an `atlassian` author and no reporter,
# so its role is unknown; the same issue's captured jira:issue_created is its ticket's other delivery.
MM = FIXTURES / "jira" / "mattermost-plugin-jira"
THIN = (MM / "webhook-cloud-comment-created.json").read_bytes()
SERVER_THIN = (MM / "webhook-server-comment-created.json").read_bytes()  # no issue key at all
SERVER_TWIN = (MM / "webhook-server-issue-updated-commented-1.json").read_bytes()


def test_a_comment_body_without_a_reporter_is_recorded_unread_with_the_fix(app, caplog):
    client = app.test_client()
    with caplog.at_level("INFO", logger="vigil.connectors.jira"):
        answer = client.post("/webhooks/jira", data=THIN, headers=signed(THIN))
    assert answer.status_code == 202 and answer.get_json()["events"] == 0
    assert "no reporter" in answer.get_json()["unread"]
    [unread] = app.extensions["vigil"].store.inbox.unread_deliveries()
    assert unread["ticket"] == "jira:TES-41" and unread["delivery_id"] == "d-1"
    assert unread["error"].startswith("comment_created of comment 10019 on TES-41 left unread")
    assert "subscribed to Issue: updated, tick it (connectors/jira/SETUP.md, step 3)" in unread["error"]
    assert any("tick it" in record.getMessage() for record in caplog.records)  # the log says the fix too


@pytest.mark.parametrize("order", [(THIN, CREATED), (CREATED, THIN)], ids=["thin first", "twin first"])
def test_a_comment_body_paired_with_a_delivery_for_its_ticket_is_not_listed(app, order):
    client = app.test_client()
    for number, body in enumerate(order):
        assert client.post("/webhooks/jira", data=body, headers=signed(body, f"d-{number}")).status_code == 202
    assert app.extensions["vigil"].store.inbox.unread_deliveries() == []


def test_an_old_server_comment_body_without_an_issue_is_paired_with_its_twin(app):
    client = app.test_client()
    client.post("/webhooks/jira", data=SERVER_THIN, headers=signed(SERVER_THIN, "d-thin"))
    [unread] = app.extensions["vigil"].store.inbox.unread_deliveries()
    assert unread["ticket"] == "jira:" and "names no issue key" in unread["error"]
    client.post("/webhooks/jira", data=SERVER_TWIN, headers=signed(SERVER_TWIN, "d-twin"))
    assert app.extensions["vigil"].store.inbox.unread_deliveries() == []
