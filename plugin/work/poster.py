"""Posting due notes to the helpdesk: retries, backoff, failures kept, order kept per ticket.

A note is claimed for the length of a lease before it is posted, so two posters (threads,
processes) never post it both; a claim left by a poster that died means an earlier try may
have landed, so the next poster looks for the note on the ticket before posting it again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import datetime

from connectors.base import Connector, DeliveryError
from connectors.events import TicketRef
from plugin.model import utcnow
from plugin.store import Store, backoff_until

log = logging.getLogger(__name__)


def note_ref(note_id: int, body: str) -> str:
    """A reference posted with the note, by which a retry finds it if an earlier try landed."""
    return f"vigil-ref {note_id}-{hashlib.sha1(body.encode()).hexdigest()[:8]}"


class NotePoster:
    def __init__(self, store: Store, connectors: dict[str, Connector], *, lease_seconds: float,
                 max_attempts: int, backoff_seconds: float, stopping: threading.Event | None = None):
        self.store = store
        self.connectors = connectors
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.stopping = stopping or threading.Event()

    def deliver_notes(self, now: datetime | None = None, ticket: TicketRef | None = None) -> None:
        """Post due notes (of one ticket, or all), oldest first; a ticket whose note is waiting
        holds back its later ones."""
        for note in self.store.notes.notes_due(now or utcnow(), ticket):
            if self.stopping.is_set():
                return
            # Set on a note not being posted: an earlier try may have landed (the poster died,
            # or the helpdesk did not answer). Then look for it before posting it again.
            unsure = note.claimed_until is not None
            if not self.store.notes.claim_note(note.id, utcnow(), self.lease_seconds):
                continue  # another thread or process is posting it right now
            self._post(note, unsure)

    def _post(self, note, unsure: bool) -> None:
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
            retry = exc.retryable and attempts < self.max_attempts
            self.store.notes.mark_note(
                note.id, attempts=attempts, last_error=str(exc),
                status="drafted" if retry else "failed",
                claimed_until=utcnow() if exc.unsure or unsure else None,
                next_attempt_at=backoff_until(utcnow(), attempts, self.backoff_seconds,
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
