"""Wire the parts together from Settings. Nothing is built at import time."""

from __future__ import annotations

from dataclasses import dataclass

import connectors as connector_registry
from connectors.base import Connector
from plugin.engine import RuleEngine
from plugin.pipeline import Pipeline
from plugin.retrieval import KnowledgeIndex
from plugin.rulebook import Rule, load_rules
from plugin.settings import Settings
from plugin.store import Store
from plugin.worker import Worker


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

    closed: bool = False

    def close(self) -> None:
        """Stop the worker and release the index, rules and database (safe to call twice)."""
        if self.closed:
            return
        self.closed = True
        self.worker.stop()
        self.index.close()
        self.engine.close()
        self.store.engine.dispose()


def build_runtime(settings: Settings, with_connectors: bool = True,
                  rules: list[Rule] | None = None) -> Runtime:
    """Open the store and index, load the rules, create the connectors and the worker."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    index = KnowledgeIndex(settings.knowledge_dir, settings.index_dir)
    index.refresh()
    engine = RuleEngine(load_rules(settings.rules_dir) if rules is None else rules)
    pipeline = Pipeline(settings, store, engine, index)
    enabled, refused = connector_registry.build(settings) if with_connectors else ({}, {})
    return Runtime(settings, store, index, engine, pipeline, enabled, refused,
                   Worker(pipeline, store, enabled))
