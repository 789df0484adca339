"""Reading resolved issues back: the real `jira` package, over real HTTP, to a loopback server.

Search answers follow the REST v2 reference (developer.atlassian.com: "Search for issues using
JQL" on Data Center, {startAt, maxResults, total, issues}; "Search for issues using JQL enhanced
search" on Cloud, {issues, nextPageToken, isLast}). The issues and comments inside them are the
captured webhook bodies in tests/fixtures/jira/; what a scenario needs that no capture shows (a
resolution, a JSM customer, an internal comment, the plugin's note) is changed in memory here,
where it is visible.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.jira import JiraConnector
from connectors.events import NOTE_MARKER
from plugin.replay import events_for, read_conversations
from plugin.settings import Settings
from tests.connectors.jira_api import TOKEN, USER, failure
from tests.fakehttp import FakeServer, Recorded, Reply

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jira" / "mattermost-plugin-jira"
BOT = "712020:vigil-bot-account"
SERVER_INFO = "/rest/api/2/serverInfo"
FIELD = "/rest/api/2/field"
SEARCH = "/rest/api/2/search"
SEARCH_JQL = "/rest/api/2/search/jql"
FIELDS = ["summary", "status", "labels", "reporter", "created", "resolutiondate", "comment",
          "description"]


def captured(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def server_info(url: str, deployment: str) -> dict[str, Any]:
    """GET /rest/api/2/serverInfo as Jira answers it (Data Center says "Server")."""
    cloud = deployment == "Cloud"
    version = [1001, 0, 0] if cloud else [9, 12, 2]
    return {"baseUrl": url, "version": ".".join(map(str, version)), "versionNumbers": version,
            "deploymentType": deployment, "buildNumber": 100261 if cloud else 9120002,
            "buildDate": "2024-01-10T00:00:00.000+0000",
            "serverTime": "2024-01-12T10:00:00.000+0000", "scmInfo": "0a1b2c3d",
            "serverTitle": "Jira"}


def field_list() -> list[dict[str, Any]]:
    """GET /rest/api/2/field, for the fields the history asks for."""
    clauses = {"resolutiondate": ["resolutiondate", "resolved"],
               "created": ["created", "createdDate"]}
    return [{"id": f, "key": f, "name": f.title(), "custom": False, "orderable": True,
             "navigable": True, "searchable": True, "clauseNames": clauses.get(f, [f]),
             "schema": {"type": "string", "system": f}} for f in FIELDS]


def comment_field(comments: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"comments": comments, "maxResults": len(comments),
            "total": len(comments) if total is None else total, "startAt": 0}


def search_issue(issue: dict[str, Any]) -> dict[str, Any]:
    """An issue as a search lists it: the webhook's issue, only the fields asked for."""
    fields = {name: issue["fields"].get(name) for name in FIELDS}
    return {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": issue["id"], "self": issue["self"], "key": issue["key"], "fields": fields}


# --- Jira Cloud (Service Management): TES-41, resolved ----------------------------------------

CLOUD_COMMENT = captured("webhook-cloud-comment-created.json")["comment"]  # by the reporter


def cloud_comment(number: str, body: str, created: str, public: bool, **author: Any) -> dict:
    """Another comment on TES-41, shaped like the captured one, by `author`."""
    result = copy.deepcopy(CLOUD_COMMENT)
    result.update(id=number, body=body, created=created, updated=created, jsdPublic=public,
                  self=CLOUD_COMMENT["self"].rsplit("/", 1)[0] + f"/{number}")
    result["author"] = result["updateAuthor"] = {**CLOUD_COMMENT["author"], **author}
    return result


AGENT = {"accountId": "557058:agent-ana", "accountType": "atlassian", "displayName": "Ana Agent",
         "name": None, "key": None}
PORTAL_CUSTOMER = {"accountId": "qm:portal-pat", "accountType": "customer",
                   "displayName": "Pat Portal", "name": None, "key": None}
PLUGIN = {"accountId": BOT, "accountType": "app", "displayName": "Vigil", "name": None, "key": None}
PLUGIN_NOTE = f"{NOTE_MARKER} *Likely cause*: the export hit the plan's row quota."


def cloud_issue() -> dict[str, Any]:
    issue = copy.deepcopy(captured("webhook-issue-updated-resolved.json")["issue"])  # Done
    issue["fields"]["comment"] = comment_field([
        CLOUD_COMMENT,  # "Added a comment", the reporter, jsdPublic true
        cloud_comment("10020", "Internal: export logs show quota errors.",
                      "2019-02-15T19:12:00.000-0800", False, **AGENT),
        cloud_comment("10021", PLUGIN_NOTE, "2019-02-15T19:12:30.000-0800", False, **PLUGIN),
        cloud_comment("10022", "Same problem for our team here.",
                      "2019-02-15T19:13:00.000-0800", True, **PORTAL_CUSTOMER),
        cloud_comment("10023", "Fixed: the quota was raised.", "2019-02-15T19:15:00.000-0800",
                      True, **AGENT),
    ])
    return issue


def resolved_before_since() -> dict[str, Any]:
    """TES-40: resolved at 02:00 UTC, within the day the query adds for time zones."""
    issue = cloud_issue()
    issue.update(id="10039", key="TES-40", self=issue["self"].replace("10040", "10039"))
    issue["fields"]["resolutiondate"] = "2019-02-15T18:00:00.000-0800"
    return issue


CLOUD_SINCE = datetime(2019, 2, 16, 3, 0, tzinfo=timezone.utc)  # TES-41: resolved 03:15:40 UTC


def script_cloud(server: FakeServer) -> None:
    server.script("GET", SERVER_INFO, Reply(200, server_info(server.url, "Cloud")))
    server.script("GET", FIELD, Reply(200, field_list()))
    server.script("GET", SEARCH_JQL,
                  Reply(200, {"issues": [search_issue(resolved_before_since())],
                              "nextPageToken": "CAEaAggD", "isLast": False}),
                  Reply(200, {"issues": [search_issue(cloud_issue())], "isLast": True}))


# --- Jira Data Center: PRJA-42 closed (with comments), TES-4 closed (without) ---------------------

def server_issue_with_comments() -> dict[str, Any]:
    issue = copy.deepcopy(captured("webhook-server-issue-updated-commented-2.json")["issue"])
    closed = captured("webhook-server-issue-updated-closed.json")["issue"]["fields"]
    issue["fields"].update(status=closed["status"], resolution=closed["resolution"],
                           resolutiondate="2019-06-28T22:00:00.000+0000")
    # Plain Jira hides a comment from customers with a role restriction.
    first = issue["fields"]["comment"]["comments"][0]
    assert first["body"] == "test comment"
    first["visibility"] = {"type": "role", "value": "Developers"}
    return issue


def server_issue_without_comments() -> dict[str, Any]:
    return captured("webhook-server-issue-updated-closed.json")["issue"]  # TES-4, Closed


SERVER_SINCE = datetime(2019, 6, 28, 9, 0, tzinfo=timezone.utc)


def script_data_center(server: FakeServer) -> None:
    server.script("GET", SERVER_INFO, Reply(200, server_info(server.url, "Server")))
    server.script("GET", FIELD, Reply(200, field_list()))
    # Pages of two: the instance caps maxResults lower than the 100 asked for.
    page = {"expand": "schema,names", "maxResults": 2, "total": 3}
    server.script("GET", SEARCH,
                  Reply(200, {**page, "startAt": 0, "issues": [
                      search_issue(server_issue_with_comments()),
                      search_issue({**server_issue_with_comments(), "key": "PRJA-43",
                                    "fields": {**server_issue_with_comments()["fields"],
                                               "resolutiondate": "2019-06-27T12:00:00.000+0000"}}),
                  ]}),
                  Reply(200, {**page, "startAt": 2,
                              "issues": [search_issue(server_issue_without_comments())]}))


def connector(server: FakeServer, **settings: Any) -> JiraConnector:
    values = {"jira_webhook_secret": "s", "jira_url": server.url, "jira_user": USER,
              "jira_token": TOKEN, "jira_bot_account_id": BOT, **settings}
    return JiraConnector(Settings(**values).helpdesks["jira"], timeout=(2.0, 5.0))


def query(request: Recorded) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.path).query)


