"""The deciding side's loop: keep house, then decide what waits or post what is due, then sleep.

The same loop runs in `vigil serve`'s decider process, in a `vigil worker` process beside
its job runner, and in a thread when an app is built on its own (tests). With a job queue
the tickets arrive as jobs, so the loop only keeps house and posts notes whose retries came
due; without one it decides every waiting ticket itself (`processor`).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from plugin.model import utcnow
from plugin.work.dispatch import Wake
from plugin.work.housekeeper import Housekeeper
from plugin.work.poster import NotePoster
from plugin.work.processor import TicketProcessor

log = logging.getLogger(__name__)


class WorkLoop:
    def __init__(self, housekeeper: Housekeeper, poster: NotePoster, processor: TicketProcessor | None,
                 wake: Wake, stopping: threading.Event, poll_seconds: float = 1.0):
        self.housekeeper = housekeeper
        self.poster = poster
        self.processor = processor  # None: tickets come as jobs from a queue
        self.wake = wake
        self.stopping = stopping  # shared with the processor and poster: they stop mid-backlog too
        self.poll_seconds = poll_seconds
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        self.housekeeper.keep(utcnow())
        if self.processor is not None:
            self.processor.drain()
        else:
            self.poster.deliver_notes()  # retries that came due; new notes go with their ticket's job

    def run(self) -> None:
        """Pass after pass until stopped; a failed pass is logged, and the next one tries again."""
        while not self.stopping.is_set():
            try:
                self.run_once()
            except Exception:  # the database is away, say: what waits stays in it for the next pass
                log.exception("worker pass failed")
            self.wake.wait(self.poll_seconds)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="vigil-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the event in hand, then stop; hand the housekeeping on."""
        self.stopping.set()
        self.wake.ticket_waiting("")
        if self._thread:
            self._thread.join(timeout)
        try:
            self.housekeeper.release()
        except SQLAlchemyError:
            log.warning("could not release the housekeeper lease; it runs out by itself")
