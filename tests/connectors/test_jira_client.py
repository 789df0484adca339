"""Posting internal notes: the real `jira` package talking HTTP to a scripted loopback server."""

from __future__ import annotations

import base64
import inspect
import socket
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from connectors.jira import JiraConnector
from connectors.jira.client import JiraNotes
from connectors.jira.render import to_wiki
from connectors.events import NOTE_MARKER
from plugin.settings import Settings
from tests.connectors.jira_api import TOKEN, USER, failure
from tests.fakehttp import FakeServer, Reply

KEY = "SUP-7"
ISSUE = f"/rest/api/2/issue/{KEY}"
COMMENTS = f"/rest/api/2/issue/{KEY}/comment"
NOTE = (f"{NOTE_MARKER} **Likely cause**: expired VPN profile.\n- Re-import it\n"
        "- See [KB-12](https://kb.example.com/12)")
INTERNAL = [{"key": "sd.public.comment", "value": {"internal": True}}]


def project(kind: str | None, key: str = "SUP") -> Reply:
    fields: dict[str, Any] = {"project": {"key": key, "name": "Support"}}
    if kind:
        fields["project"]["projectTypeKey"] = kind
    return Reply(200, {"id": "10001", "key": KEY, "fields": fields})


def jira(server: FakeServer, timeout: Any = (2.0, 5.0), **settings: Any) -> JiraConnector:
    values = {"jira_webhook_secret": "s", "jira_url": server.url,
              "jira_user": USER, "jira_token": TOKEN, **settings}
    return JiraConnector(Settings(**values).helpdesks["jira"], timeout=timeout)


# --- the note is internal by construction -------------------------------------------------

def test_service_management_note_carries_the_internal_property(server):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "10500", "body": "..."}))
    assert jira(server).post_internal_note(KEY, NOTE) == "10500"
    post, = server.received("POST", COMMENTS)
    assert post.json() == {"body": to_wiki(NOTE), "properties": INTERNAL}
    expected_auth = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    assert post.headers["Authorization"] == f"Basic {expected_auth}"
    get, = server.received("GET", ISSUE)
    assert "fields=project" in get.path


def test_plain_jira_note_is_restricted_to_the_staff_role(server):
    server.script("GET", ISSUE, project("software"))
    server.script("GET", "/rest/api/2/project/SUP/role",  # the role exists (test_jira_auth.py)
                  Reply(200, {"Developers": "https://acme.atlassian.net/rest/api/2/project/10001/role/10001"}))
    server.script("POST", COMMENTS, Reply(201, {"id": "10501"}))
    connector = jira(server, jira_service_management=False, jira_internal_role="Developers")
    assert connector.post_internal_note(KEY, NOTE) == "10501"
    post, = server.received("POST", COMMENTS)
    assert post.json() == {"body": to_wiki(NOTE),
                           "visibility": {"type": "role", "value": "Developers"}}


def test_no_parameter_can_make_a_note_public():
    for method in (JiraConnector.post_internal_note, JiraNotes.post):
        assert list(inspect.signature(method).parameters) == ["self", "ticket_id", "body"]


@pytest.mark.parametrize("service_management, kind", [(True, "software"), (True, "business"),
                                                       (False, "service_desk")])
def test_refuses_to_post_where_the_note_would_not_be_internal(server, service_management, kind):
    server.script("GET", ISSUE, project(kind))
    server.script("POST", COMMENTS, Reply(201, {"id": "1"}))
    connector = jira(server, jira_service_management=service_management)
    error = failure(lambda: connector.post_internal_note(KEY, NOTE))
    assert error.retryable is False and "VIGIL_JIRA_SERVICE_MANAGEMENT" in str(error)
    assert server.received("POST", COMMENTS) == []


def test_project_type_is_looked_up_once_per_project(server):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "1"}), Reply(201, {"id": "2"}))
    connector = jira(server)
    posted = [connector.post_internal_note(KEY, "a"), connector.post_internal_note(KEY, "b")]
    assert posted == ["1", "2"]
    assert len(server.received("GET", ISSUE)) == 1


def test_a_moved_issue_is_checked_against_its_current_project_every_time(server):
    # SUP-7 was moved to another project: its old key still resolves, to the new project.
    server.script("GET", ISSUE, project("service_desk", key="HELP"))
    server.script("POST", COMMENTS, Reply(201, {"id": "1"}))
    connector = jira(server)
    connector.post_internal_note(KEY, "a")
    connector.post_internal_note(KEY, "b")
    assert len(server.received("GET", ISSUE)) == 2


def test_server_without_project_types_trusts_the_setting(server):
    server.script("GET", ISSUE, project(None))
    server.script("POST", COMMENTS, Reply(201, {"id": "3"}))
    assert jira(server).post_internal_note(KEY, NOTE) == "3"
    assert server.received("POST", COMMENTS)[0].json()["properties"] == INTERNAL


# --- failures: who retries, and when -----------------------------------------------------------

def test_rate_limit_is_retryable_after_retry_after_and_not_retried_here(server):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(429, {"errorMessages": ["Rate limit exceeded"]},
                                          headers={"Retry-After": "7"}))
    started = time.monotonic()
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert (error.retryable, error.retry_after) == (True, 7.0)
    assert len(server.received("POST", COMMENTS)) == 1  # the package did not retry by itself
    assert time.monotonic() - started < 2  # ... nor sleep