# --- Cloud ---------------------------------------------------------------------------------------

def test_cloud_issue_becomes_a_conversation_with_the_plugins_note_apart(server):
    script_cloud(server)
    (conversation,) = connector(server).fetch_resolved(CLOUD_SINCE)
    assert conversation == {
        "source": "jira", "ticket_id": "TES-41", "subject": "Unit test summary 1",
        "status": "solved", "tags": ["test-label"],
        "messages": [
            {"author_role": "customer", "public": True,  # the description, by the reporter
             "body": "Unit test description, not that long, a little longer now",
             "created_at": "2019-02-15T19:01:52.971000-08:00"},
            {"author_role": "customer", "public": True, "body": "Added a comment",
             "created_at": "2019-02-15T19:11:18.321000-08:00"},
            {"author_role": "analyst", "public": False,
             "body": "Internal: export logs show quota errors.",
             "created_at": "2019-02-15T19:12:00-08:00"},
            {"author_role": "customer", "public": True, "body": "Same problem for our team here.",
             "created_at": "2019-02-15T19:13:00-08:00"},
            {"author_role": "analyst", "public": True, "body": "Fixed: the quota was raised.",
             "created_at": "2019-02-15T19:15:00-08:00"},
        ],
        "notes": [{"body": PLUGIN_NOTE, "created_at": "2019-02-15T19:12:30-08:00"}],
    }


