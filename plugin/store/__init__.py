"""The durable state: one Database, and the queries each part of the plugin needs, by concern.

Uniqueness that matters for correctness is a constraint in plugin/store/tables.py, not a
check in Python; `Store.unit()` makes an event's writes land together or not at all.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from plugin.store.database import Database, driver_url
from plugin.store.inbox import AlreadyHandled, InboxQueries, ticket_key, ticket_lease
from plugin.store.learning import LearningQueries
from plugin.store.notes import NoteQueries, backoff_until
from plugin.store.operator import OperatorQueries
from plugin.store.tickets import TicketQueries, TicketRow
from plugin.store.vectors import VectorQueries


class Store:
    """The database and its queries: `store.inbox`, `.tickets`, `.notes`, `.learning`, `.operator`, `.vectors`."""

    def __init__(self, url: str, durable: bool = True, **engine_options: Any):
        self.db = Database(url, durable, **engine_options)
        self.inbox = InboxQueries(self.db)
        self.tickets = TicketQueries(self.db)
        self.notes = NoteQueries(self.db)
        self.learning = LearningQueries(self.db)
        self.operator = OperatorQueries(self.db)
        self.vectors = VectorQueries(self.db)

    def unit(self) -> AbstractContextManager[None]:
        """Everything written inside lands in one transaction, or nothing does."""
        return self.db.unit()


__all__ = ["AlreadyHandled", "Store", "TicketRow", "backoff_until", "driver_url", "ticket_key", "ticket_lease"]
