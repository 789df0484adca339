"""Deciding stored deliveries, one ticket at a time, each ticket's events in order.

Everything is driven from the database, so a crash loses nothing: on restart the pending
deliveries are simply still there. Several processors (threads, processes, machines) can
run at once: a ticket is decided by whoever holds its lease, so its events stay in order
while different tickets go in parallel. A processor that cannot renew its lease (it ran
out while the processor was busy, and another took the ticket) stops work on that ticket.
"""

from __future__ import annotations

from functools import partial

import logging
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator

from sqlalchemy.exc import InterfaceError, OperationalError

from connectors.events import Event, TicketRef
from plugin.decision.pipeline import Pipeline
from plugin.store import AlreadyHandled, Store, ticket_lease
from plugin.work.poster import NotePoster

log = logging.getLogger(__name__)


class TicketProcessor:
    def __init__(self, store: Store, pipeline: Pipeline, poster: NotePoster, *, holder: str,
                 lease_seconds: float, max_attempts: int, stopping: threading.Event | None = None):
        self.store = store
        self.pipeline = pipeline
        self.poster = poster
        self.holder = holder  # who holds the ticket leases: host, process, runtime
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts  # tries at a delivery's next event before it is set aside
        self.stopping = stopping or threading.Event()

    @contextmanager
    def holding(self, key: str) -> Iterator[bool]:
        """Hold a ticket's lease for the block; yields False if another worker holds it."""
        held = self._take(key)
        try:
            yield held
        finally:
            if held:
                self.store.inbox.release_lease(ticket_lease(key), self.holder)

    def _take(self, key: str) -> bool:
        """Take or renew the lease on a ticket; False while another worker holds it."""
        return self.store.inbox.take_lease(ticket_lease(key), self.holder, self.lease_seconds)

    def process_ticket(self, key: str) -> None:
        """Decide a ticket's waiting deliveries in order, then post its due notes.

        If another worker holds the ticket, it will see these deliveries in its own loop; the
        check after the release closes the gap where one arrives just as that loop ends.
        """
        while self.store.inbox.pending_deliveries(key, limit=1):
            with self.holding(key) as held:
                if not held or not self._decide_held(key):
                    return
            if self.stopping.is_set():
                return
        self.poster.deliver_notes(ticket=TicketRef.parse(key))

    def _decide_held(self, key: str) -> bool:
        """Decide the ticket's deliveries while the lease is ours; False once it is lost."""
        renew_every = self.lease_seconds / 3  # a long backlog keeps its ticket
        renewed = time.monotonic()
        while not self.stopping.is_set() and (batch := self.store.inbox.pending_deliveries(key)):
            for pk, done, events in batch:
                if time.monotonic() - renewed > renew_every:
                    if not self._take(key):  # it ran out and another worker took the ticket
                        log.warning("lost the lease on %s; leaving its deliveries to the holder", key)
                        return False
                    renewed = time.monotonic()
                self.run_delivery(pk, done, events)
        return True

    def run_delivery(self, pk: int, done: int, events: list[Event]) -> None:
        """Handle a delivery's events from where an earlier attempt stopped, each exactly once.

        A delivery whose next event failed, or was never finished, max_attempts times in a row
        is set aside as failed rather than tried again (a poison message).
        """
        for number in range(done + 1, len(events) + 1):
            if not self.store.inbox.begin_attempt(pk, self.max_attempts):
                return
            try:
                self.pipeline.handle(events[number - 1],
                                     also=partial(self.store.inbox.advance_delivery, pk, number, len(events)))
            except AlreadyHandled:
                return
            except (OperationalError, InterfaceError):
                raise  # the database is away: the delivery stays pending for a later pass
            except Exception as exc:  # tried again, then kept as failed with its error; the worker goes on
                log.exception("delivery %s failed", pk)
                self.store.inbox.attempt_failed(pk, f"{type(exc).__name__}: {exc}", self.max_attempts)
                return

    def drain(self, now: datetime | None = None) -> None:
        """Process every waiting ticket's deliveries, then post every note that is due."""
        for key in self.store.inbox.pending_tickets():
            if self.stopping.is_set():
                return
            self.process_ticket(key)
        self.poster.deliver_notes(now)
