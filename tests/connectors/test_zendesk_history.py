"""Reading solved tickets back: the real zenpy client, over real HTTP, to a loopback server.

The bodies are Zendesk's own, recorded by zenpy's test suite (tests/fixtures/zendesk/): the
ticket JSON of a recorded ticket update, and the comments of ticket 1 as its recorded audits
hold them. What a scenario needs that no recording shows (a solved status, the plugin's note,
a second page) is changed in memory here, in the test, where it is visible.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.base import DeliveryError
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.history import fetch_resolved
from connectors.events import NOTE_MARKER
from plugin.replay import events_for, read_conversations
from tests.connectors.zendesk_api import BOT, EMAIL, TOKEN, recorded_body, settings
from tests.fakehttp import FakeServer, Recorded, Reply

SEARCH = "/api/v2/search/export.json"
CUSTOMER = 6130869168922  # ticket 1's requester in the recorded audits
AGENT = 6130907993114     # the recording account's agent
SINCE = datetime(2024, 2, 1, 10, 0, tzinfo=timezone(timedelta(hours=1)))  # 09:00 UTC
CURSOR = "eyJmaWVsZCI6ImNyZWF0ZWRfYXQiLCJkZXNjIjpmYWxzZX0="


AUDITS = recorded_body("TestTicketAudits.test_values.json", 0)["audits"]
RECORDED_TICKET = recorded_body(
    "TestTicketCreateUpdateDelete.test_single_object_update-update-single.json", 1)["ticket"]


def ticket(number: int, status: str, **changes: Any) -> dict[str, Any]:
    """A search/export result: the recorded ticket JSON with this ticket's values."""
    result = copy.deepcopy(RECORDED_TICKET)
    url = RECORDED_TICKET["url"].replace("4016", str(number))
    result.update(id=number, url=url, status=status, result_type="ticket", **changes)
    return result


def recorded_comments(number: int) -> list[dict[str, Any]]:
    """Ticket `number`'s comments as GET .../comments.json lists them, from its recorded audits."""
    comments = []
    for audit in AUDITS:
        if audit["ticket_id"] != number:
            continue
        for event in audit["events"]:
            if event["type"] == "Comment":
                comments.append({**event, "via": audit.get("via"), "metadata": audit["metadata"],
                                 "created_at": audit["created_at"]})
    return sorted(comments, key=lambda c: c["created_at"])


def comment(number: int, author: int, body: str, public: bool, created_at: str) -> dict[str, Any]:
    """A comment the recordings lack, shaped like the recorded ones."""
    return {"id": number, "type": "Comment", "author_id": author, "body": body,
            "html_body": f"<div class=\"zd-comment\" dir=\"auto\"><p dir=\"auto\">{body}</p></div>",
            "plain_body": body, "public": public, "attachments": [], "audit_id": number + 1,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "metadata": {"system": {}, "custom": {}}, "created_at": created_at}


def search_page(results: list[dict[str, Any]], next_url: str | None) -> dict[str, Any]:
    """One page of GET /api/v2/search/export.json (developer.zendesk.com, Export Search Results)."""
    return {"results": results, "facets": None,
            "meta": {"has_more": next_url is not None,
                     "after_cursor": CURSOR if next_url else None, "before_cursor": None},
            "links": {"prev": None, "next": next_url}}


def comments_page(comments: list[dict[str, Any]], next_url: str | None) -> dict[str, Any]:
    return {"comments": comments,
            "meta": {"has_more": next_url is not None,
                     "after_cursor": CURSOR if next_url else None, "before_cursor": None},
            "links": {"prev": None, "next": next_url}}


def query(request: Recorded) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.path).query)


def fetch(server: FakeServer, since: datetime = SINCE, **kwargs: Any) -> list[dict[str, Any]]:
    return ZendeskConnector(settings(server.url)).fetch_resolved(since, **kwargs)


BOT_NOTE = comment(9001, int(BOT), f"Likely the E1042 export quota.\n\n{NOTE_MARKER}", False,
                   "2024-02-07T00:10:00Z")
QUOTED_NOTE = comment(9003, AGENT, f"Vigil said: see the guide {NOTE_MARKER}", False,
                      "2024-02-07T00:10:30Z")
BOT_UNMARKED = comment(9005, int(BOT), "Summary: set-up question, answered in the reply above.",
                       False, "2024-02-07T00:12:00Z")  # by the bot user, without the marker


