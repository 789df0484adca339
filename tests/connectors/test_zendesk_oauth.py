"""Zendesk OAuth: the real zenpy client, a loopback server speaking /oauth/tokens and the
ticket endpoints, tokens that expire on the clock and mid-run; the API token until retirement."""

from __future__ import annotations

import base64
import logging
import threading
from datetime import date, datetime, timezone
from typing import Any

import pytest

from connectors.base import DeliveryError
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.history import fetch_resolved
from tests.connectors.test_zendesk_client import NOTE, PRIVATE_AUDIT, PUT, update_response
from tests.connectors.test_zendesk_history import SEARCH, script_two_pages
from tests.connectors.zendesk_api import EMAIL, TOKEN, settings
from tests.fakehttp import FakeServer, Recorded, Reply

CLIENT_ID, CLIENT_SECRET = "vigil-bot", "oauth-secret-never-shown"
TOKENS = "/oauth/tokens"


def oauth(url: str, **over: Any) -> Any:
    """Zendesk settings with an OAuth client and no API token; `over` by field name."""
    values = {"email": "", "token": "", "oauth_client_id": CLIENT_ID,
              "oauth_client_secret": CLIENT_SECRET, **over}
    return settings(url, **{f"zendesk_{name}": value for name, value in values.items()})


def grant(token: str, expires_in: int | None = 3600, refresh: str | None = None) -> Reply:
    body: dict[str, Any] = {"access_token": token, "token_type": "bearer", "scope": "read tickets:write"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    if refresh:
        body["refresh_token"] = refresh
    return Reply(200, body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def accepts(*tokens: str, answer: Any = None) -> Any:
    """A responder that answers like Zendesk for the given bearer tokens and 401 otherwise."""
    def respond(request: Recorded) -> Reply:
        if request.headers.get("Authorization") in {f"Bearer {t}" for t in tokens}:
            return Reply(200, answer if answer is not None else update_response(PRIVATE_AUDIT))
        return Reply(401, {"error": "invalid_token", "description": "The access token expired"})
    return respond


def bearers(server: FakeServer, method: str, path: str) -> list[str]:
    return [r.headers.get("Authorization", "") for r in server.received(method, path)]


def test_client_credentials_token_is_asked_once_and_sent_as_bearer(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1"))
    server.script("PUT", PUT, accepts("tok-1"))
    client = ZendeskClient(oauth(server.url))
    assert client.post_internal_note("1", NOTE) == "6707063839514"
    assert client.post_internal_note("1", NOTE) == "6707063839514"
    (asked,) = server.received("POST", TOKENS)
    assert asked.json() == {"grant_type": "client_credentials", "scope": "read tickets:write",
                            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert bearers(server, "PUT", PUT) == ["Bearer tok-1", "Bearer tok-1"]


def test_token_is_renewed_before_it_expires_with_the_refresh_token(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1", 3600, refresh="ref-1"), grant("tok-2", 3600, refresh="ref-2"))
    server.script("PUT", PUT, accepts("tok-1", "tok-2"))
    clock = Clock()
    client = ZendeskClient(oauth(server.url), clock=clock)
    client.post_internal_note("1", NOTE)
    clock.now += 3600 - 61  # more than a minute left: kept
    client.post_internal_note("1", NOTE)
    clock.now += 2  # less than a minute left: renewed first, never sent expired
    client.post_internal_note("1", NOTE)
    assert bearers(server, "PUT", PUT) == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    renewal = server.received("POST", TOKENS)[1].json()
    assert renewal == {"grant_type": "refresh_token", "refresh_token": "ref-1",
                       "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert len(server.received("PUT", PUT)) == 3


def test_a_refused_refresh_token_falls_back_to_client_credentials(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1", 600, refresh="ref-1"),
                  Reply(400, {"error": "invalid_grant"}), grant("tok-2", 600))
    server.script("PUT", PUT, accepts("tok-1", "tok-2"))
    clock = Clock()
    client = ZendeskClient(oauth(server.url), clock=clock)
    client.post_internal_note("1", NOTE)
    clock.now += 600
    client.post_internal_note("1", NOTE)
    grants = [r.json()["grant_type"] for r in server.received("POST", TOKENS)]
    assert grants == ["client_credentials", "refresh_token", "client_credentials"]
    assert bearers(server, "PUT", PUT)[-1] == "Bearer tok-2"


def test_a_token_expired_early_is_renewed_on_the_401_and_the_note_sent_once(server: FakeServer) -> None:
    # Zendesk revoked tok-1 before its expiry: the PUT is refused, a new token asked, and the
    # same PUT sent again. The refused PUT did nothing, so the note exists once.
    server.script("POST", TOKENS, grant("tok-1"), grant("tok-2"))
    server.script("PUT", PUT, accepts("tok-2"))
    assert ZendeskConnector(oauth(server.url)).post_internal_note("1", NOTE) == "6707063839514"
    assert bearers(server, "PUT", PUT) == ["Bearer tok-1", "Bearer tok-2"]
    first, second = server.received("PUT", PUT)
    assert first.body == second.body  # the same update, sent again


def test_a_token_that_expires_between_pages_of_a_long_read(server: FakeServer) -> None:
    """Mid-run: the search's first page is read with tok-1, which then expires; the second
    page, and the comments after it, are read with tok-2 without losing the cursor."""
    script_two_pages(server)
    pages = [r for r in server._routes[("GET", SEARCH)]]  # the two scripted pages, in order
    served: list[str] = []

    def search(request: Recorded) -> Reply:
        token = request.headers.get("Authorization")
        if not served:
            served.append(token)
            return pages[0]
        if token == "Bearer tok-1":  # expired after the first page
            return Reply(401, {"error": "invalid_token"})
        served.append(token)
        return pages[1]
    server.script("GET", SEARCH, search)
    server.script("POST", TOKENS, grant("tok-1"), grant("tok-2"))
    conversations = fetch_resolved(ZendeskClient(oauth(server.url)), datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert [c["ticket_id"] for c in conversations] == ["1", "29"]
    assert served == ["Bearer tok-1", "Bearer tok-2"]
    assert bearers(server, "GET", "/api/v2/tickets/29/comments.json") == ["Bearer tok-2"]
    assert len(server.received("POST", TOKENS)) == 2


def test_a_401_with_a_fresh_token_is_not_retried_forever(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1"), grant("tok-2"))
    server.script("PUT", PUT, accepts())  # refuses every token: e.g. the bot lost its seat
    with pytest.raises(DeliveryError, match="401") as failed:
        ZendeskClient(oauth(server.url)).post_internal_note("1", NOTE)
    assert failed.value.retryable is False
    assert len(server.received("PUT", PUT)) == 2  # the first try and one retry, no more


def test_wrong_client_secret_is_named_and_never_shown(server: FakeServer) -> None:
    server.script("POST", TOKENS, Reply(401, {"error": "invalid_client",
                                              "error_description": "Client authentication failed"}))
    with pytest.raises(DeliveryError) as failed:
        ZendeskClient(oauth(server.url)).post_internal_note("1", NOTE)
    text = str(failed.value)
    assert failed.value.retryable is False
    assert "Client authentication failed" in text and "VIGIL_ZENDESK_OAUTH_CLIENT_SECRET" in text
    assert CLIENT_SECRET not in text
    assert server.received("PUT", PUT) == []  # nothing sent without a token


def test_token_endpoint_outage_is_retryable(server: FakeServer) -> None:
    server.script("POST", TOKENS, Reply(503, "maintenance"))
    with pytest.raises(DeliveryError) as failed:
        ZendeskClient(oauth(server.url)).post_internal_note("1", NOTE)
    assert failed.value.retryable is True


@pytest.mark.parametrize("missing", ["oauth_client_id", "oauth_client_secret", "url"])
def test_missing_oauth_settings_are_named(server: FakeServer, missing: str) -> None:
    given = oauth("") if missing == "url" else oauth(server.url, **{missing: ""})
    with pytest.raises(DeliveryError, match=f"VIGIL_ZENDESK_{missing.upper()}") as failed:
        ZendeskClient(given).post_internal_note("1", NOTE)
    assert failed.value.retryable is False and server.requests == []


def test_threads_share_one_token(server: FakeServer) -> None:
    server.script("POST", TOKENS, Reply(200, grant("tok-1").body, delay=0.2))
    server.script("PUT", PUT, accepts("tok-1"))
    client = ZendeskClient(oauth(server.url))
    threads = [threading.Thread(target=client.post_internal_note, args=("1", NOTE)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.received("POST", TOKENS)) == 1 and len(server.received("PUT", PUT)) == 4


def test_the_api_token_still_works_with_a_warning_naming_the_date(server: FakeServer, caplog) -> None:
    server.script("PUT", PUT, Reply(200, update_response(PRIVATE_AUDIT)))
    with caplog.at_level(logging.WARNING, logger="connectors.zendesk"):
        client = ZendeskClient(settings(server.url), today=date(2026, 11, 29))
    assert any("2027-04-30" in r.getMessage() and "OAuth" in r.getMessage() for r in caplog.records)
    client.post_internal_note("1", NOTE)
    assert bearers(server, "PUT", PUT) == ["Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()]
    assert server.received("POST", TOKENS) == []


def test_the_api_token_is_refused_from_its_retirement_date(server: FakeServer, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="connectors.zendesk"):
        client = ZendeskClient(settings(server.url), today=date(2027, 4, 30))
    assert any("stopped working on 2027-04-30" in r.getMessage() for r in caplog.records)
    with pytest.raises(DeliveryError, match="retired API tokens on 2027-04-30") as failed:
        client.post_internal_note("1", NOTE)
    assert failed.value.retryable is False and server.requests == []


def test_oauth_set_up_means_no_retirement_warning(server: FakeServer, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="connectors.zendesk"):
        ZendeskClient(oauth(server.url, email=EMAIL, token=TOKEN), today=date(2026, 11, 29))
    assert not any("2027-04-30" in r.getMessage() for r in caplog.records)