def test_cloud_requests_use_the_enhanced_search_and_its_page_token(server):
    script_cloud(server)
    connector(server).fetch_resolved(CLOUD_SINCE)
    assert [urlsplit(r.path).path for r in server.requests] == [
        SERVER_INFO, FIELD, SEARCH_JQL, SEARCH_JQL]  # never the removed /rest/api/2/search
    assert all(r.method == "GET" for r in server.requests)
    first, second = server.received("GET", SEARCH_JQL)
    # A day early: JQL reads the date in the API user's time zone, which we do not know.
    expected = {"jql": ['resolved >= "2019/02/15 03:00" ORDER BY resolved ASC'],
                "fields": FIELDS, "maxResults": ["100"]}
    assert query(first) == expected
    assert query(second) == {**expected, "nextPageToken": ["CAEaAggD"]}


def test_comments_cut_short_by_the_search_are_read_in_full(server):
    script_cloud(server)
    issue = cloud_issue()
    everything = issue["fields"]["comment"]["comments"]
    issue["fields"]["comment"] = comment_field(everything[:1], total=len(everything))
    server.script("GET", SEARCH_JQL, Reply(200, {"issues": [search_issue(issue)], "isLast": True}))
    server.script("GET", "/rest/api/2/issue/TES-41/comment",
                  Reply(200, {**comment_field(everything), "startAt": 0}))
    (conversation,) = connector(server).fetch_resolved(CLOUD_SINCE)
    assert len(conversation["messages"]) == 5 and len(conversation["notes"]) == 1
    assert len(server.received("GET", "/rest/api/2/issue/TES-41/comment")) == 1


# --- Data Center ---------------------------------------------------------------------------

def test_data_center_pages_with_start_at_and_reads_roles_from_the_reporter(server):
    script_data_center(server)
    first, second = connector(server).fetch_resolved(SERVER_SINCE)
    assert first["ticket_id"] == "PRJA-42" and first["status"] == "closed"
    assert first["subject"] == "test for notifications" and first["notes"] == []
    roles = [(m["author_role"], m["public"], m["body"]) for m in first["messages"]]
    assert roles == [
        ("customer", True, "test\n\n_Issue created from a [message in Mattermost|"  # description
                           "https://chrisp.ngrok.io/testteam/pl/449w553cajrbfewz581uoxmb8o]_."),
        ("analyst", False, "test comment"),            # TestUser, restricted to a role
        ("customer", True, "another test comment"),    # creator.user, the reporter
        ("analyst", True, "This is a test comment. We should act on it right away."),
    ]
    assert [m["created_at"] for m in first["messages"]] == sorted(
        m["created_at"] for m in first["messages"])
    # TES-4: Closed, no comment at all: its description is the whole conversation.
    assert second == {"source": "jira", "ticket_id": "TES-4", "subject": "Unit test summary 1",
                      "status": "closed", "tags": [], "notes": [],
                      "messages": [{"author_role": "customer", "public": True,
                                    "body": "Unit test summary 1",
                                    "created_at": "2019-08-13T06:14:23.580000+08:00"}]}


