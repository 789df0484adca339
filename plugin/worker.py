"""The embedded worker: one thread that processes stored deliveries, then posts due notes.

Everything it does is driven from the database, so a crash loses nothing: on restart the
pending deliveries and undelivered notes are simply still there.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from connectors.base import Connector, DeliveryError
from plugin.model import utcnow
from plugin.pipeline import Pipeline
from plugin.store import Store, backoff_until

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, pipeline: Pipeline, store: Store, connectors: dict[str, Connector],
                 poll_seconds: float = 1.0):
        self.pipeline = pipeline
        self.store = store
        self.connectors = connectors
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pull = threading.Event()  # a merge landed: pull the knowledge, then reindex
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vigil-worker", daemon=True)
        self._thread.start()

    def request_knowledge_pull(self) -> None:
        self._pull.set()
        self._wake.set()

    def sync_knowledge(self) -> None:
        """Pull merged knowledge if the webhook asked for it, then refresh the index."""
        from plugin.learning.sync import pull
        if self._pull.is_set():
            self._pull.clear()
            log.info("knowledge: %s", pull(self.pipeline.settings.knowledge_dir))
            self.pipeline.index.refresh()

    def learn_queued(self, now: datetime) -> None:
        """Learn from the resolved tickets queued so far, when the batch policy says it is time."""
        from plugin.learning.cases import case_from_store
        from plugin.learning.loop import learn, repo_of
        settings = self.pipeline.settings
        queued = self.store.queued_for_learning()
        policy = settings.learn_batch
        due = queued and (policy == "ticket" or (policy.isdigit() and len(queued) >= int(policy))
                          or (policy == "day" and now - queued[0][1] >= timedelta(days=1)))
        if not due:
            return
        cases = [case_from_store(self.store, ticket) for ticket, _ in queued]
        report = learn(cases, settings, repo_of(settings.knowledge_dir), self.store, now)
        self.store.unqueue_learning([ticket.pk for ticket, _ in queued])
        log.info("learned from %d tickets: %d proposals on %s", len(cases), len(report.proposals),
                 ", ".join(p.branch for p in report.published) or "no branch")

    def notify(self) -> None:
        """A delivery was stored: wake up now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the job in hand, then stop."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        settings = self.pipeline.settings
        next_sweep = next_refresh = 0.0
        while not self._stop.is_set():
            try:
                self.sync_knowledge()
                if time.monotonic() >= next_refresh:  # pick up changed knowledge without a restart
                    self.pipeline.index.refresh()
                    next_refresh = time.monotonic() + settings.index_refresh_seconds
                self.drain()
                if time.monotonic() >= next_sweep:
                    self.pipeline.sweep(utcnow())
                    self.learn_queued(utcnow())
                    next_sweep = time.monotonic() + settings.sweep_interval_seconds
            except Exception:  # keep the worker alive; failed deliveries are recorded in drain
                log.exception("worker pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def drain(self, now: datetime | None = None) -> None:
        """Process every pending delivery, then post every note that is due."""
        while not self._stop.is_set():
            batch = self.store.pending_deliveries()
            if not batch:
                break
            for pk, events in batch:
                try:
                    for event in events:
                        self.pipeline.handle(event)
                except Exception as exc:
                    log.exception("delivery %s failed", pk)
                    self.store.finish_delivery(pk, error=f"{type(exc).__name__}: {exc}")
                else:
                    self.store.finish_delivery(pk)
        self.deliver_notes(now)

    def deliver_notes(self, now: datetime | None = None) -> None:
        """Post due notes, oldest first; a ticket whose note is waiting holds back its later ones."""
        settings = self.pipeline.settings
        for note in self.store.notes_due(now or utcnow()):
            if not self.store.claim_note(note.id, utcnow()):
                continue  # another thread or process is posting it right now
            connector = self.connectors.get(note.source)
            attempts = note.attempts + 1
            try:
                if connector is None:
                    raise DeliveryError(f"no {note.source} connector is configured", retryable=False)
                remote_id = connector.post_internal_note(note.ticket_id, note.body)
            except DeliveryError as exc:
                retry = exc.retryable and attempts < settings.delivery_max_attempts
                self.store.mark_note(
                    note.id, attempts=attempts, last_error=str(exc),
                    status="drafted" if retry else "failed",
                    next_attempt_at=backoff_until(utcnow(), attempts, settings.delivery_backoff_seconds,
                                                  exc.retry_after) if retry else None)
                log.warning("note %s on %s %s: %s (%s)", note.id, note.source, note.ticket_id, exc,
                            "will retry" if retry else "failed")
            else:
                self.store.mark_note(note.id, attempts=attempts, status="delivered",
                                     remote_id=str(remote_id), delivered_at=utcnow(),
                                     last_error=None, next_attempt_at=None)