def script_two_pages(server: FakeServer) -> None:
    """Page 1: ticket 1 (solved) and 4016 (still open in the index); page 2: ticket 29 (closed)."""
    sample = next(e for e in AUDITS[0]["events"] if e.get("field_name") == "tags")["value"]
    first = [ticket(1, "solved", subject="Sample ticket: Meet the ticket", requester_id=CUSTOMER,
                    tags=sample),
             ticket(4016, "open")]
    second = [ticket(29, "closed", subject="test", requester_id=AGENT, tags=[])]
    next_search = (f"{server.url}{SEARCH}?filter%5Btype%5D=ticket&page%5Bafter%5D="
                   f"{CURSOR.replace('=', '%3D')}&page%5Bsize%5D=100")
    server.script("GET", SEARCH, Reply(200, search_page(first, next_search)),
                  Reply(200, search_page(second, None)))
    ticket_1 = recorded_comments(1)  # customer public, agent public, agent private
    next_comments = (f"{server.url}/api/v2/tickets/1/comments.json?page%5Bafter%5D="
                     f"{CURSOR.replace('=', '%3D')}&page%5Bsize%5D=100")
    server.script("GET", "/api/v2/tickets/1/comments.json",
                  Reply(200, comments_page(ticket_1[:2] + [BOT_NOTE, QUOTED_NOTE], next_comments)),
                  Reply(200, comments_page(ticket_1[2:] + [BOT_UNMARKED], None)))
    server.script("GET", "/api/v2/tickets/29/comments.json",
                  Reply(200, comments_page(recorded_comments(29), None)))


def test_solved_tickets_are_read_as_conversations_with_the_plugins_notes_apart(server):
    script_two_pages(server)
    first, second = fetch(server)
    assert first == {
        "source": "zendesk", "ticket_id": "1", "subject": "Sample ticket: Meet the ticket",
        "status": "solved", "tags": ["sample", "support", "zendesk"],
        "messages": [
            {"author_role": "customer", "public": True, "created_at": "2023-09-09T23:52:05+00:00",
             "body": recorded_comments(1)[0]["body"]},
            {"author_role": "analyst", "public": True, "created_at": "2024-02-07T00:09:24+00:00",
             "body": "Hi there, thanks for your note...let me see how I can help"},
            {"author_role": "analyst", "public": False, "created_at": "2024-02-07T00:11:18+00:00",
             "body": "Hmm this customer has been here before"},
        ],
        "notes": [
            {"body": BOT_NOTE["body"], "created_at": "2024-02-07T00:10:00+00:00"},
            {"body": QUOTED_NOTE["body"], "created_at": "2024-02-07T00:10:30+00:00"},
            {"body": BOT_UNMARKED["body"], "created_at": "2024-02-07T00:12:00+00:00"},
        ],
    }
    assert recorded_comments(1)[0]["body"].startswith("Hi there,\n\nI’m sending an email")
    # Ticket 29's only comment is by its requester, who is the recording account's agent:
    # roles come from requester_id, not from who the author is elsewhere.
    assert second == {"source": "zendesk", "ticket_id": "29", "subject": "test",
                      "status": "closed", "tags": [], "notes": [],
                      "messages": [{"author_role": "customer", "public": True, "body": "test",
                                    "created_at": "2023-09-18T15:57:42+00:00"}]}


def test_the_exact_requests_the_search_and_the_comments_make(server):
    script_two_pages(server)
    fetch(server)
    paths = [urlsplit(r.path).path for r in server.requests]
    assert paths == [SEARCH, "/api/v2/tickets/1/comments.json", "/api/v2/tickets/1/comments.json",
                     SEARCH, "/api/v2/tickets/29/comments.json"]  # none for open ticket 4016
    assert all(r.method == "GET" for r in server.requests)
    first_search, second_search = server.received("GET", SEARCH)
    # The since filter, in UTC, one second early so that `since` itself is included.
    assert query(first_search) == {
        "filter[type]": ["ticket"], "page[size]": ["100"],
        "query": ['type:ticket updated>2024-02-01T08:59:59Z status:"closed" status:"solved"']}
    assert query(second_search) == {"filter[type]": ["ticket"], "page[after]": [CURSOR],
                                    "page[size]": ["100"]}
    first_comments, second_comments = server.received("GET", "/api/v2/tickets/1/comments.json")
    assert query(first_comments) == {"include_inline_images": ["false"], "page[size]": ["100"]}
    assert query(second_comments) == {"page[after]": [CURSOR], "page[size]": ["100"]}
    assert first_search.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{EMAIL}/token:{TOKEN}".encode()).decode()


