"""The project's own vocabulary: everything past a connector speaks in these types."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

Role = Literal["customer", "analyst", "plugin"]
Source = Literal["zendesk", "jira"]

# Normalised ticket statuses; connectors map vendor states onto these.
STATUSES = ("new", "open", "pending", "solved", "closed")
RESOLVED_STATUSES = frozenset({"solved", "closed"})

# Every note the plugin writes carries this marker, so its own notes never re-enter the
# pipeline as fresh questions (the comment-loop failure in HELPDESK_FACTS.md).
NOTE_MARKER = "[vigil-note]"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
class Delivery:
    """One webhook request as accepted: the unit of idempotency."""

    source: Source
    delivery_id: str
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Decision:
    """What the rules decided for one event, and why. action "silent" is a decision too."""

    action: str
    rule: str | None
    reason: str
    considered: tuple[dict[str, Any], ...] = ()  # every rule with fired / failed condition
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A knowledge entry found for a query."""

    entry_id: str
    title: str
    body: str
    score: float  # idf-weighted share of the query the entry covers, 0..1
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelCall:
    """One call to the model, for the cost ledger and the budgets."""

    model: str
    prompt_version: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    outcome: str  # "used", "refusal", "invalid" (fell back) or "failed" (no answer at all)


@dataclass(frozen=True)
class Note:
    """An internal note for the analyst. There is no `public` field: notes are never public."""

    body: str
    sources: tuple[str, ...]
    drafter: str  # "model", "extractive" or "rules"
    model_call: ModelCall | None = None
