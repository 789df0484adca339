"""Posting internal notes: the real zenpy client, over real HTTP, to a scripted loopback server."""

from __future__ import annotations

import base64
import inspect
import socket
import threading
import time
from typing import Any

import pytest

from connectors.base import ConfigurationError, DeliveryError
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.client import ZendeskClient, api_base
from connectors.zendesk.render import to_html
from connectors.events import NOTE_MARKER
from tests.connectors.zendesk_api import EMAIL, TOKEN, recorded_body, settings
from tests.fakehttp import FakeServer, Reply

NOTE = ("E1042 means the export hit the plan's row quota. Source: knowledge/export-e1042.md"
        f"\n\n{NOTE_MARKER}")
PUT = "/api/v2/tickets/1.json"


def recorded_audit(audit_id: int) -> dict[str, Any]:
    audits = recorded_body("TestTicketAudits.test_values.json", 0)["audits"]
    return next(audit for audit in audits if audit["id"] == audit_id)


PRIVATE_AUDIT = 6707063839386  # a private comment on ticket 1, as Zendesk recorded it
PUBLIC_AUDIT = 6707075401114   # a public comment on ticket 1


def update_response(audit_id: int) -> dict[str, Any]:
    """A ticket-update answer: {"ticket", "audit"} as in the recorded PUT, with a real audit."""
    return {"ticket": {"id": 1, "status": "open"}, "audit": recorded_audit(audit_id)}


def post(server: FakeServer, ticket: str = "1", body: str = NOTE, **client: Any) -> str:
    return ZendeskClient(settings(server.url), **client).post_internal_note(ticket, body)


def test_note_is_sent_private_with_its_body(server: FakeServer) -> None:
    server.script("PUT", PUT, Reply(200, update_response(PRIVATE_AUDIT)))
    comment_id = ZendeskConnector(settings(server.url)).post_internal_note("1", NOTE)
    (request,) = server.received("PUT", PUT)
    assert request.json() == {"ticket": {"id": 1, "comment": {"html_body": to_html(NOTE), "public": False}}}
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{EMAIL}/token:{TOKEN}".encode()).decode()
    assert comment_id == "6707063839514"  # the Comment event of the recorded private audit


def test_no_parameter_can_make_a_note_public() -> None:
    for method in (ZendeskClient.post_internal_note, ZendeskConnector.post_internal_note):
        assert list(inspect.signature(method).parameters) == ["self", "ticket_id", "body"]


def test_marker_is_added_when_the_note_lacks_it(server: FakeServer) -> None:
    server.script("PUT", PUT, Reply(200, update_response(PRIVATE_AUDIT)))
    post(server, body="Plain suggestion")
    sent = server.received("PUT", PUT)[0].json()["ticket"]["comment"]
    assert sent == {"html_body": f"<p>Plain suggestion</p><p>{NOTE_MARKER}</p>", "public": False}


def test_ticket_id_is_returned_when_the_audit_has_no_comment(server: FakeServer) -> None:
    # The recorded answer to PUT /api/v2/tickets/4016.json: its audit holds only a Change event.
    recorded = recorded_body(
        "TestTicketCreateUpdateDelete.test_single_object_update-update-single.json", 1)
    server.script("PUT", "/api/v2/tickets/4016.json", Reply(200, recorded))
    assert post(server, ticket="4016") == "4016"


def test_a_comment_zendesk_recorded_as_public_is_reported_not_hidden(server: FakeServer) -> None:
    server.script("PUT", PUT, Reply(200, update_response(PUBLIC_AUDIT)))
    with pytest.raises(DeliveryError, match="PUBLIC") as failed:
        post(server)
    assert failed.value.retryable is False


def test_429_is_retryable_after_the_servers_delay_without_sleeping(server: FakeServer) -> None:
    server.script("PUT", PUT, Reply(429, {"error": "TooManyRequests"},
                                    headers={"Retry-After": "37"}))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        post(server)
    assert (failed.value.retryable, failed.value.retry_after) == (True, 37.0)
    assert time.monotonic() - started < 5  # zenpy would have slept 37 s
    assert len(server.received("PUT", PUT)) == 1