def test_results_are_lines_the_replay_reader_accepts(server, tmp_path):
    script_two_pages(server)
    conversations = fetch(server)
    path = tmp_path / "resolved.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in conversations), encoding="utf-8")
    replayed = read_conversations(path)
    assert [c["ticket_id"] for c in replayed] == ["1", "29"]
    events = list(events_for(replayed[0]))
    assert [e.kind for e in events] == ["created", "message", "message", "status_changed"]
    assert events[-1].status == "solved"
    assert all(e.message is None or e.message.author_role != "plugin" for e in events)


def test_limit_stops_before_the_next_page(server):
    script_two_pages(server)
    (only,) = fetch(server, limit=1)
    assert only["ticket_id"] == "1"
    assert len(server.received("GET", SEARCH)) == 1


def test_a_naive_since_is_utc(server):
    server.script("GET", SEARCH, Reply(200, search_page([], None)))
    assert fetch(server, since=datetime(2024, 2, 1, 9, 0)) == []
    assert query(server.requests[0])["query"] == [
        'type:ticket updated>2024-02-01T08:59:59Z status:"closed" status:"solved"']


def test_a_ticket_with_only_the_plugins_notes_is_left_out(server):
    server.script("GET", SEARCH, Reply(200, search_page([ticket(7, "solved")], None)))
    server.script("GET", "/api/v2/tickets/7/comments.json",
                  Reply(200, comments_page([BOT_NOTE], None)))
    assert fetch(server) == []


def test_a_ticket_deleted_after_the_search_is_skipped(server):
    server.script("GET", SEARCH, Reply(200, search_page([ticket(7, "solved"), ticket(29, "closed",
                                                         requester_id=AGENT)], None)))
    server.script("GET", "/api/v2/tickets/7/comments.json",
                  Reply(404, {"error": "RecordNotFound", "description": "Not found"}))
    server.script("GET", "/api/v2/tickets/29/comments.json",
                  Reply(200, comments_page(recorded_comments(29), None)))
    assert [c["ticket_id"] for c in fetch(server)] == ["29"]


# --- failures: what the caller may retry, and when -------------------------------------------

def test_429_on_the_search_is_retryable_after_the_servers_delay_without_sleeping(server):
    server.script("GET", SEARCH, Reply(429, {"error": "TooManyRequests"},
                                       headers={"Retry-After": "37"}))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        fetch(server)
    assert (failed.value.retryable, failed.value.retry_after) == (True, 37.0)
    assert time.monotonic() - started < 5  # zenpy would have slept 37 s
    assert len(server.requests) == 1


def test_429_while_reading_comments_is_retryable(server):
    server.script("GET", SEARCH, Reply(200, search_page([ticket(7, "solved")], None)))
    server.script("GET", "/api/v2/tickets/7/comments.json",
                  Reply(429, "Too Many Requests", headers={"Retry-After": "12"}))
    with pytest.raises(DeliveryError, match="ticket 7") as failed:
        fetch(server)
    assert (failed.value.retryable, failed.value.retry_after) == (True, 12.0)


@pytest.mark.parametrize("status, retryable", [(500, True), (503, True), (401, False),
                                               (403, False), (422, False)])
def test_http_errors(server, status, retryable):
    server.script("GET", SEARCH, Reply(status, {"error": "Nope", "description": "refused"}))
    with pytest.raises(DeliveryError, match=f"answered {status}") as failed:
        fetch(server)
    assert failed.value.retryable is retryable
    assert TOKEN not in str(failed.value)


def test_timeout_is_retryable(server):
    server.script("GET", SEARCH, Reply(200, search_page([], None), delay=2.0))
    with pytest.raises(DeliveryError, match="unreachable") as failed:
        fetch_resolved(ZendeskClient(settings(server.url), timeout=0.3), SINCE)
    assert failed.value.retryable is True


@pytest.mark.parametrize("missing", ["zendesk_url", "zendesk_email", "zendesk_token"])
def test_missing_credentials_are_not_retryable(server, missing):
    connector = ZendeskConnector(settings(server.url, **{missing: ""}))
    with pytest.raises(DeliveryError, match=f"VIGIL_{missing.upper()}") as failed:
        connector.fetch_resolved(SINCE)
    assert failed.value.retryable is False
    assert "read from Zendesk" in str(failed.value)
    assert server.requests == []
