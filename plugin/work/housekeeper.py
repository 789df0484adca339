"""The periodic chores: one process at a time keeps house, every process keeps its index.

Whoever holds the "housekeeper" lease sweeps the waiting tickets (the rules' time-based
trigger), learns from resolved ones, writes the shared index, and hands back to the queue
the tickets whose deliveries wait with nobody holding them. Every process, keeper or not,
pulls a merge of the knowledge repository recorded in the database, on its own machine,
and rereads its index, so a merge reaches every worker without a restart.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from plugin.decision.pipeline import Outcome, Pipeline
from plugin.knowledge.retrieval import KnowledgeIndex
from plugin.learning import sync
from plugin.settings import Settings
from plugin.store import Store, ticket_lease
from plugin.work.dispatch import Dispatcher

log = logging.getLogger(__name__)

HOUSEKEEPER = "housekeeper"


class Housekeeper:
    def __init__(self, store: Store, pipeline: Pipeline, index: KnowledgeIndex, settings: Settings, *,
                 holder: str, requeue: Dispatcher | None = None):
        self.store = store
        self.pipeline = pipeline
        self.index = index
        self.settings = settings  # lease, sweep and refresh periods; learning's own settings
        self.holder = holder
        self.requeue = requeue  # with a job queue: where tickets nobody took go again
        self.keeper = False
        self.merge_seen = store.learning.last_knowledge_merge()  # the index is built from the files as they are
        self._next = {"lease": 0.0, "refresh": 0.0, "requeue": 0.0, "sweep": 0.0}

    def keep(self, now: datetime) -> None:
        """One pass: whichever chores are due."""
        if self._due("lease", self.settings.lease_seconds / 3):  # renewed well before it runs out
            self.keeper = self.store.inbox.take_lease(HOUSEKEEPER, self.holder, self.settings.lease_seconds)
        self.pull_merges()
        if self._due("refresh", self.settings.index_refresh_seconds):  # changed files, no restart
            self.index.refresh(write=self.keeper)  # one writer; the others reread
        if not self.keeper:
            return
        if self.requeue is not None and self._due("requeue", self.settings.lease_seconds / 4):
            self.requeue_stale(now)
        if self._due("sweep", self.settings.sweep_interval_seconds):
            self.sweep(now)
            self.learn_queued(now)

    def _due(self, chore: str, every: float) -> bool:
        if time.monotonic() < self._next[chore]:
            return False
        self._next[chore] = time.monotonic() + every
        return True

    def pull_merges(self) -> None:
        """Pull a merge recorded since the last pass into this machine's checkout, then reindex.

        Every process writes here: on another machine no keeper writes its index. The index's
        own lock keeps writers apart; a failed pull (another process pulling the same
        checkout) is tried again at the next pass.
        """
        latest = self.store.learning.last_knowledge_merge()
        if latest <= self.merge_seen:
            return
        try:
            log.info("knowledge: %s", sync.pull(self.settings.knowledge_dir))
        except RuntimeError as exc:
            log.warning("knowledge merge not pulled yet: %s", exc)
            return
        self.index.refresh(write=True)
        self.merge_seen = latest

    def sweep(self, now: datetime) -> list[Outcome]:
        """Offer every waiting ticket to the rules (stalled-ticket nudges), each under its lease;
        return what was done (silence is not stored)."""
        done: list[Outcome] = []
        for ticket in self.store.tickets.waiting_tickets():
            lease = ticket_lease(ticket.ref.key)
            if not self.store.inbox.take_lease(lease, self.holder, self.settings.lease_seconds):
                continue  # a worker is deciding it right now; the next sweep offers it again
            try:
                done += self.pipeline.sweep_ticket(ticket, now)
            finally:
                self.store.inbox.release_lease(lease, self.holder)
        return done

    def learn_queued(self, now: datetime) -> None:
        """Learn from the resolved tickets queued so far, when the batch policy says it is time."""
        from plugin.learning.cases import case_from_store
        from plugin.learning.loop import learn, repo_of
        queued = self.store.learning.queued_for_learning()
        policy = self.settings.learn_batch
        due = queued and (policy == "ticket" or (policy.isdigit() and len(queued) >= int(policy))
                          or (policy == "day" and now - queued[0][1] >= timedelta(days=1)))
        if not due:
            return
        cases = [case_from_store(self.store, ticket) for ticket, _ in queued]
        # learn() takes each published batch's tickets off the queue as it goes; the rest
        # (nothing learned from them) come off once every batch is published.
        report = learn(cases, self.settings, repo_of(self.settings.knowledge_dir), self.store, now)
        self.store.learning.unqueue_learning([ticket.pk for ticket, _ in queued if ticket.pk is not None])
        log.info("learned from %d tickets: %d proposals on %s", len(cases), len(report.proposals),
                 ", ".join(p.branch for p in report.published) or "no branch")

    def requeue_stale(self, now: datetime) -> None:
        """Queue again the tickets whose deliveries wait with nobody holding them."""
        assert self.requeue is not None
        stale = now - timedelta(seconds=self.settings.lease_seconds / 4)
        for key in self.store.inbox.pending_tickets(received_before=stale, unheld_at=now):
            self.requeue.ticket_waiting(key)

    def release(self) -> None:
        """Let another process keep house now rather than when the lease runs out."""
        self.store.inbox.release_lease(HOUSEKEEPER, self.holder)
        self.keeper = False
