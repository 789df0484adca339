"""The events every connector produces: a helpdesk's webhook, translated out of its JSON.

Everything past a connector speaks in these types; nothing past a connector reads a vendor
dict. This module depends on nothing else in the project, so the connectors do not depend on
the plugin, and the plugin imports the connectors' contract from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Role = Literal["customer", "analyst", "plugin"]
Source = str  # a connector's name: "zendesk", "jira" (also its webhook route)

# Normalised ticket statuses; connectors map vendor states onto these.
STATUSES = ("new", "open", "pending", "solved", "closed")
RESOLVED_STATUSES = frozenset({"solved", "closed"})

# Every note the plugin writes carries this marker, so its own notes never re-enter the
# pipeline as fresh questions (the comment-loop failure in HELPDESK_FACTS.md).
NOTE_MARKER = "[vigil-note]"

# The longest ids the project accepts; the store's columns are this wide (plugin/store/tables.py)
# and a connector refuses a longer one with a clear 400 rather than a database error later.
ID_WIDTHS = {"delivery id": 200, "ticket id": 100, "assignee id": 200, "comment id": 100,
             "author id": 200}


@dataclass(frozen=True)
class TicketRef:
    """One ticket, named one way everywhere: its helpdesk and its id there.

    `key` ("zendesk:42") is its form as text, for queue messages, lease names and the command
    line; `parse` reads it back.
    """

    source: Source
    ticket_id: str

    @property
    def key(self) -> str:
        return f"{self.source}:{self.ticket_id}"

    @classmethod
    def parse(cls, key: str) -> "TicketRef":
        source, colon, ticket_id = key.partition(":")
        if not colon or not source or not ticket_id:
            raise ValueError(f"{key!r} is not a ticket reference such as zendesk:42")
        return cls(source, ticket_id)


@dataclass(frozen=True)
class Message:
    """One comment on a ticket, with who wrote it and whether the customer can see it."""

    author_role: Role
    public: bool
    body: str
    created_at: datetime
    message_id: str | None = None
    author_id: str | None = None


@dataclass(frozen=True)
class Event:
    """Something that happened on a ticket, already translated out of the vendor's JSON.

    kind is one of: "message" (a comment was added), "status_changed", "assigned",
    "created" (a new ticket, whose description arrives as `message`).
    """

    source: Source
    ticket_id: str
    kind: str
    occurred_at: datetime
    subject: str = ""
    status: str | None = None
    previous_status: str | None = None
    tags: tuple[str, ...] = ()
    assignee: str | None = None
    message: Message | None = None

    @property
    def ticket(self) -> TicketRef:
        return TicketRef(self.source, self.ticket_id)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        data["tags"] = list(self.tags)
        if self.message:
            data["message"]["created_at"] = self.message.created_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Event":
        data = dict(data)
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
        data["tags"] = tuple(data.get("tags") or ())
        if data.get("message"):
            msg = dict(data["message"])
            msg["created_at"] = datetime.fromisoformat(msg["created_at"])
            data["message"] = Message(**msg)
        return cls(**data)


@dataclass(frozen=True)
class Unread:
    """A comment a body carried but could not stand for on its own (e.g. Jira's thin
    comment_created, which names no reporter, so the author's role is unknown). It is kept,
    with the reason and the fix, so that a comment which never arrives otherwise is seen."""

    ticket_id: str  # "" when the body does not even name its ticket
    why: str


@dataclass(frozen=True)
class Delivery:
    """One webhook request as accepted: the unit of idempotency."""

    source: Source
    delivery_id: str
    events: tuple[Event, ...]
    unread: Unread | None = None
