"""Wire the parts together from Settings. Nothing is built at import time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import connectors as connector_registry
from connectors.base import Connector
from plugin.decision.engine import RuleEngine
from plugin.decision.pipeline import Pipeline
from plugin.knowledge.embeddings import Embedder, EntryVectors
from plugin.knowledge.retrieval import KnowledgeIndex
from plugin.decision.rulebook import Rule, load_rules
from plugin.settings import Settings
from plugin.store import Store
from plugin.work.worker import Worker

if TYPE_CHECKING:
    from plugin.work.queue import TicketQueue


@dataclass
class Runtime:
    settings: Settings
    store: Store
    index: KnowledgeIndex
    engine: RuleEngine
    pipeline: Pipeline
    connectors: dict[str, Connector]
    refused: dict[str, str]  # connector name -> why it is off
    worker: Worker
    queue: "TicketQueue | None" = None  # scale-out: tickets go to `vigil worker` processes

    closed: bool = False

    def announce(self, ticket_key: str) -> None:
        """A delivery was stored: tell whoever decides it (a queue's workers, or our thread)."""
        if self.queue is not None:
            self.queue.push(ticket_key)
        else:
            self.worker.notify()

    def announce_merge(self) -> None:
        """Knowledge was merged: pull it and reindex (in a worker process, or our thread)."""
        if self.queue is not None:
            self.queue.pull_knowledge()
        else:
            self.worker.request_knowledge_pull()

    def close(self) -> None:
        """Stop the worker and release the index, rules and database (safe to call twice)."""
        if self.closed:
            return
        self.closed = True
        self.worker.stop()
        if self.index.vectors:
            self.index.vectors.stop()
        self.index.close()
        self.engine.close()
        self.store.db.engine.dispose()


def build_runtime(settings: Settings, with_connectors: bool = True,
                  rules: list[Rule] | None = None, embed_entries: bool | None = None) -> Runtime:
    """Open the store and index, load the rules, create the connectors and the worker.

    With an embeddings endpoint, entries' missing vectors are computed in a background thread
    when `embed_entries` (default: when the connectors run, as in `vigil serve` and `vigil
    worker`); otherwise, as in replay and evaluation, the cached vectors are used as they are.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
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
    return Runtime(settings, store, index, engine, pipeline, enabled, refused,
                   Worker(pipeline, store, enabled), queue)