def test_429_without_retry_after_is_still_retryable(server: FakeServer) -> None:
    server.script("PUT", PUT, Reply(429, "Too Many Requests"))
    with pytest.raises(DeliveryError) as failed:
        post(server)
    assert (failed.value.retryable, failed.value.retry_after) == (True, None)


@pytest.mark.parametrize("status", [500, 502, 503, 409])
def test_server_errors_are_retryable_and_tried_once(server: FakeServer, status: int) -> None:
    server.script("PUT", PUT, Reply(status, {"error": "ServiceUnavailable"},
                                    headers={"Retry-After": "12"}))
    with pytest.raises(DeliveryError, match=str(status)) as failed:
        post(server)
    assert (failed.value.retryable, failed.value.retry_after) == (True, 12.0)
    # No hidden retries: a PUT that adds a comment is not idempotent.
    assert len(server.received("PUT", PUT)) == 1


@pytest.mark.parametrize("status, body", [
    (404, {"error": "RecordNotFound", "description": "Not found"}),
    (401, "Couldn't authenticate you"),
    (403, {"error": "Forbidden", "description": "You do not have access to this page."}),
    (422, {"error": "RecordInvalid", "description": "Record validation errors"}),
])
def test_client_errors_are_not_retryable(server: FakeServer, status: int, body: Any) -> None:
    server.script("PUT", PUT, Reply(status, body))
    with pytest.raises(DeliveryError, match=f"answered {status}") as failed:
        post(server)
    assert failed.value.retryable is False
    assert TOKEN not in str(failed.value)


def test_timeout_is_retryable(server: FakeServer) -> None:
    server.script("PUT", PUT, Reply(200, update_response(PRIVATE_AUDIT), delay=2.0))
    with pytest.raises(DeliveryError, match="unreachable") as failed:
        post(server, timeout=0.3)
    assert failed.value.retryable is True


def test_refused_connection_is_retryable() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ZendeskClient(settings(f"http://127.0.0.1:{port}"))
    with pytest.raises(DeliveryError, match="unreachable") as failed:
        client.post_internal_note("1", NOTE)
    assert failed.value.retryable is True


@pytest.mark.parametrize("missing", ["zendesk_url", "zendesk_email", "zendesk_token"])
def test_missing_credentials_are_not_retryable(server: FakeServer, missing: str) -> None:
    connector = ZendeskConnector(settings(server.url, **{missing: ""}))
    with pytest.raises(DeliveryError, match=f"VIGIL_{missing.upper()}") as failed:
        connector.post_internal_note("1", NOTE)
    assert failed.value.retryable is False
    assert server.requests == []


@pytest.mark.parametrize("ticket", ["1/../../users/me", "abc", "", "-1"])
def test_ticket_ids_that_are_not_numbers_are_refused(server: FakeServer, ticket: str) -> None:
    with pytest.raises(DeliveryError) as failed:
        post(server, ticket=ticket)
    assert failed.value.retryable is False
    assert server.requests == []


def test_concurrent_notes_from_worker_threads(server: FakeServer) -> None:
    server.script("PUT", PUT, Reply(200, update_response(PRIVATE_AUDIT)))
    client = ZendeskClient(settings(server.url))
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(client.post_internal_note("1", NOTE))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == ["6707063839514"] * 8
    assert len(server.received("PUT", PUT)) == 8


@pytest.mark.parametrize("url, expected", [
    ("https://acme.zendesk.com", ("https", "acme", "zendesk.com")),
    ("https://acme.zendesk.com/", ("https", "acme", "zendesk.com")),
    ("https://support.acme.example:8443", ("https", "support", "acme.example:8443")),
    ("http://127.0.0.1:8080", ("http", "127", "0.0.1:8080")),
])
def test_api_base_splits_the_account_url_for_zenpy(url: str,
                                                  expected: tuple[str, str, str]) -> None:
    base = api_base(url)
    assert (base.scheme, base.subdomain, base.domain) == expected


@pytest.mark.parametrize("url", ["http://acme.zendesk.com", "acme.zendesk.com",
                                 "https://localhost", "https://acme.zendesk.com/api/v2",
                                 "https://bot:pw@acme.zendesk.com", "ftp://acme.zendesk.com"])
def test_unusable_zendesk_urls_stop_startup(url: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        ZendeskConnector(settings(url))
    assert "pw" not in str(refused.value)
