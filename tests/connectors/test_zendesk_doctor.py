"""`vigil doctor`'s Zendesk checks and test note: the real zenpy client, a loopback server.

GET /api/v2/users/me.json answers are written to the documented User shape
(developer.zendesk.com/api-reference/ticketing/users/users/#show-self); no recording of it exists
among the fixtures.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.zendesk import ZendeskConnector
from tests.connectors.test_zendesk_client import PRIVATE_AUDIT, PUBLIC_AUDIT, PUT, update_response
from tests.connectors.test_zendesk_oauth import TOKENS, grant, oauth
from tests.connectors.zendesk_api import BOT, settings
from tests.fakehttp import FakeServer, Reply

ME = "/api/v2/users/me.json"
COMMENTS = "/api/v2/tickets/1/comments.json"


def me(user_id: str = BOT, role: str = "agent", active: bool = True) -> Reply:
    return Reply(200, {"user": {"id": int(user_id), "name": "Vigil Bot", "email": "vigil-bot@example.org",
                                "role": role, "active": active, "verified": True,
                                "url": f"https://acme.zendesk.com/api/v2/users/{user_id}.json"}})


def failed(checks: list) -> list:
    return [c for c in checks if not c.ok]


def test_all_green_with_an_oauth_client(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1"))
    server.script("GET", ME, me())
    checks = ZendeskConnector(oauth(server.url)).doctor()
    assert [c.name for c in checks] == ["zendesk: credentials", "zendesk: who am I",
                                        "zendesk: bot user", "zendesk: can comment"]
    assert failed(checks) == [], checks
    assert "client-credentials" in checks[0].detail and "Vigil Bot" in checks[1].detail
    assert server.received("GET", ME)[0].headers["Authorization"] == "Bearer tok-1"


def test_the_api_token_passes_but_names_its_retirement(server: FakeServer) -> None:
    server.script("GET", ME, me())
    checks = ZendeskConnector(settings(server.url)).doctor()
    assert failed(checks) == [] and "2027-04-30" in checks[0].detail


@pytest.mark.parametrize("reply, over, red, fix", [
    (me(user_id="12345"), {}, "zendesk: bot user", "VIGIL_ZENDESK_BOT_USER_ID=12345"),
    (me(), {"bot_user_id": ""}, "zendesk: bot user", f"VIGIL_ZENDESK_BOT_USER_ID={BOT}"),
    (me(role="end-user"), {}, "zendesk: can comment", "agent seat"),
    (me(active=False), {}, "zendesk: can comment", "agent seat"),
    (Reply(401, {"error": "Couldn't authenticate you"}), {}, "zendesk: who am I", "OAUTH_CLIENT"),
])
def test_each_wrong_setting_gives_one_red_line_with_its_fix(server: FakeServer, reply: Reply,
                                                           over: dict[str, Any], red: str, fix: str) -> None:
    server.script("POST", TOKENS, grant("tok-1"))
    server.script("GET", ME, reply)
    (bad,) = failed(ZendeskConnector(oauth(server.url, **over)).doctor())
    assert bad.name == red and fix in bad.fix, bad


def test_a_token_without_write_scope_cannot_comment(server: FakeServer) -> None:
    server.script("POST", TOKENS, Reply(200, {"access_token": "t", "token_type": "bearer", "scope": "read"}))
    server.script("GET", ME, me())
    (bad,) = failed(ZendeskConnector(oauth(server.url, oauth_scopes="read")).doctor())
    assert bad.name == "zendesk: can comment" and "tickets:write" in bad.fix


def test_a_wrong_client_secret_stops_at_who_am_i(server: FakeServer) -> None:
    server.script("POST", TOKENS, Reply(401, {"error": "invalid_client"}))
    checks = ZendeskConnector(oauth(server.url)).doctor()
    assert [c.name for c in failed(checks)] == ["zendesk: who am I"]
    assert "OAUTH_CLIENT_SECRET" in failed(checks)[0].fix and server.received("GET", ME) == []


def test_missing_credentials_are_the_first_red_line(server: FakeServer) -> None:
    (bad,) = ZendeskConnector(settings(server.url, zendesk_email="", zendesk_token="")).doctor()
    assert bad.name == "zendesk: credentials" and not bad.ok and "VIGIL_ZENDESK_OAUTH_CLIENT_ID" in bad.detail


def comments_with(audit_id: int) -> dict[str, Any]:
    event = next(e for e in update_response(audit_id)["audit"]["events"] if e.get("type") == "Comment")
    return {"comments": [{**event, "author_id": int(BOT), "created_at": "2026-11-29T14:00:00Z"}],
            "meta": {"has_more": False}, "links": {"next": None}}


def test_test_note_is_posted_private_and_read_back(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1"))
    server.script("PUT", PUT, Reply(200, update_response(PRIVATE_AUDIT)))
    server.script("GET", COMMENTS, Reply(200, comments_with(PRIVATE_AUDIT)))
    check = ZendeskConnector(oauth(server.url)).post_test_note("1")
    assert check.ok and "6707063839514" in check.detail, check
    assert server.received("PUT", PUT)[0].json()["ticket"]["comment"]["public"] is False


def test_a_test_note_zendesk_made_public_is_red(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1"))
    server.script("PUT", PUT, Reply(200, update_response(PUBLIC_AUDIT)))
    check = ZendeskConnector(oauth(server.url)).post_test_note("1")
    assert not check.ok and "PUBLIC" in check.detail


def test_a_test_note_on_a_missing_ticket_is_red(server: FakeServer) -> None:
    server.script("POST", TOKENS, grant("tok-1"))
    server.script("PUT", PUT, Reply(404, {"error": "RecordNotFound", "description": "Not found"}))
    check = ZendeskConnector(oauth(server.url)).post_test_note("1")
    assert not check.ok and "404" in check.detail and "sandbox ticket" in check.fix
