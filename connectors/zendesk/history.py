"""Read solved and closed Zendesk tickets back as recorded conversations (plugin/replay.py).

Two kinds of call, both GET, through the same zenpy client as the notes (ZendeskClient.zenpy):

1. the tickets: `search_export(type='ticket', status=[closed, solved], updated_after=...)`,
   i.e. GET /api/v2/search/export.json?filter[type]=ticket&page[size]=100&query=type:ticket
   updated>2024-02-01T08:59:59Z status:"closed" status:"solved" (URL-encoded), following
   `links.next` (page[after]=cursor) while `meta.has_more`;
2. each kept ticket's comments: `tickets.comments(ticket=id)`, i.e.
   GET /api/v2/tickets/{id}/comments.json?include_inline_images=false&page[size]=100,
   following `links.next` while `meta.has_more`.

Why the Export Search Results endpoint: the plain Search API stops at 1,000 results
(HELPDESK_FACTS "Solved tickets"); search/export pages with a cursor and has no such cap. The
cursor-based incremental ticket export has no cap either, but it is allowed for admins only,
while the plugin's user is an agent (SETUP.md), and it returns every ticket that changed,
whatever its status; search/export is allowed for agents and filters by status on the server.
What it costs: the search index lags a few minutes behind (a ticket solved just now may be
missing: overlap the windows), its cursor expires after an hour, and results come ordered by
creation only. zenpy 2.0.57 also writes `type:ticket` into the query next to filter[type];
Zendesk's reference says the type belongs in filter[type] only, but this is how zenpy's
search_export has always called it, and it is reported to work (facetoe/zenpy#595).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Iterator

import requests
from zenpy import Zenpy
from zenpy.lib.exception import RecordNotFoundException

from connectors.base import DeliveryError, utc
from connectors.plumbing import parse_time
from connectors.zendesk.client import ZendeskClient, zendesk_errors
from connectors.zendesk.webhook import is_plugin
from connectors.events import RESOLVED_STATUSES

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # Zendesk recommends 100 per search/export page (at most 1,000)


def fetch_resolved(api: ZendeskClient, since: datetime, limit: int = 1000) -> list[dict[str, Any]]:
    """Return up to `limit` solved/closed tickets updated since `since`, as conversations.

    Each is a replay line (source, ticket_id, subject, status, tags, messages oldest first)
    plus "notes": the plugin's own comments, kept apart from the messages. A naive `since`
    is taken as UTC. Raise DeliveryError: retryable (with retry_after on a 429) when waiting
    can help, not retryable for missing settings or a refused request.
    """
    if limit <= 0:
        return []
    bot_id = str(api.settings.bot_user_id or "").strip()
    conversations: list[dict[str, Any]] = []
    with requests.Session() as session, zendesk_errors("the solved-ticket search", SEARCH_HINTS):
        client = api.zenpy(session, action="read from")
        for ticket in _resolved_tickets(client, since):
            what = f"the comments of ticket {ticket.id}"
            with zendesk_errors(what, SEARCH_HINTS):
                try:
                    conversation = _conversation(client, ticket, bot_id)
                except (ValueError, TypeError) as exc:  # e.g. a comment without a readable time
                    raise DeliveryError(f"Zendesk gave an unreadable answer to {what}: {exc}",
                                        retryable=False) from exc
            if conversation is not None:
                conversations.append(conversation)
            if len(conversations) >= limit:
                break  # stop before asking for another page
    return conversations


def _resolved_tickets(client: Zenpy, since: datetime) -> Iterator[Any]:
    """Yield the solved and closed tickets updated since `since`, page by page."""
    # Search compares whole seconds and `updated>` is strict: one second earlier makes
    # `since` itself included. zenpy writes the datetime as ...Z without converting it, so
    # it must be in UTC already.
    after = utc(since).replace(microsecond=0) - timedelta(seconds=1)
    results = client.search_export(type="ticket", status=sorted(RESOLVED_STATUSES),
                                   updated_after=after, cursor_pagination=PAGE_SIZE)
    for ticket in results:
        # The query already asks for these statuses; check anyway, so that nothing else
        # (a reopened ticket the index has not caught up with) is learned from.
        if getattr(ticket, "status", None) in RESOLVED_STATUSES:
            yield ticket


def _conversation(client: Zenpy, ticket: Any, bot_id: str) -> dict[str, Any] | None:
    """Return the ticket as a replay conversation, or None when there is nothing to replay."""
    try:
        comments = list(client.tickets.comments(ticket=ticket.id))
    except RecordNotFoundException:  # deleted between the search and now
        log.info("Zendesk ticket %s vanished before its comments were read", ticket.id)
        return None
    requester = getattr(ticket, "requester_id", None)
    messages, notes = [], []
    for comment in comments:
        body = comment.body if isinstance(comment.body, str) else ""
        created_at = _iso(comment.created_at)
        author = comment.author_id
        if is_plugin(body, bot_id, str(author)):  # the same test as the webhook's
            notes.append({"body": body, "created_at": created_at})
            continue
        # Comments from the REST API carry no is_staff flag (the webhook's author object
        # does): the requester is the customer, anyone else writing on the ticket is staff.
        role = "customer" if requester is not None and author == requester else "analyst"
        messages.append({"author_role": role, "public": comment.public is True,
                         "body": body, "created_at": created_at})
    if not messages:
        log.info("Zendesk ticket %s has no comment besides the plugin's own", ticket.id)
        return None
    messages.sort(key=lambda m: _parse(str(m["created_at"])))  # stable: ties keep Zendesk's order
    notes.sort(key=lambda n: _parse(str(n["created_at"])))
    return {"source": "zendesk", "ticket_id": str(ticket.id),
            "subject": ticket.subject or "", "status": ticket.status,
            "tags": [str(tag) for tag in (ticket.tags or [])],
            "messages": messages, "notes": notes}


SEARCH_HINTS = {401: " (check the OAuth client, or VIGIL_ZENDESK_EMAIL and VIGIL_ZENDESK_TOKEN)",
                403: " (the API user must be an agent who can see these tickets)",
                404: " (check VIGIL_ZENDESK_URL)",
                422: " (Zendesk refused the search query)"}


def _parse(text: str) -> datetime:
    when = parse_time(text)
    if when is None:
        raise ValueError(f"not an ISO-8601 time: {str(text)[:40]!r}")
    return when


def _iso(value: Any) -> str:
    """Zendesk's '2024-02-07T00:09:24Z' as an ISO-8601 string with an explicit offset."""
    return utc(_parse(str(value))).isoformat()
