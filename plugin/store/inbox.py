"""The inbox of deliveries, and the leases that let one worker at a time hold a ticket."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from connectors.events import Delivery, Event, TicketRef

from plugin.model import utcnow
from plugin.store.database import Database
from plugin.store.tables import UTC, deliveries, leases


class AlreadyHandled(RuntimeError):
    """Another worker handled this event first; the unit that raised it rolls back."""


TICKET_LEASE = "ticket:"  # + a ticket key: the lease a worker holds while deciding that ticket


def ticket_lease(key: str) -> str:
    return TICKET_LEASE + key


def ticket_key(delivery: Delivery) -> str:
    """The ticket a delivery is about, as its TicketRef key (its first event's ticket, else
    the ticket of the comment it left unread)."""
    first = delivery.events[0].ticket_id if delivery.events else \
        delivery.unread.ticket_id if delivery.unread else ""
    return TicketRef(delivery.source, first).key


# A comment left unread is paired with a delivery for its ticket this close in time: Jira
# sends a comment's thin body and its full twin together, in either order.
TWIN_SECONDS = 300


# Built once: this runs for every webhook with events, on the acknowledgement's path.
_c = deliveries.c
_NEAR = (_c.source == bindparam("b_source")) & (_c.received_at >= bindparam("since", type_=UTC))
_READ_BY_TWIN = update(deliveries).where(
    _NEAR, _c.state == "unread", or_(_c.ticket_key == bindparam("key"), _c.ticket_key == bindparam("unknown"))
).values(state="done", error=None)
_ANY_CAME = select(_c.id).where(_NEAR, _c.state != "unread").limit(1)
_TWIN_CAME = _ANY_CAME.where(_c.ticket_key == bindparam("key"))
_READ_AT_ONCE = update(deliveries).where(_c.source == bindparam("b_source"),
                                         _c.delivery_id == bindparam("b_delivery_id")).values(state="done", error=None)


class InboxQueries:
    """Deliveries in, events handed out one ticket at a time, exactly once."""

    def __init__(self, db: Database):
        self.db = db

    def accept(self, delivery: Delivery, body: bytes | None = None) -> bool:
        """Store a delivery durably; return False if it was already stored: a retry (the same
        delivery id) or a replay (the same signed body under another id)."""
        key, now = ticket_key(delivery), utcnow()
        row = {"source": delivery.source, "delivery_id": delivery.delivery_id,
               "content_key": "sha256:" + hashlib.sha256(body).hexdigest() if body is not None else None,
               "received_at": now, "ticket_key": key, "progress": 0,
               "state": "pending" if delivery.events else "unread" if delivery.unread else "done",
               "error": delivery.unread.why if delivery.unread and not delivery.events else None,
               "events": json.dumps([e.to_dict() for e in delivery.events])}
        try:
            with self.db.write(savepoint=True) as conn:
                conn.execute(insert(deliveries).values(**row))
                if delivery.events or delivery.unread:
                    self._pair_unread(conn, delivery, key, now)
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _pair_unread(conn, delivery: Delivery, key: str, at: datetime) -> None:
        """A comment left unread and a delivery for its ticket near in time are a thin body and
        its full twin (either may come first): the comment was read, so the unread one is done.
        Where the thin body named no ticket, any delivery from the same helpdesk pairs it."""
        values = {"b_source": delivery.source, "key": key, "unknown": TicketRef(delivery.source, "").key,
                  "since": at - timedelta(seconds=TWIN_SECONDS), "b_delivery_id": delivery.delivery_id}
        if delivery.events:
            conn.execute(_READ_BY_TWIN, values)
        elif conn.execute(_TWIN_CAME if key != values["unknown"] else _ANY_CAME, values).first():
            conn.execute(_READ_AT_ONCE, values)

    def pending_tickets(self, received_before: datetime | None = None,
                        unheld_at: datetime | None = None) -> list[str]:
        """The tickets with deliveries waiting, oldest first; optionally only those waiting
        since a moment, and only those no worker holds a lease on."""
        query = select(deliveries.c.ticket_key).where(deliveries.c.state == "pending")
        if received_before is not None:
            query = query.where(deliveries.c.received_at < received_before)
        if unheld_at is not None:
            query = query.where(~select(leases.c.name).where(
                leases.c.name == TICKET_LEASE + deliveries.c.ticket_key, leases.c.expires_at >= unheld_at).exists())
        with self.db.read() as conn:
            rows = conn.execute(query.group_by(deliveries.c.ticket_key)
                                .order_by(func.min(deliveries.c.id))).scalars()
            return list(rows)

    def pending_deliveries(self, key: str | None = None, limit: int = 100) -> list[tuple[int, int, list[Event]]]:
        """(id, events handled already, events) of waiting deliveries, oldest first."""
        query = select(deliveries.c.id, deliveries.c.progress, deliveries.c.events).where(
            deliveries.c.state == "pending")
        if key is not None:
            query = query.where(deliveries.c.ticket_key == key)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(deliveries.c.id).limit(limit)).all()
        return [(pk, done, [Event.from_dict(e) for e in json.loads(raw)]) for pk, done, raw in rows]

    def advance_delivery(self, pk: int, done: int, total: int) -> None:
        """Record that event number `done` of a delivery is handled (inside that event's unit).

        Conditional on the progress before it, so if two workers ever handle the same event,
        the second one's unit fails here and rolls back: each event takes effect exactly once.
        """
        with self.db.write() as conn:
            changed = conn.execute(update(deliveries).where(
                deliveries.c.id == pk, deliveries.c.progress == done - 1, deliveries.c.state == "pending",
            ).values(progress=done, state="done" if done == total else "pending", attempts=0)).rowcount
        if changed != 1:
            raise AlreadyHandled(f"delivery {pk} event {done} was handled by another worker")

    def begin_attempt(self, pk: int, max_attempts: int) -> bool:
        """Count a try at a delivery's next event before it starts; False when earlier tries
        used up the attempts, and it is set aside as failed instead of tried again.

        The count is written first, so a try that kills or hangs the process still counts:
        a restarted worker does not freeze on the same delivery forever.
        """
        # Each statement writes before anything is read: on SQLite a transaction that reads
        # and then writes fails at once ("database is locked") when another writer came in
        # between, while one that writes first waits its turn (busy_timeout).
        pending = (deliveries.c.id == pk) & (deliveries.c.state == "pending")
        with self.db.write() as conn:
            if conn.execute(update(deliveries).where(pending, deliveries.c.attempts < max_attempts)
                            .values(attempts=deliveries.c.attempts + 1)).rowcount:
                return True
            conn.execute(update(deliveries).where(pending).values(  # no-op if done meanwhile
                state="failed", error=(f"set aside after {max_attempts} tries that failed or never "
                                       "finished (the process died or hung deciding it)")))
        return False

    def attempt_failed(self, pk: int, error: str, max_attempts: int) -> bool:
        """Record a try that raised; True when that was the last one and the delivery is failed."""
        with self.db.write() as conn:  # write first, as in begin_attempt
            conn.execute(update(deliveries).where(deliveries.c.id == pk).values(error=error))
            last = bool(conn.execute(update(deliveries).where(
                deliveries.c.id == pk, deliveries.c.attempts >= max_attempts).values(state="failed")).rowcount)
        return last

    def failed_deliveries(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(deliveries).where(deliveries.c.state == "failed")
                                .order_by(deliveries.c.id)).all()
        return [{"id": r.id, "source": r.source, "delivery_id": r.delivery_id, "ticket": r.ticket_key,
                 "received_at": r.received_at.isoformat(), "events": len(json.loads(r.events)),
                 "handled": r.progress, "tries": r.attempts, "error": r.error} for r in rows]

    def unread_deliveries(self) -> list[dict[str, Any]]:
        """Deliveries whose comment was left unread and that no delivery for the same ticket
        came near in time (accept pairs them): comments never read, e.g. from a webhook
        subscribed to comment events alone."""
        with self.db.read() as conn:
            rows = conn.execute(select(deliveries).where(deliveries.c.state == "unread")
                                .order_by(deliveries.c.id)).all()
        return [{"id": r.id, "source": r.source, "delivery_id": r.delivery_id, "ticket": r.ticket_key,
                 "received_at": r.received_at.isoformat(), "error": r.error} for r in rows]

    def retry_failed_deliveries(self, pk: int | None = None) -> int:
        """Put failed deliveries back in the inbox, to go on from the event that failed."""
        query = update(deliveries).where(deliveries.c.state == "failed")
        if pk is not None:
            query = query.where(deliveries.c.id == pk)
        with self.db.write() as conn:
            return conn.execute(query.values(state="pending", error=None, attempts=0)).rowcount

    def take_lease(self, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
        """Take (or renew) a lease; False while another holder's has not expired."""
        now = now or utcnow()
        until = now + timedelta(seconds=seconds)
        with self.db.write() as conn:
            taken = conn.execute(update(leases).where(
                leases.c.name == name, (leases.c.holder == holder) | (leases.c.expires_at < now),
            ).values(holder=holder, expires_at=until)).rowcount
        if taken:
            return True
        try:
            with self.db.write(savepoint=True) as conn:
                conn.execute(insert(leases).values(name=name, holder=holder, expires_at=until))
        except IntegrityError:
            return False  # held by someone else
        return True

    def release_lease(self, name: str, holder: str) -> None:
        with self.db.write() as conn:
            conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))
