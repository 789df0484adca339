"""The worker: decides stored deliveries, one ticket at a time, then posts due notes.

Everything it does is driven from the database, so a crash loses nothing: on restart the
pending deliveries and undelivered notes are simply still there. Several workers (threads,
processes, machines) can run at once: a ticket is decided by whoever holds its lease, so
its events stay in order while different tickets go in parallel; the periodic chores
(sweep, learning, writing the index, requeueing) are done by whoever holds "housekeeper".
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Callable, Iterator

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from connectors.base import Connector, DeliveryError
from connectors.events import Event, TicketRef
from plugin.model import utcnow
from plugin.decision.pipeline import Pipeline
from plugin.store import AlreadyHandled, Store, backoff_until, ticket_lease

log = logging.getLogger(__name__)

HOUSEKEEPER = "housekeeper"


def note_ref(note_id: int, body: str) -> str:
    """A reference posted with the note, by which a retry finds it if an earlier try landed."""
    return f"vigil-ref {note_id}-{hashlib.sha1(body.encode()).hexdigest()[:8]}"


class Worker:
    def __init__(self, pipeline: Pipeline, store: Store, connectors: dict[str, Connector],
                 poll_seconds: float = 1.0):
        self.pipeline = pipeline
        self.store = store
        self.connectors = connectors
        self.poll_seconds = poll_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        # With a job queue, tickets arrive as jobs and this thread only keeps house; the
        # housekeeper hands tickets nobody took (Redis was down, a worker died) back to it.
        self.requeue: Callable[[str], None] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pull = threading.Event()  # a merge landed: pull the knowledge, then reindex
        self._thread: threading.Thread | None = None

    # -- one ticket at a time --------------------------------------------------------------

    @contextmanager
    def holding(self, key: str) -> Iterator[bool]:
        """Hold a ticket's lease for the block; yields False if another worker holds it."""
        held = self._take_ticket(key)
        try:
            yield held
        finally:
            if held:
                self.store.inbox.release_lease(ticket_lease(key), self.holder)

    def _take_ticket(self, key: str) -> bool:
        """Take or renew the lease on a ticket; False while another worker holds it."""
        return self.store.inbox.take_lease(ticket_lease(key), self.holder, self.pipeline.settings.lease_seconds)

    def process_ticket(self, key: str) -> None:
        """Decide a ticket's waiting deliveries in order, then post its due notes.

        If another worker holds the ticket, it will see these deliveries in its own loop; the
        check after the release closes the gap where one arrives just as that loop ends.
        """
        renew_every = self.pipeline.settings.lease_seconds / 3  # a long backlog keeps its ticket
        while self.store.inbox.pending_deliveries(key, limit=1):
            with self.holding(key) as held:
                if not held:
                    return
                renewed = time.monotonic()
                while not self._stop.is_set() and (batch := self.store.inbox.pending_deliveries(key)):
                    for pk, done, events in batch:
                        self.run_delivery(pk, done, events)
                        if time.monotonic() - renewed > renew_every:
                            self._take_ticket(key)
                            renewed = time.monotonic()
            if self._stop.is_set():
                return
        self.deliver_notes(key=key)

    def run_delivery(self, pk: int, done: int, events: list[Event]) -> None:
        """Handle a delivery's events from where an earlier attempt stopped, each exactly once.

        A delivery whose next event failed, or was never finished, decide_max_attempts times in
        a row is set aside as failed rather than tried again (a poison message).
        """
        max_attempts = self.pipeline.settings.decide_max_attempts
        for number in range(done + 1, len(events) + 1):
            if not self.store.inbox.begin_attempt(pk, max_attempts):
                return
            try:
                self.pipeline.handle(events[number - 1],
                                     also=lambda n=number: self.store.inbox.advance_delivery(pk, n, len(events)))
            except AlreadyHandled:
                return
            except (OperationalError, InterfaceError):
                raise  # the database is away: the delivery stays pending for a later pass
            except Exception as exc:  # tried again, then kept as failed with its error; the worker goes on
                log.exception("delivery %s failed", pk)
                self.store.inbox.attempt_failed(pk, f"{type(exc).__name__}: {exc}", max_attempts)
                return

    def drain(self, now: datetime | None = None) -> None:
        """Process every waiting ticket's deliveries, then post every note that is due."""
        for key in self.store.inbox.pending_tickets():
            if self._stop.is_set():
                return
            self.process_ticket(key)
        self.deliver_notes(now)

    # -- posting notes -----------------------------------------------------------------------

    def deliver_notes(self, now: datetime | None = None, key: str | None = None) -> None:
        """Post due notes, oldest first; a ticket whose note is waiting holds back its later ones."""
        settings = self.pipeline.settings
        for note in self.store.notes.notes_due(now or utcnow(), TicketRef.parse(key) if key else None):
            if self._stop.is_set():
                return
            # Set on a note not being posted: an earlier try may have landed (the poster died,
            # or the helpdesk did not answer). Then look for it before posting it again.
            unsure = note.claimed_until is not None
            if not self.store.notes.claim_note(note.id, utcnow(), settings.lease_seconds):
                continue  # another thread or process is posting it right now
            connector = self.connectors.get(note.source)
            attempts = note.attempts + 1
            ref = note_ref(note.id, note.body)
            try:
                if connector is None:
                    raise DeliveryError(f"no {note.source} connector is configured", retryable=False)
                remote_id = connector.find_note(note.ticket_id, ref) if unsure else None
                if remote_id is None:
                    remote_id = connector.post_internal_note(note.ticket_id, f"{note.body}\n\n{ref}")
                else:
                    log.info("note %s was on %s %s already (%s): not posted again", note.id, note.source,
                             note.ticket_id, remote_id)
            except DeliveryError as exc:
                retry = exc.retryable and attempts < settings.delivery_max_attempts
                self.store.notes.mark_note(
                    note.id, attempts=attempts, last_error=str(exc),
                    status="drafted" if retry else "failed",
                    claimed_until=utcnow() if exc.unsure or unsure else None,
                    next_attempt_at=backoff_until(utcnow(), attempts, settings.delivery_backoff_seconds,
                                                  exc.retry_after) if retry else None)
                log.warning("note %s on %s %s: %s (%s)", note.id, note.source, note.ticket_id, exc,
                            "will retry" if retry else "failed")
                if exc.retryable and not retry:  # an outage outlasted the tries: keep the order
                    held = self.store.notes.hold_back_later_notes(note.id, note.ticket)
                    if held:
                        log.warning("%d later note(s) on %s %s kept back behind it", held, note.source,
                                    note.ticket_id)
            else:
                self.store.notes.mark_note(note.id, attempts=attempts, status="delivered",
                                     remote_id=str(remote_id), delivered_at=utcnow(),
                                     last_error=None, next_attempt_at=None)

    # -- housekeeping: one process at a time ------------------------------------------------

    def sweep(self, now: datetime) -> None:
        """Offer every waiting ticket to the rules (stalled-ticket nudges), each under its lease."""
        for ticket in self.store.tickets.waiting_tickets():
            with self.holding(f"{ticket.source}:{ticket.ticket_id}") as held:
                if held:
                    self.pipeline.sweep_ticket(ticket, now)

    def learn_queued(self, now: datetime) -> None:
        """Learn from the resolved tickets queued so far, when the batch policy says it is time."""
        from plugin.learning.cases import case_from_store
        from plugin.learning.loop import learn, repo_of
        settings = self.pipeline.settings
        queued = self.store.learning.queued_for_learning()
        policy = settings.learn_batch
        due = queued and (policy == "ticket" or (policy.isdigit() and len(queued) >= int(policy))
                          or (policy == "day" and now - queued[0][1] >= timedelta(days=1)))
        if not due:
            return
        cases = [case_from_store(self.store, ticket) for ticket, _ in queued]
        report = learn(cases, settings, repo_of(settings.knowledge_dir), self.store, now)
        self.store.learning.unqueue_learning([ticket.pk for ticket, _ in queued])
        log.info("learned from %d tickets: %d proposals on %s", len(cases), len(report.proposals),
                 ", ".join(p.branch for p in report.published) or "no branch")

    def requeue_stale(self, now: datetime) -> None:
        """Queue again the tickets whose deliveries wait with nobody holding them."""
        stale = now - timedelta(seconds=self.pipeline.settings.lease_seconds / 4)
        for key in self.store.inbox.pending_tickets(received_before=stale, unheld_at=now):
            self.requeue(key)

    def request_knowledge_pull(self) -> None:
        self._pull.set()
        self._wake.set()

    def sync_knowledge(self, write: bool = True) -> None:
        """Pull merged knowledge if the webhook asked for it, then refresh the index."""
        from plugin.learning.sync import pull
        if self._pull.is_set():
            self._pull.clear()
            log.info("knowledge: %s", pull(self.pipeline.settings.knowledge_dir))
            self.pipeline.index.refresh(write=write)

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vigil-worker", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """A delivery was stored: wake up now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the job in hand, then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        try:  # let another process keep house now rather than when the lease runs out
            self.store.inbox.release_lease(HOUSEKEEPER, self.holder)
        except SQLAlchemyError:
            log.warning("could not release the housekeeper lease; it runs out by itself")

    def _run(self) -> None:
        settings = self.pipeline.settings
        next_sweep = next_refresh = next_requeue = next_keep = 0.0
        keeper = False
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_keep:  # renewed well before it runs out, not every pass
                    keeper = self.store.inbox.take_lease(HOUSEKEEPER, self.holder, settings.lease_seconds)
                    next_keep = time.monotonic() + settings.lease_seconds / 3
                self.sync_knowledge(write=keeper)
                if time.monotonic() >= next_refresh:  # pick up changed knowledge without a restart
                    self.pipeline.index.refresh(write=keeper)  # one writer; the others reread
                    next_refresh = time.monotonic() + settings.index_refresh_seconds
                if self.requeue is None:
                    self.drain()
                else:
                    self.deliver_notes()  # retries that came due; new notes go with their ticket's job
                    if keeper and time.monotonic() >= next_requeue:
                        self.requeue_stale(utcnow())
                        next_requeue = time.monotonic() + settings.lease_seconds / 4
                if keeper and time.monotonic() >= next_sweep:
                    self.sweep(utcnow())
                    self.learn_queued(utcnow())
                    next_sweep = time.monotonic() + settings.sweep_interval_seconds
            except Exception:  # keep the worker alive; failed deliveries are recorded in drain
                log.exception("worker pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
