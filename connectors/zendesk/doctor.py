"""`vigil doctor` for Zendesk: do the credentials work, as the bot user, allowed to comment?

Calls, all through the notes' own zenpy client (ZendeskClient.zenpy), so a green check means
the worker's calls will work too:
- GET /api/v2/users/me.json: who the credentials are (id, name, role);
- for the test note: PUT /api/v2/tickets/{id}.json with a private comment, then
  GET /api/v2/tickets/{id}/comments.json to read it back and see that it is not public.
"""

from __future__ import annotations

from typing import Any

import requests

from connectors.base import Check, DeliveryError
from connectors.zendesk.auth import API_TOKEN_RETIREMENT, BearerAuth
from connectors.zendesk.client import ZendeskClient, zendesk_errors

ME_HINTS = {401: " (the credentials are refused)", 403: " (the user may not read itself)"}
# Users that can add a private comment: agents and admins; a light agent has role "agent"
# too (with a light-agent custom role) and may only comment privately, which suits the bot.
_STAFF_ROLES = {"agent", "admin"}
TEST_NOTE = ("vigil doctor: test note, posted to check that the plugin's notes stay internal. "
             "Safe to delete.")


def doctor(client: ZendeskClient) -> list[Check]:
    """The Zendesk checks, in the order an admin fixes them."""
    credentials = _credentials(client)
    if not credentials.ok:
        return [credentials]
    try:
        me = _me(client)
    except DeliveryError as exc:
        return [credentials, Check("zendesk: who am I", False, str(exc), _fix_for(client, exc))]
    return [credentials, _who(me), _bot_user(client, me), _can_comment(client, me)]


def post_test_note(client: ZendeskClient, ticket_id: str) -> Check:
    """Post one internal note on a sandbox ticket and read it back: it must not be public."""
    name = f"zendesk: test note on ticket {ticket_id}"
    try:
        comment_id = client.post_internal_note(ticket_id, TEST_NOTE)
        found = _comment(client, ticket_id, comment_id)
    except DeliveryError as exc:
        return Check(name, False, str(exc), "use a sandbox ticket the bot user can see and that is not closed")
    if found is None:
        return Check(name, False, f"comment {comment_id} was not found when read back",
                     "read the ticket in Zendesk: the note may be missing or stored elsewhere")
    if found.public is not False:  # the one mistake that must never happen
        return Check(name, False, f"comment {comment_id} is PUBLIC: the customer can read it",
                     "delete it now; the bot user must be an agent, ideally a light agent (connectors/zendesk/SETUP.md, step 1)")
    return Check(name, True, f"comment {comment_id} posted and read back as internal (not public)")


def _credentials(client: ZendeskClient) -> Check:
    name = "zendesk: credentials"
    if client.auth is None:
        return Check(name, False, str(client.problem), "set the OAuth client's settings (connectors/zendesk/SETUP.md, step 2)")
    if isinstance(client.auth, BearerAuth):
        return Check(name, True, f"OAuth client {client.settings.oauth_client_id!r}, client-credentials "
                                 f"grant, scopes {client.settings.oauth_scopes!r}")
    return Check(name, True, f"API token of {client.settings.email}: Zendesk retires API tokens on "
                             f"{API_TOKEN_RETIREMENT}; move to an OAuth client (connectors/zendesk/SETUP.md, step 2)")


def _me(client: ZendeskClient) -> Any:
    with requests.Session() as session, zendesk_errors("GET /api/v2/users/me.json", ME_HINTS):
        return client.zenpy(session).users.me()


def _who(me: Any) -> Check:
    if getattr(me, "id", None) is None:  # Zendesk answers an anonymous user to no credentials
        return Check("zendesk: who am I", False, "Zendesk sees an anonymous user",
                     "check zendesk_url and the credentials")
    return Check("zendesk: who am I", True, f"user {me.id} ({me.name}, {me.role})")


def _bot_user(client: ZendeskClient, me: Any) -> Check:
    name, configured = "zendesk: bot user", str(client.settings.bot_user_id or "").strip()
    if configured == str(me.id):
        return Check(name, True, f"zendesk_bot_user_id is {configured}, the user these credentials act as")
    detail = (f"zendesk_bot_user_id is {configured!r} but the credentials act as user {me.id}"
              if configured else "zendesk_bot_user_id is not set: the plugin could answer its own notes")
    return Check(name, False, detail, f"set VIGIL_ZENDESK_BOT_USER_ID={me.id}")


def _can_comment(client: ZendeskClient, me: Any) -> Check:
    name = "zendesk: can comment"
    if me.role not in _STAFF_ROLES or getattr(me, "active", True) is False:
        return Check(name, False, f"user {me.id} is {'an inactive ' if me.active is False else 'an '}"
                                  f"{me.role}: only agents can add internal notes",
                     "give the bot user an agent seat (connectors/zendesk/SETUP.md, step 1)")
    if isinstance(client.auth, BearerAuth):
        granted = set(client.auth.tokens.granted_scope.split())
        if not granted & {"write", "tickets:write"}:
            return Check(name, False, f"the OAuth token's scopes are {' '.join(sorted(granted))!r}",
                         "set VIGIL_ZENDESK_OAUTH_SCOPES='read tickets:write' and allow those "
                         "scopes on the OAuth client")
    return Check(name, True, f"user {me.id} is an {me.role} and may add internal notes")


def _comment(client: ZendeskClient, ticket_id: str, comment_id: str) -> Any:
    with requests.Session() as session, zendesk_errors(f"the comments of ticket {ticket_id}", ME_HINTS):
        for comment in client.zenpy(session).tickets.comments(ticket=int(ticket_id)):
            if str(comment.id) == comment_id:
                return comment
    return None


def _fix_for(client: ZendeskClient, exc: DeliveryError) -> str:
    if "401" in str(exc) or "OAuth" in str(exc):
        return ("check VIGIL_ZENDESK_OAUTH_CLIENT_ID and VIGIL_ZENDESK_OAUTH_CLIENT_SECRET (or the "
                "API token) and that the client is confidential (connectors/zendesk/SETUP.md, step 2)")
    return "check zendesk_url and that Zendesk is reachable from this machine"
