"""Notes: drafted once per decision, claimed, posted in order per ticket, retried; model calls."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from connectors.events import TicketRef
from plugin.model import utcnow
from plugin.store.tickets import TicketRow
from plugin.store.database import Database, new_id
from plugin.store.tables import model_calls, notes, tickets


class NoteQueries:
    """Notes from drafted to posted, and the model calls that drafted them."""

    def __init__(self, db: Database):
        self.db = db

    def add_note(self, decision_pk: int, ticket: TicketRow, action: str, rule: str | None,
                 body: str, sources: tuple[str, ...], drafter: str, status: str,
                 at: datetime) -> int | None:
        """Store a drafted note; None if this decision already has one (exactly once)."""
        try:
            with self.db.write(savepoint=True) as conn:
                return new_id(conn.execute(insert(notes).values(
                    decision=decision_pk, ticket=ticket.pk, action=action, rule=rule, body=body,
                    sources=json.dumps(list(sources)), drafter=drafter, status=status,
                    next_attempt_at=utcnow() if status == "drafted" else None,
                    created_at=at)))
        except IntegrityError:
            return None

    def ticket_note_stats(self, ticket: TicketRow) -> tuple[int, datetime | None, set[str]]:
        """Return (notes so far, when the last was written, knowledge ids already cited)."""
        with self.db.read() as conn:
            rows = conn.execute(select(notes.c.created_at, notes.c.sources)
                                .where(notes.c.ticket == ticket.pk)).all()
        cited = {s for r in rows for s in json.loads(r.sources)}
        return len(rows), max((r.created_at for r in rows), default=None), cited

    def note_bodies(self, ticket: TicketRow) -> list[str]:
        with self.db.read() as conn:
            return list(conn.execute(select(notes.c.body).where(notes.c.ticket == ticket.pk)).scalars())

    def record_feedback(self, ticket: TicketRow, verdict: str, at: datetime) -> int | None:
        """Mark the ticket's latest note with an analyst's verdict; return its id."""
        with self.db.write() as conn:
            pk = conn.execute(select(notes.c.id).where(notes.c.ticket == ticket.pk, notes.c.created_at <= at)
                              .order_by(notes.c.id.desc()).limit(1)).scalar()
            if pk is not None:
                conn.execute(update(notes).where(notes.c.id == pk).values(feedback=verdict, feedback_at=at))
        return pk

    def entry_verdicts(self) -> dict[str, tuple[int, int]]:
        """Analysts' verdicts on answer notes, per entry the answer rested on (its first
        source): {entry id: (useful, wrong)}. What the answer confidence weighs as past feedback."""
        with self.db.read() as conn:
            rows = conn.execute(select(notes.c.sources, notes.c.feedback)
                                .where(notes.c.action == "answer", notes.c.feedback.is_not(None))).all()
        counts: dict[str, list[int]] = {}
        for sources, verdict in rows:
            cited = json.loads(sources)
            if cited and verdict in ("useful", "wrong"):
                counts.setdefault(cited[0], [0, 0])[verdict == "wrong"] += 1
        return {entry: (useful, wrong) for entry, (useful, wrong) in counts.items()}

    def notes_due(self, now: datetime, ticket: TicketRef | None = None) -> list[Any]:
        """Notes to post now: per ticket only the oldest undelivered one, and only if due,
        so a note waiting on a retry holds back the ticket's later notes (order per ticket).
        With a ticket, only that ticket's."""
        query = (select(notes, tickets.c.source, tickets.c.ticket_id).join(tickets, tickets.c.id == notes.c.ticket)
                 .where(notes.c.status == "drafted").order_by(notes.c.id))
        if ticket is not None:
            query = query.where(tickets.c.source == ticket.source, tickets.c.ticket_id == ticket.ticket_id)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        first: dict[int, Any] = {}
        for row in rows:
            first.setdefault(row.ticket, row)
        return [r for r in first.values() if r.next_attempt_at <= now]

    def claim_note(self, pk: int, now: datetime, lease_seconds: float = 60.0) -> bool:
        """Take the right to post this note now; False if another poster holds it.

        A conditional update, so it holds across threads and processes; the lease expires,
        so a poster that died mid-post does not strand the note. On disk before the note is
        posted: a claim lost with the machine's power would have the note posted twice.
        """
        with self.db.write(durable=True) as conn:
            return conn.execute(update(notes).where(
                notes.c.id == pk, notes.c.status == "drafted",
                (notes.c.claimed_until.is_(None)) | (notes.c.claimed_until < now),
            ).values(claimed_until=now + timedelta(seconds=lease_seconds))).rowcount == 1

    def hold_back_later_notes(self, pk: int, ticket_pk: int) -> int:
        """Fail a ticket's notes after one that failed, so a retry posts them all in order."""
        with self.db.write() as conn:
            return conn.execute(update(notes).where(
                notes.c.ticket == ticket_pk, notes.c.id > pk, notes.c.status == "drafted",
            ).values(status="failed", last_error=f"kept back behind note {pk}, which failed")).rowcount

    def mark_note(self, pk: int, **values: Any) -> None:
        values.setdefault("claimed_until", None)
        with self.db.write() as conn:
            conn.execute(update(notes).where(notes.c.id == pk).values(**values))

    def retry_failed_notes(self, ticket: TicketRef | None = None, pk: int | None = None) -> int:
        """Put failed notes (all, a ticket's, or one) back in the delivery queue; return how many."""
        query = update(notes).where(notes.c.status == "failed")
        if ticket is not None:
            query = query.where(notes.c.ticket.in_(select(tickets.c.id).where(
                tickets.c.source == ticket.source, tickets.c.ticket_id == ticket.ticket_id)))
        if pk is not None:
            query = query.where(notes.c.id == pk)
        with self.db.write() as conn:
            return conn.execute(query.values(status="drafted", attempts=0,
                                             next_attempt_at=utcnow())).rowcount

    def list_notes(self, ticket: TicketRef | None = None) -> list[dict[str, Any]]:
        query = (select(notes, tickets.c.source, tickets.c.ticket_id)
                 .join(tickets, tickets.c.id == notes.c.ticket).order_by(notes.c.id))
        if ticket is not None:
            query = query.where(tickets.c.source == ticket.source, tickets.c.ticket_id == ticket.ticket_id)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [{"id": r.id, "ticket_id": r.ticket_id, "source": r.source, "action": r.action,
                 "rule": r.rule, "body": r.body, "sources": json.loads(r.sources),
                 "public": False, "status": r.status, "drafter": r.drafter,
                 "attempts": r.attempts, "last_error": r.last_error, "feedback": r.feedback,
                 "created_at": r.created_at.isoformat()} for r in rows]

    def record_model_call(self, ticket: TicketRow, at: datetime, call: Any) -> None:
        with self.db.write() as conn:
            conn.execute(insert(model_calls).values(
                ticket=ticket.pk, at=at, model=call.model, prompt_version=call.prompt_version,
                prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
                seconds=call.seconds, outcome=call.outcome))

    def model_calls_made(self, ticket: TicketRow, since: datetime) -> tuple[int, int]:
        """Model calls (on this ticket ever, on all tickets since a moment): the budgets."""
        with self.db.read() as conn:
            on_ticket = conn.execute(select(func.count()).select_from(model_calls)
                                     .where(model_calls.c.ticket == ticket.pk)).scalar_one()
            recent = conn.execute(select(func.count()).select_from(model_calls)
                                  .where(model_calls.c.at >= since)).scalar_one()
        return on_ticket, recent


def backoff_until(now: datetime, attempts: int, base_seconds: float,
                  retry_after: float | None) -> datetime:
    """When to try again: the helpdesk's Retry-After if it gave one, else exponential."""
    delay = retry_after if retry_after is not None else base_seconds * 2 ** (attempts - 1)
    return now + timedelta(seconds=min(delay, 3600))
