"""The durable state's queries: the inbox, tickets, messages, decisions, notes and leases.

SQLAlchemy Core over SQLite by default, PostgreSQL for several processes. Uniqueness that
matters for correctness is a constraint in tables.py, not a check in Python. `unit()`
groups writes into one transaction, so an event's effects land together or not at all.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Iterator

from sqlalchemy import case, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from plugin import schema
from plugin.tables import (decisions, deliveries, leases, learning_queue, messages, metadata, model_calls,
                           notes, proposals, tickets, webhook_results)
from plugin.model import Decision, Delivery, Event, Message, utcnow


class AlreadyHandled(RuntimeError):
    """Another worker handled this event first; the unit that raised it rolls back."""


def ticket_key(delivery: Delivery) -> str:
    """The ticket a delivery is about, as "source:ticket_id" (its first event's ticket)."""
    first = delivery.events[0].ticket_id if delivery.events else ""
    return f"{delivery.source}:{first}"


@dataclass(frozen=True)
class TicketRow:
    pk: int | None  # None: not stored yet (its first event is being decided)
    source: str
    ticket_id: str
    subject: str
    status: str
    tags: tuple[str, ...]
    assignee: str | None

    @classmethod
    def new(cls, event: Event) -> "TicketRow":
        return cls(None, event.source, event.ticket_id, "", "new", (), None).after(event)

    def after(self, event: Event) -> "TicketRow":
        """The ticket as it will be once this event is stored (what upsert_ticket writes)."""
        return replace(self, subject=event.subject or self.subject, status=event.status or self.status,
                       tags=tuple(sorted(set(event.tags))) if event.tags else self.tags,
                       assignee=self.assignee if event.assignee is None else event.assignee)


def driver_url(url: str) -> str:
    """A plain postgresql:// URL means psycopg 3 (SQLAlchemy would otherwise want psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web process write the inbox while the worker reads; busy_timeout waits
    # for a lock instead of failing at once when both write at the same moment.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # pysqlite would begin transactions itself, after a SAVEPOINT had already started (and
    # its RELEASE committed) one: let SQLAlchemy say BEGIN, so a unit really is one transaction.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN")


class Store:
    """The queries the rest of the plugin needs, and nothing else."""

    def __init__(self, url: str, **engine_options: Any):
        self.engine: Engine = create_engine(driver_url(url), pool_pre_ping=True, **engine_options)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._unit: ContextVar[Connection | None] = ContextVar(f"vigil-unit-{id(self)}", default=None)
        # A read outside a unit needs no transaction: on PostgreSQL that saves a BEGIN and a
        # ROLLBACK per query (SQLite's reads are cheap, and its BEGIN is ours: see above).
        self._autocommit_reads = not url.startswith("sqlite")
        schema.prepare(self.engine, metadata)

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Everything written inside lands in one transaction, or nothing does.

        A write inside that may meet a constraint (a comment seen already) is a savepoint and
        undoes only itself; an exception leaving the unit undoes it all.
        """
        if self._unit.get() is not None:
            yield
            return
        with self.engine.begin() as conn:
            token = self._unit.set(conn)
            try:
                yield
            finally:
                self._unit.reset(token)

    @contextmanager
    def _write(self, savepoint: bool = False) -> Iterator[Connection]:
        """A transaction of its own, or the unit's; with savepoint, a write that may meet a
        constraint (caught by the caller) undoes only itself, not the unit."""
        conn = self._unit.get()
        if conn is None:
            with self.engine.begin() as conn:
                yield conn
        elif savepoint:
            with conn.begin_nested():
                yield conn
        else:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        conn = self._unit.get()
        if conn is None:
            with self.engine.connect() as conn:
                if self._autocommit_reads:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
        else:
            yield conn  # see the unit's own writes

    # -- inbox -------------------------------------------------------------------------

    def accept(self, delivery: Delivery) -> bool:
        """Store a delivery durably; return False if it was already stored (a retry)."""
        row = {"source": delivery.source, "delivery_id": delivery.delivery_id,
               "received_at": utcnow(), "state": "pending" if delivery.events else "done",
               "ticket_key": ticket_key(delivery), "progress": 0,
               "events": json.dumps([e.to_dict() for e in delivery.events])}
        try:
            with self._write(savepoint=True) as conn:
                conn.execute(insert(deliveries).values(**row))
        except IntegrityError:
            return False
        return True

    def pending_tickets(self, received_before: datetime | None = None,
                        unheld_at: datetime | None = None) -> list[str]:
        """The tickets with deliveries waiting, oldest first; optionally only those waiting
        since a moment, and only those no worker holds a lease on."""
        query = select(deliveries.c.ticket_key).where(deliveries.c.state == "pending")
        if received_before is not None:
            query = query.where(deliveries.c.received_at < received_before)
        if unheld_at is not None:
            query = query.where(~select(leases.c.name).where(
                leases.c.name == "ticket:" + deliveries.c.ticket_key, leases.c.expires_at >= unheld_at).exists())
        with self._read() as conn:
            rows = conn.execute(query.group_by(deliveries.c.ticket_key)
                                .order_by(func.min(deliveries.c.id))).scalars()
            return list(rows)

    def pending_deliveries(self, key: str | None = None, limit: int = 100) -> list[tuple[int, int, list[Event]]]:
        """(id, events handled already, events) of waiting deliveries, oldest first."""
        query = select(deliveries.c.id, deliveries.c.progress, deliveries.c.events).where(
            deliveries.c.state == "pending")
        if key is not None:
            query = query.where(deliveries.c.ticket_key == key)
        with self._read() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id).limit(limit)).all()
        return [(pk, done, [Event.from_dict(e) for e in json.loads(raw)]) for pk, done, raw in rows]

    def advance_delivery(self, pk: int, done: int, total: int) -> None:
        """Record that event number `done` of a delivery is handled (inside that event's unit).

        Conditional on the progress before it, so if two workers ever handle the same event,
        the second one's unit fails here and rolls back: each event takes effect exactly once.
        """
        with self._write() as conn:
            changed = conn.execute(update(deliveries).where(
                deliveries.c.id == pk, deliveries.c.progress == done - 1, deliveries.c.state == "pending",
            ).values(progress=done, state="done" if done == total else "pending")).rowcount
        if changed != 1:
            raise AlreadyHandled(f"delivery {pk} event {done} was handled by another worker")

    def fail_delivery(self, pk: int, error: str) -> None:
        with self._write() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == pk).values(state="failed", error=error))

    # -- leases: one holder at a time, across processes ----------------------------------

    def take_lease(self, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
        """Take (or renew) a lease; False while another holder's has not expired."""
        now = now or utcnow()
        until = now + timedelta(seconds=seconds)
        with self._write() as conn:
            taken = conn.execute(update(leases).where(
                leases.c.name == name, (leases.c.holder == holder) | (leases.c.expires_at < now),
            ).values(holder=holder, expires_at=until)).rowcount
        if taken:
            return True
        try:
            with self._write(savepoint=True) as conn:
                conn.execute(insert(leases).values(name=name, holder=holder, expires_at=until))
        except IntegrityError:
            return False  # held by someone else
        return True

    def release_lease(self, name: str, holder: str) -> None:
        with self._write() as conn:
            conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))

    # -- tickets and messages ----------------------------------------------------------

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
        with self._write() as conn:
            if conn.execute(update(tickets).where(key).values(**changes)).rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(tickets).values(source=event.source,
                                                            ticket_id=event.ticket_id, **changes))
                except IntegrityError:  # created by a concurrent writer meanwhile
                    conn.execute(update(tickets).where(key).values(**changes))
            row = conn.execute(select(tickets).where(key)).one()
        return _ticket(row)

    def find_ticket(self, source: str | None, ticket_id: str) -> TicketRow | None:
        query = select(tickets).where(tickets.c.ticket_id == ticket_id)
        if source:
            query = query.where(tickets.c.source == source)
        with self._read() as conn:
            row = conn.execute(query.order_by(tickets.c.id)).first()
        return _ticket(row) if row else None

    def forget_ticket(self, source: str, ticket_id: str) -> None:
        """Delete a ticket and all it holds (replaying a recorded ticket starts afresh)."""
        ticket = self.find_ticket(source, ticket_id)
        if ticket is None:
            return
        with self._write() as conn:
            for table in (notes, decisions, messages):
                conn.execute(table.delete().where(table.c.ticket == ticket.pk))
            conn.execute(tickets.delete().where(tickets.c.id == ticket.pk))

    def add_message(self, ticket: TicketRow, message: Message) -> int | None:
        """Append a comment; return its position, or None if this comment id is known."""
        with self._write() as conn:
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

    def has_message(self, ticket: TicketRow, message_id: str | None) -> bool:
        if message_id is None:
            return False
        with self._read() as conn:
            return conn.execute(select(messages.c.id).where(
                messages.c.ticket == ticket.pk, messages.c.message_id == message_id)).first() is not None

    def conversation(self, ticket: TicketRow) -> list[Message]:
        with self._read() as conn:
            rows = conn.execute(select(messages).where(messages.c.ticket == ticket.pk)
                                .order_by(messages.c.position)).all()
        return [Message(r.author_role, r.public, r.body, r.created_at, r.message_id, r.author_id)
                for r in rows]

    # -- decisions and notes -----------------------------------------------------------

    def recent_facts(self, ticket: TicketRow, action: str, since: datetime) -> list[dict[str, Any]]:
        """The facts of the decisions that took `action` on this ticket since a moment."""
        with self._read() as conn:
            rows = conn.execute(select(decisions.c.facts).where(
                decisions.c.ticket == ticket.pk, decisions.c.action == action,
                decisions.c.created_at >= since)).scalars()
            return [json.loads(r) for r in rows]

    def record_decision(self, ticket: TicketRow, event: Event, position: int | None,
                        decision: Decision) -> int:
        with self._write() as conn:
            return conn.execute(insert(decisions).values(
                ticket=ticket.pk, event_kind=event.kind, message_position=position,
                action=decision.action, rule=decision.rule, reason=decision.reason,
                considered=json.dumps(list(decision.considered)),
                facts=json.dumps(decision.facts, default=str), created_at=event.occurred_at,
            )).inserted_primary_key[0]

    def add_note(self, decision_pk: int, ticket: TicketRow, action: str, rule: str | None,
                 body: str, sources: tuple[str, ...], drafter: str, status: str,
                 at: datetime) -> int | None:
        """Store a drafted note; None if this decision already has one (exactly once)."""
        try:
            with self._write(savepoint=True) as conn:
                return conn.execute(insert(notes).values(
                    decision=decision_pk, ticket=ticket.pk, action=action, rule=rule, body=body,
                    sources=json.dumps(list(sources)), drafter=drafter, status=status,
                    next_attempt_at=utcnow() if status == "drafted" else None,
                    created_at=at)).inserted_primary_key[0]
        except IntegrityError:
            return None

    def ticket_note_stats(self, ticket: TicketRow) -> tuple[int, datetime | None, set[str]]:
        """Return (notes so far, when the last was written, knowledge ids already cited)."""
        with self._read() as conn:
            rows = conn.execute(select(notes.c.created_at, notes.c.sources)
                                .where(notes.c.ticket == ticket.pk)).all()
        cited = {s for r in rows for s in json.loads(r.sources)}
        return len(rows), max((r.created_at for r in rows), default=None), cited

    def record_model_call(self, ticket: TicketRow, at: datetime, call: Any) -> None:
        with self._write() as conn:
            conn.execute(insert(model_calls).values(
                ticket=ticket.pk, at=at, model=call.model, prompt_version=call.prompt_version,
                prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
                seconds=call.seconds, outcome=call.outcome))

    def model_calls_made(self, ticket: TicketRow, since: datetime) -> tuple[int, int]:
        """Model calls (on this ticket ever, on all tickets since a moment): the budgets."""
        with self._read() as conn:
            on_ticket = conn.execute(select(func.count()).select_from(model_calls)
                                     .where(model_calls.c.ticket == ticket.pk)).scalar_one()
            recent = conn.execute(select(func.count()).select_from(model_calls)
                                  .where(model_calls.c.at >= since)).scalar_one()
        return on_ticket, recent

    def queue_learning(self, ticket: TicketRow, at: datetime) -> None:
        """Remember a resolved ticket for the next learning run."""
        try:
            with self._write(savepoint=True) as conn:
                conn.execute(insert(learning_queue).values(ticket=ticket.pk, queued_at=at))
        except IntegrityError:
            pass  # already queued

    def queued_for_learning(self) -> list[tuple[TicketRow, datetime]]:
        with self._read() as conn:
            rows = conn.execute(select(tickets, learning_queue.c.queued_at)
                                .join(learning_queue, learning_queue.c.ticket == tickets.c.id)
                                .order_by(learning_queue.c.queued_at)).all()
        return [(_ticket(r), r.queued_at) for r in rows]

    def unqueue_learning(self, ticket_pks: list[int]) -> None:
        with self._write() as conn:
            conn.execute(learning_queue.delete().where(learning_queue.c.ticket.in_(ticket_pks)))

    def record_proposals(self, published: Any, batch: list[Any], at: datetime) -> None:
        """Remember what was proposed, in which pull request, for the acceptance rate."""
        with self._write() as conn:
            for p in batch:
                conn.execute(insert(proposals).values(
                    branch=published.branch, backend=published.backend, url=published.url,
                    number=published.number, kind=p.kind, path=p.path, tickets=json.dumps(list(p.tickets)),
                    state="open", created_at=at))

    def list_proposals(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(select(proposals).order_by(proposals.c.id)).all()
        return [{"branch": r.branch, "backend": r.backend, "url": r.url, "number": r.number, "kind": r.kind,
                 "path": r.path, "tickets": json.loads(r.tickets), "state": r.state,
                 "created_at": r.created_at.isoformat()} for r in rows]

    def set_proposal_state(self, branch: str, state: str) -> None:
        with self._write() as conn:
            conn.execute(update(proposals).where(proposals.c.branch == branch).values(state=state))

    def note_bodies(self, ticket: TicketRow) -> list[str]:
        with self._read() as conn:
            return list(conn.execute(select(notes.c.body).where(notes.c.ticket == ticket.pk)).scalars())

    def record_feedback(self, ticket: TicketRow, verdict: str, at: datetime) -> int | None:
        """Mark the ticket's latest note with an analyst's verdict; return its id."""
        with self._write() as conn:
            pk = conn.execute(select(notes.c.id).where(notes.c.ticket == ticket.pk, notes.c.created_at <= at)
                              .order_by(notes.c.id.desc()).limit(1)).scalar()
            if pk is not None:
                conn.execute(update(notes).where(notes.c.id == pk).values(feedback=verdict, feedback_at=at))
        return pk

    def waiting_tickets(self) -> list[TicketRow]:
        """Tickets not yet solved, for the periodic check of who is waiting."""
        with self._read() as conn:
            rows = conn.execute(select(tickets).where(tickets.c.status.in_(("new", "open", "pending")))).all()
        return [_ticket(r) for r in rows]

    def notes_due(self, now: datetime, key: str | None = None) -> list[Any]:
        """Notes to post now: per ticket only the oldest undelivered one, and only if due,
        so a note waiting on a retry holds back the ticket's later notes (order per ticket).
        With a ticket key, only that ticket's."""
        query = (select(notes, tickets.c.source, tickets.c.ticket_id).join(tickets, tickets.c.id == notes.c.ticket)
                 .where(notes.c.status == "drafted").order_by(notes.c.id))
        if key is not None:
            source, _, ticket_id = key.partition(":")
            query = query.where(tickets.c.source == source, tickets.c.ticket_id == ticket_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        first: dict[int, Any] = {}
        for row in rows:
            first.setdefault(row.ticket, row)
        return [r for r in first.values() if r.next_attempt_at <= now]

    def claim_note(self, pk: int, now: datetime, lease_seconds: float = 60.0) -> bool:
        """Take the right to post this note now; False if another poster holds it.

        A conditional update, so it holds across threads and processes; the lease expires,
        so a poster that died mid-post does not strand the note.
        """
        with self._write() as conn:
            return conn.execute(update(notes).where(
                notes.c.id == pk, notes.c.status == "drafted",
                (notes.c.claimed_until.is_(None)) | (notes.c.claimed_until < now),
            ).values(claimed_until=now + timedelta(seconds=lease_seconds))).rowcount == 1

    def hold_back_later_notes(self, pk: int, ticket_pk: int) -> int:
        """Fail a ticket's notes after one that failed, so a retry posts them all in order."""
        with self._write() as conn:
            return conn.execute(update(notes).where(
                notes.c.ticket == ticket_pk, notes.c.id > pk, notes.c.status == "drafted",
            ).values(status="failed", last_error=f"kept back behind note {pk}, which failed")).rowcount

    def mark_note(self, pk: int, **values: Any) -> None:
        values.setdefault("claimed_until", None)
        with self._write() as conn:
            conn.execute(update(notes).where(notes.c.id == pk).values(**values))

    def retry_failed_notes(self, ticket_id: str | None = None) -> int:
        """Put failed notes back in the delivery queue; return how many."""
        query = update(notes).where(notes.c.status == "failed")
        if ticket_id:
            query = query.where(notes.c.ticket.in_(
                select(tickets.c.id).where(tickets.c.ticket_id == ticket_id)))
        with self._write() as conn:
            return conn.execute(query.values(status="drafted", attempts=0,
                                             next_attempt_at=utcnow())).rowcount

    def list_notes(self, ticket_id: str | None = None) -> list[dict[str, Any]]:
        query = (select(notes, tickets.c.source, tickets.c.ticket_id)
                 .join(tickets, tickets.c.id == notes.c.ticket).order_by(notes.c.id))
        if ticket_id:
            query = query.where(tickets.c.ticket_id == ticket_id)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [{"id": r.id, "ticket_id": r.ticket_id, "source": r.source, "action": r.action,
                 "rule": r.rule, "body": r.body, "sources": json.loads(r.sources),
                 "public": False, "status": r.status, "drafter": r.drafter,
                 "attempts": r.attempts, "last_error": r.last_error, "feedback": r.feedback,
                 "created_at": r.created_at.isoformat()} for r in rows]

    def timeline(self, ticket: TicketRow) -> Iterator[dict[str, Any]]:
        """Every decision on a ticket, oldest first, with the note it produced if any."""
        with self._read() as conn:
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

    # -- the operator's view: dashboard and metrics (read-only but for one retry) ------

    def record_webhook(self, source: str, result: str) -> None:
        with self._write() as conn:
            conn.execute(insert(webhook_results).values(at=utcnow(), source=source, result=result))

    def counts(self, table: str, *columns: str) -> dict[tuple, int]:
        """Rows per distinct value of the columns of one of the tables, e.g. notes by status."""
        t = metadata.tables[table]
        cols = [t.c[c] for c in columns]
        with self._read() as conn:
            rows = conn.execute(select(*cols, func.count()).group_by(*cols)).all()
        return {tuple(r[:-1]): r[-1] for r in rows}

    def model_call_stats(self, buckets: tuple[float, ...]) -> list[Any]:
        """Per model and outcome: calls, tokens, total seconds, and calls at or under each bucket."""
        c = model_calls.c
        under = [func.sum(case((c.seconds <= b, 1), else_=0)).label(f"le{i}") for i, b in enumerate(buckets)]
        with self._read() as conn:
            return conn.execute(select(c.model, c.outcome, func.count().label("calls"),
                                       func.sum(c.prompt_tokens).label("prompt_tokens"),
                                       func.sum(c.completion_tokens).label("completion_tokens"),
                                       func.sum(c.seconds).label("seconds"), *under)
                                .group_by(c.model, c.outcome)).all()

    def retry_failed_note(self, pk: int) -> bool:
        """Put one failed note back in the delivery queue; False if it is not failed."""
        with self._write() as conn:
            return conn.execute(update(notes).where(notes.c.id == pk, notes.c.status == "failed")
                                .values(status="drafted", attempts=0, next_attempt_at=utcnow())).rowcount == 1

    def recent_decisions(self, limit: int = 50, silent: str = "show") -> list[Any]:
        """The latest decisions with their ticket; silent: show, hide or only the silent ones."""
        query = (select(decisions.c.id, decisions.c.action, decisions.c.rule, decisions.c.reason,
                        decisions.c.event_kind, decisions.c.created_at, tickets.c.source, tickets.c.ticket_id)
                 .join(tickets, tickets.c.id == decisions.c.ticket).order_by(decisions.c.id.desc()).limit(limit))
        if silent == "hide":
            query = query.where(decisions.c.action != "silent")
        elif silent == "only":
            query = query.where(decisions.c.action == "silent")
        with self._read() as conn:
            return conn.execute(query).all()

    def recent_notes(self, limit: int = 50, status: str | None = None, pk: int | None = None) -> list[Any]:
        """The latest notes with their ticket, optionally only those in one status, or one note."""
        query = (select(notes, tickets.c.source, tickets.c.ticket_id)
                 .join(tickets, tickets.c.id == notes.c.ticket).order_by(notes.c.id.desc()).limit(limit))
        if status:
            query = query.where(notes.c.status == status)
        if pk is not None:
            query = query.where(notes.c.id == pk)
        with self._read() as conn:
            return conn.execute(query).all()

    def feedback_history(self) -> list[tuple[datetime, str]]:
        """(when, useful or wrong) for every note an analyst judged."""
        with self._read() as conn:
            return [tuple(r) for r in conn.execute(select(notes.c.feedback_at, notes.c.feedback)
                                                   .where(notes.c.feedback.is_not(None))).all()]

    def citation_counts(self) -> dict[str, int]:
        """Knowledge entry id -> how many notes cited it."""
        counted: dict[str, int] = {}
        with self._read() as conn:
            for raw in conn.execute(select(notes.c.sources)).scalars():
                for entry in set(json.loads(raw)):
                    counted[entry] = counted.get(entry, 0) + 1
        return counted

    def customer_messages_decided(self, limit: int = 5000) -> list[Any]:
        """The latest decisions taken on a customer's comment, with its text and the facts."""
        m = messages.c
        with self._read() as conn:
            return conn.execute(
                select(decisions.c.id, decisions.c.action, decisions.c.facts, decisions.c.created_at,
                       decisions.c.ticket, decisions.c.message_position, tickets.c.source, tickets.c.ticket_id,
                       m.body)
                .join(tickets, tickets.c.id == decisions.c.ticket)
                .join(messages, (m.ticket == decisions.c.ticket) & (m.position == decisions.c.message_position))
                .where(m.author_role == "customer").order_by(decisions.c.id.desc()).limit(limit)).all()


def _ticket(row: Any) -> TicketRow:
    return TicketRow(row.id, row.source, row.ticket_id, row.subject, row.status,
                     tuple(json.loads(row.tags)), row.assignee)


def backoff_until(now: datetime, attempts: int, base_seconds: float,
                  retry_after: float | None) -> datetime:
    """When to try again: the helpdesk's Retry-After if it gave one, else exponential."""
    delay = retry_after if retry_after is not None else base_seconds * 2 ** (attempts - 1)
    return now + timedelta(seconds=min(delay, 3600))
