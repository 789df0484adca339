"""Tickets, their comments, and the decisions taken on them."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from connectors.events import Event, Message, TicketRef

from plugin.model import Decision
from plugin.store.database import Database, new_id
from plugin.store.tables import decisions, learning_queue, messages, model_calls, notes, tickets


@dataclass(frozen=True)
class TicketRow:
    pk: int | None  # None: not stored yet (its first event is being decided)
    source: str
    ticket_id: str
    subject: str
    status: str
    tags: tuple[str, ...]
    assignee: str | None

    @property
    def ref(self) -> TicketRef:
        return TicketRef(self.source, self.ticket_id)

    @classmethod
    def new(cls, event: Event) -> "TicketRow":
        return cls(None, event.source, event.ticket_id, "", "new", (), None).after(event)

    def after(self, event: Event) -> "TicketRow":
        """The ticket as it will be once this event is stored (what upsert_ticket writes)."""
        return replace(self, subject=event.subject or self.subject, status=event.status or self.status,
                       tags=tuple(sorted(set(event.tags))) if event.tags else self.tags,
                       assignee=self.assignee if event.assignee is None else event.assignee)


class TicketQueries:
    """What the pipeline knows of a ticket, and what it decided."""

    def __init__(self, db: Database):
        self.db = db

    def upsert_ticket(self, event: Event) -> TicketRow:
        """Create the ticket or bring its subject, status, tags and assignee up to date."""
        changes: dict[str, Any] = {"updated_at": event.occurred_at}
        if event.subject:
            changes["subject"] = event.subject
        if event.status:
            changes["status"] = event.status
        if event.tags:
            changes["tags"] = json.dumps(sorted(set(event.tags)))
        if event.assignee is not None:
            changes["assignee"] = event.assignee
        key = (tickets.c.source == event.source) & (tickets.c.ticket_id == event.ticket_id)
        with self.db.write() as conn:
            if conn.execute(update(tickets).where(key).values(**changes)).rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(tickets).values(source=event.source,
                                                            ticket_id=event.ticket_id, **changes))
                except IntegrityError:  # created by a concurrent writer meanwhile
                    conn.execute(update(tickets).where(key).values(**changes))
            row = conn.execute(select(tickets).where(key)).one()
        return row_ticket(row)

    def find_ticket(self, ref: TicketRef) -> TicketRow | None:
        with self.db.read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.source == ref.source,
                                                     tickets.c.ticket_id == ref.ticket_id)).first()
        return row_ticket(row) if row else None

    def resolve(self, text: str) -> TicketRow:
        """The ticket someone typed: "zendesk:42", or a bare id that only one helpdesk has.

        Raise LookupError saying why when no ticket, or more than one, has that name."""
        if ":" in text:
            found = self.find_ticket(TicketRef.parse(text))
            if found is None:
                raise LookupError(f"no ticket {text}")
            return found
        with self.db.read() as conn:
            rows = conn.execute(select(tickets).where(tickets.c.ticket_id == text)).all()
        if not rows:
            raise LookupError(f"no ticket {text!r}")
        if len(rows) > 1:
            raise LookupError(f"{len(rows)} helpdesks have a ticket {text!r}: name one, as "
                              + " or ".join(sorted(f"{r.source}:{text}" for r in rows)))
        return row_ticket(rows[0])

    def forget_ticket(self, ref: TicketRef) -> None:
        """Delete a ticket and all it holds (replaying a recorded ticket starts afresh)."""
        ticket = self.find_ticket(ref)
        if ticket is None:
            return
        with self.db.write() as conn:
            for table in (notes, decisions, messages, model_calls, learning_queue):
                conn.execute(table.delete().where(table.c.ticket == ticket.pk))
            conn.execute(tickets.delete().where(tickets.c.id == ticket.pk))

    def add_message(self, ticket: TicketRow, message: Message) -> int | None:
        """Append a comment; return its position, or None if this comment id is known."""
        with self.db.write() as conn:
            position = conn.execute(select(func.count()).select_from(messages)
                                    .where(messages.c.ticket == ticket.pk)).scalar_one()
            try:
                with conn.begin_nested():
                    conn.execute(insert(messages).values(
                        ticket=ticket.pk, position=position, message_id=message.message_id,
                        author_role=message.author_role, author_id=message.author_id,
                        public=message.public, body=message.body, created_at=message.created_at))
            except IntegrityError:
                return None
        return position

    def edit_message(self, ticket: TicketRow, message: Message) -> None:
        """Store a comment's new text after an edit (same comment id, other text)."""
        with self.db.write() as conn:
            conn.execute(update(messages).where(messages.c.ticket == ticket.pk,
                                                messages.c.message_id == message.message_id)
                         .values(body=message.body))

    def conversation(self, ticket: TicketRow) -> list[Message]:
        with self.db.read() as conn:
            rows = conn.execute(select(messages).where(messages.c.ticket == ticket.pk)
                                .order_by(messages.c.position)).all()
        return [Message(r.author_role, r.public, r.body, r.created_at, r.message_id, r.author_id)
                for r in rows]

    def recent_facts(self, ticket: TicketRow, action: str, since: datetime | None) -> list[dict[str, Any]]:
        """The facts of the decisions that took `action` on this ticket since a moment (None: ever)."""
        query = select(decisions.c.facts).where(decisions.c.ticket == ticket.pk, decisions.c.action == action)
        if since is not None:
            query = query.where(decisions.c.created_at >= since)
        with self.db.read() as conn:
            return [json.loads(r) for r in conn.execute(query).scalars()]

    def decided(self, ticket: TicketRow, action: str) -> list[tuple[datetime, list[dict[str, Any]]]]:
        """When each decision that took `action` on this ticket was made, and the rules it
        considered (which fired): a flag's kinds are read from them."""
        query = select(decisions.c.created_at, decisions.c.considered).where(
            decisions.c.ticket == ticket.pk, decisions.c.action == action)
        with self.db.read() as conn:
            return [(at, json.loads(considered)) for at, considered in conn.execute(query)]

    def record_decision(self, ticket: TicketRow, event: Event, position: int | None,
                        decision: Decision) -> int:
        with self.db.write() as conn:
            return new_id(conn.execute(insert(decisions).values(
                ticket=ticket.pk, event_kind=event.kind, message_position=position,
                action=decision.action, rule=decision.rule, reason=decision.reason,
                considered=json.dumps(list(decision.considered)),
                facts=json.dumps(decision.facts, default=str), created_at=event.occurred_at)))

    def waiting_tickets(self) -> list[TicketRow]:
        """Tickets not yet solved, for the periodic check of who is waiting."""
        with self.db.read() as conn:
            rows = conn.execute(select(tickets).where(tickets.c.status.in_(("new", "open", "pending")))).all()
        return [row_ticket(r) for r in rows]

    def timeline(self, ticket: TicketRow) -> Iterator[dict[str, Any]]:
        """Every decision on a ticket, oldest first, with the note it produced if any."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(decisions, notes.c.status.label("note_status"),
                       notes.c.body.label("note_body"), notes.c.sources.label("note_sources"))
                .outerjoin(notes, notes.c.decision == decisions.c.id)
                .where(decisions.c.ticket == ticket.pk).order_by(decisions.c.id)).all()
        for r in rows:
            yield {"decision": r.id, "event": r.event_kind, "message_index": r.message_position,
                   "action": r.action, "rule": r.rule, "reason": r.reason,
                   "considered": json.loads(r.considered), "facts": json.loads(r.facts),
                   "note": None if r.note_body is None else {
                       "status": r.note_status, "body": r.note_body,
                       "sources": json.loads(r.note_sources)}}


def row_ticket(row: Any) -> TicketRow:
    return TicketRow(row.id, row.source, row.ticket_id, row.subject, row.status,
                     tuple(json.loads(row.tags)), row.assignee)
