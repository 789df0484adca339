"""A resolved case: the whole conversation, and what the plugin said on it and how it was rated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.events import RESOLVED_STATUSES, Message
from plugin.replay import read_conversations
from plugin.store import Store, TicketRow


@dataclass(frozen=True)
class PastNote:
    """A note the plugin wrote on the case: what it cited and the analysts' verdict."""

    body: str
    sources: tuple[str, ...] = ()
    feedback: str | None = None  # "useful", "wrong" or None


@dataclass(frozen=True)
class Case:
    source: str
    ticket_id: str
    subject: str
    messages: tuple[Message, ...]
    notes: tuple[PastNote, ...] = ()
    product: str = ""  # the brand or product the ticket belongs to, when the helpdesk says
    tags: tuple[str, ...] = ()  # the ticket's tags: one may name the brand

    @property
    def ref(self) -> str:
        """How provenance names the ticket: `zendesk:35436`."""
        return f"{self.source}:{self.ticket_id}"


def cases_from_conversations(conversations: list[dict[str, Any]]) -> list[Case]:
    """Resolved conversations in the replay format (already validated) as cases."""
    cases = []
    for c in conversations:
        if c.get("status") not in RESOLVED_STATUSES:
            continue
        messages = tuple(Message(m["author_role"], m["public"], m["body"], m["created_at"])
                         for m in c["messages"])
        notes = tuple(PastNote(n.get("body", ""), tuple(n.get("sources", ())), n.get("feedback"))
                      for n in c.get("notes", ()) if isinstance(n, dict))
        brand = c["brand"] if isinstance(c.get("brand"), str) else ""
        cases.append(Case(c["source"], c["ticket_id"], c.get("subject", ""), messages, notes, brand,
                          tuple(t for t in c.get("tags", ()) if isinstance(t, str))))
    return cases


def cases_from_file(path: Path) -> list[Case]:
    """Read resolved conversations (status solved or closed) from a replay-format file."""
    return cases_from_conversations(read_conversations(path))


def case_from_store(store: Store, ticket: TicketRow) -> Case:
    """A ticket the plugin followed, with its notes, their sources and the feedback on them."""
    notes = tuple(PastNote(n["body"], tuple(n["sources"]), n["feedback"])
                  for n in store.notes.list_notes(ticket.ref))
    return Case(ticket.source, ticket.ticket_id, ticket.subject, tuple(store.tickets.conversation(ticket)), notes,
                tags=tuple(ticket.tags))