def test_rate_limit_with_an_http_date_waits_until_then(server):
    # Retry-After may be an HTTP date (RFC 9110); read the same way as Zendesk's (plumbing.py).
    date = (datetime.now(timezone.utc) + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    server.script("GET", ISSUE, Reply(429, {}, headers={"Retry-After": date}))
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert error.retryable is True and 80 < (error.retry_after or 0) <= 90


def test_rate_limit_with_a_past_date_retries_at_once(server):
    server.script("GET", ISSUE, Reply(429, {}, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}))
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert (error.retryable, error.retry_after) == (True, 0.0)


def test_service_unavailable_is_not_slept_on_by_the_package(server):
    # ResilientSession retries 503 after 2 x Retry-After seconds unless max_retries is 0.
    server.script("GET", ISSUE, Reply(503, "busy", headers={"Retry-After": "3"}))
    started = time.monotonic()
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert (error.retryable, error.retry_after) == (True, 3.0)
    assert len(server.requests) == 1 and time.monotonic() - started < 2


def test_server_error_is_retryable(server):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(500, {"errorMessages": ["boom"]}))
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert (error.retryable, error.retry_after) == (True, None)
    assert "500" in str(error) and "boom" in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retryable(server, status):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(status, {"errorMessages": ["no"]}))
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert error.retryable is False and str(status) in str(error)


def test_unknown_issue_is_not_retryable_and_nothing_is_posted(server):
    server.script("GET", ISSUE, Reply(404, {"errorMessages": ["Issue does not exist"]}))
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert error.retryable is False and "Issue does not exist" in str(error)
    assert server.received("POST", COMMENTS) == []


def test_timeout_is_retryable(server):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "9"}, delay=2.0))
    started = time.monotonic()
    error = failure(lambda: jira(server, timeout=(1.0, 0.3)).post_internal_note(KEY, NOTE))
    assert error.retryable is True and time.monotonic() - started < 1.5
    assert error.unsure is True  # Jira may have stored it: the retry looks first


def test_connection_refused_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(jira_webhook_secret="s", jira_url=f"http://127.0.0.1:{port}",
                        jira_user="u", jira_token=TOKEN)
    error = failure(lambda: JiraConnector(settings.helpdesks["jira"]).post_internal_note(KEY, NOTE))
    assert error.retryable is True


@pytest.mark.parametrize("reply", [Reply(201, b""), Reply(201, {"self": "x"}), Reply(200, "<html>")])
def test_success_without_a_comment_id_is_retried_after_looking_for_it(server, reply):
    # The comment may exist: the retry reads the issue's comments before posting again.
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, reply)
    error = failure(lambda: jira(server).post_internal_note(KEY, NOTE))
    assert (error.retryable, error.unsure) == (True, True)


def test_a_posted_note_is_found_by_its_reference(server):
    page = {"startAt": 0, "maxResults": 50, "total": 2, "comments": [
        {"id": "10400", "body": "Customer: still broken"},
        {"id": "10401", "body": f"{to_wiki(NOTE)}\n\nvigil-ref 7-0a1b2c3d"}]}
    server.script("GET", COMMENTS, Reply(200, page))
    assert jira(server).find_note(KEY, "vigil-ref 7-0a1b2c3d") == "10401"
    assert jira(server).find_note(KEY, "vigil-ref 8-0a1b2c3d") is None
    assert server.received("POST", COMMENTS) == []
    error = failure(lambda: jira(server).find_note("../../serverInfo", "vigil-ref 7-0a1b2c3d"))
    assert error.retryable is False and len(server.requests) == 2  # refused before any request


@pytest.mark.parametrize("reply, unsure", [(Reply(500, {}), True), (Reply(429, {}), False), (Reply(404, {}), False)])
def test_only_failures_that_may_follow_a_stored_comment_are_unsure(server, reply, unsure):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, reply)
    assert failure(lambda: jira(server).post_internal_note(KEY, NOTE)).unsure is unsure


# --- configuration --------------------------------------------------------------------------

@pytest.mark.parametrize("field, env", [("jira_url", "VIGIL_JIRA_URL"),
                                        ("jira_user", "VIGIL_JIRA_USER"),
                                        ("jira_token", "VIGIL_JIRA_TOKEN")])
def test_missing_credentials_are_not_retryable_and_named(server, field, env):
    error = failure(lambda: jira(server, **{field: ""}).post_internal_note(KEY, NOTE))
    assert error.retryable is False and env in str(error)
    assert server.requests == []


def test_plain_jira_without_a_staff_role_is_not_retryable(server):
    connector = jira(server, jira_service_management=False, jira_internal_role=" ")
    error = failure(lambda: connector.post_internal_note(KEY, NOTE))
    assert error.retryable is False and "VIGIL_JIRA_INTERNAL_ROLE" in str(error)
    assert server.requests == []


@pytest.mark.parametrize("ticket", ["", "../../serverInfo", "SUP-7/comment", "SUP-7?x=1", "7",
                                    "SUP-0"])
def test_a_ticket_id_that_is_not_an_issue_key_never_reaches_jira(server, ticket):
    error = failure(lambda: jira(server).post_internal_note(ticket, NOTE))
    assert error.retryable is False and server.requests == []


def test_the_posted_body_is_wiki_markup_and_keeps_the_marker(server):
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "1"}))
    jira(server).post_internal_note(KEY, NOTE)
    body = server.received("POST", COMMENTS)[0].json()["body"]
    assert body.startswith(NOTE_MARKER)
    assert "*Likely cause*" in body and "* Re-import it" in body
    assert "[KB-12|https://kb.example.com/12]" in body
