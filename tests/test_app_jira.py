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
