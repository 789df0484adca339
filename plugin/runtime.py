"""Wire the parts together from Settings. Nothing is built at import time.

Two shapes: `Web`, what a web process needs (the store, the connectors, a dispatcher to
tell the deciding side, a poster for the dashboard's retry button), and `Runtime`, which
adds the deciding side (index, rules, pipeline, processor, housekeeper and their loop):
`vigil worker`, `vigil serve`'s decider process, the CLI's commands and the tests.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from dataclasses import dataclass, field

import connectors as connector_registry
from connectors.base import Connector
from plugin.decision.engine import RuleEngine
from plugin.decision.pipeline import Pipeline
from plugin.decision.rulebook import Rule, load_rules
from plugin.knowledge.embeddings import Embedder, EntryVectors
from plugin.knowledge.retrieval import KnowledgeIndex
from plugin.model import utcnow
from plugin.settings import Settings
from plugin.store import Store
from plugin.work.dispatch import Dispatcher, Wake
from plugin.work.housekeeper import Housekeeper
from plugin.work.loop import WorkLoop
from plugin.work.poster import NotePoster
from plugin.work.processor import TicketProcessor


@dataclass
class Web:
    settings: Settings
    store: Store
    connectors: dict[str, Connector]
    refused: dict[str, str]  # connector name -> why it is off
    dispatcher: Dispatcher  # who is told that a ticket waits: a queue, a decider process, our loop
    poster: NotePoster
    closed: bool = field(default=False, init=False)

    def announce(self, ticket_key: str) -> None:
        """A delivery was stored: tell whoever decides it."""
        self.dispatcher.ticket_waiting(ticket_key)

    def announce_merge(self) -> None:
        """Knowledge was merged: recorded, so that every worker pulls it, wherever it runs."""
        self.store.learning.record_knowledge_merge(utcnow())
        self.dispatcher.knowledge_merged()

    def close(self) -> None:
        """Release what was built (safe to call twice)."""
        if not self.closed:
            self.closed = True
            self._release()

    def _release(self) -> None:
        self.store.db.engine.dispose()


@dataclass
class Runtime(Web):
    index: KnowledgeIndex = field(kw_only=True)
    engine: RuleEngine = field(kw_only=True)
    pipeline: Pipeline = field(kw_only=True)
    processor: TicketProcessor = field(kw_only=True)
    housekeeper: Housekeeper = field(kw_only=True)
    loop: WorkLoop = field(kw_only=True)

    def _release(self) -> None:
        self.loop.stop()  # after the event in hand
        if self.index.vectors:
            self.index.vectors.stop()
        self.index.close()
        self.engine.close()
        super()._release()


def _poster(settings: Settings, store: Store, enabled: dict[str, Connector],
            stopping: threading.Event | None = None) -> NotePoster:
    return NotePoster(store, enabled, lease_seconds=settings.lease_seconds, stopping=stopping,
                      max_attempts=settings.delivery_max_attempts, backoff_seconds=settings.delivery_backoff_seconds)


def build_web(settings: Settings, dispatcher: Dispatcher) -> Web:
    """A web process: no index and no rules, which only the deciding side reads."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    enabled, refused = connector_registry.build(settings)
    return Web(settings, store, enabled, refused, dispatcher, _poster(settings, store, enabled))


def build_runtime(settings: Settings, with_connectors: bool = True,
                  rules: list[Rule] | None = None, embed_entries: bool | None = None,
                  durable_commits: bool = True) -> Runtime:
    """Open the store and index, load the rules, create the connectors and the deciding side.

    With a Redis URL, tickets come as jobs (`plugin.work.queue.run_worker`) and the loop only
    keeps house, handing back to the queue the tickets nobody took; without one, the loop
    decides every waiting ticket itself, woken by `Wake`.

    With an embeddings endpoint, entries' missing vectors are computed in a background thread
    when `embed_entries` (default: when the connectors run, as in `vigil serve` and `vigil
    worker`); otherwise, as in replay and evaluation, the cached vectors are used as they are.

    `durable_commits=False`: the decider beside `vigil serve` (see plugin.store.database.Database).
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url, durable=durable_commits)
    vectors = EntryVectors(Embedder(settings), store) if settings.embeddings_on else None
    index = KnowledgeIndex(settings.knowledge_dir, settings.index_dir, vectors)
    index.refresh()
    if vectors and (with_connectors if embed_entries is None else embed_entries):
        vectors.start()
    engine = RuleEngine(load_rules(settings.rules_dir) if rules is None else rules)
    pipeline = Pipeline(settings, store, engine, index)
    enabled, refused = connector_registry.build(settings) if with_connectors else ({}, {})
    queue = None
    if settings.redis_url:
        from plugin.work.queue import TicketQueue  # only the scale-out mode needs Redis
        queue = TicketQueue(settings.redis_url)
    wake, stopping = Wake(), threading.Event()
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"  # whose lease it is
    poster = _poster(settings, store, enabled, stopping)
    processor = TicketProcessor(store, pipeline, poster, holder=holder, lease_seconds=settings.lease_seconds,
                                max_attempts=settings.decide_max_attempts, stopping=stopping)
    housekeeper = Housekeeper(store, pipeline, index, settings, holder=holder, requeue=queue)
    loop = WorkLoop(housekeeper, poster, None if queue else processor, wake, stopping)
    return Runtime(settings, store, enabled, refused, queue or wake, poster, index=index, engine=engine,
                   pipeline=pipeline, processor=processor, housekeeper=housekeeper, loop=loop)