def test_data_center_requests_and_the_since_filter(server):
    script_data_center(server)
    connector(server).fetch_resolved(SERVER_SINCE)
    assert [urlsplit(r.path).path for r in server.requests] == [SERVER_INFO, FIELD, SEARCH, SEARCH]
    first, second = server.received("GET", SEARCH)
    expected = {"jql": ['resolved >= "2019/06/27 09:00" ORDER BY resolved ASC'],
                "validateQuery": ["True"], "fields": FIELDS, "maxResults": ["100"]}
    assert query(first) == {**expected, "startAt": ["0"]}
    assert query(second) == {**expected, "startAt": ["2"]}


def test_results_are_lines_the_replay_reader_accepts(server, tmp_path):
    script_data_center(server)
    data_center = connector(server).fetch_resolved(SERVER_SINCE)
    with FakeServer() as cloud:
        script_cloud(cloud)
        conversations = data_center + connector(cloud).fetch_resolved(CLOUD_SINCE)
    path = tmp_path / "resolved.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in conversations), encoding="utf-8")
    replayed = read_conversations(path)
    assert [c["ticket_id"] for c in replayed] == ["PRJA-42", "TES-4", "TES-41"]
    events = list(events_for(replayed[-1]))
    assert [e.kind for e in events] == ["created"] + ["message"] * 4 + ["status_changed"]
    assert events[-1].status == "solved"
    assert all(e.message is None or e.message.author_role != "plugin" for e in events)


def test_limit_stops_before_the_next_page(server):
    script_data_center(server)
    (only,) = connector(server).fetch_resolved(SERVER_SINCE, limit=1)
    assert only["ticket_id"] == "PRJA-42"
    assert len(server.received("GET", SEARCH)) == 1


def test_a_naive_since_is_utc(server):
    script_data_center(server)
    connector(server).fetch_resolved(datetime(2019, 6, 28, 9, 0))
    assert query(server.received("GET", SEARCH)[0])["jql"] == [
        'resolved >= "2019/06/27 09:00" ORDER BY resolved ASC']


# --- failures: what the caller may retry, and when ------------------------------------------------

def test_429_on_the_search_is_retryable_after_retry_after_without_sleeping(server):
    server.script("GET", SERVER_INFO, Reply(200, server_info(server.url, "Cloud")))
    server.script("GET", FIELD, Reply(200, field_list()))
    server.script("GET", SEARCH_JQL, Reply(429, {"errorMessages": ["Rate limit exceeded"]},
                                           headers={"Retry-After": "7"}))
    started = time.monotonic()
    error = failure(lambda: connector(server).fetch_resolved(CLOUD_SINCE))
    assert (error.retryable, error.retry_after) == (True, 7.0)
    assert len(server.received("GET", SEARCH_JQL)) == 1  # the package did not retry by itself
    assert time.monotonic() - started < 2  # ... nor sleep


def test_429_on_the_first_call_is_retryable_too(server):
    server.script("GET", SERVER_INFO, Reply(429, {}, headers={"Retry-After": "30"}))
    error = failure(lambda: connector(server).fetch_resolved(CLOUD_SINCE))
    assert (error.retryable, error.retry_after) == (True, 30.0)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status, retryable", [(503, True), (401, False), (400, False)])
def test_http_errors(server, status, retryable):
    script_data_center(server)
    server.script("GET", SEARCH, Reply(status, {"errorMessages": ["refused"], "errors": {}}))
    error = failure(lambda: connector(server).fetch_resolved(SERVER_SINCE))
    assert error.retryable is retryable and f"answered {status}" in str(error)


@pytest.mark.parametrize("missing", ["jira_url", "jira_user", "jira_token"])
def test_missing_credentials_are_not_retryable(server, missing):
    error = failure(lambda: connector(server, **{missing: ""}).fetch_resolved(CLOUD_SINCE))
    assert error.retryable is False and f"VIGIL_{missing.upper()}" in str(error)
    assert server.requests == []
