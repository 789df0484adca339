"""The durable state: one Store with the queries each part of the plugin needs.

Uniqueness that matters for correctness is a constraint in plugin/store/tables.py, not a check
in Python; `Store.unit()` makes an event's writes land together or not at all.
"""

from plugin.store.database import Database, driver_url
from plugin.store.inbox import AlreadyHandled, InboxQueries, ticket_key, ticket_lease
from plugin.store.learning import LearningQueries
from plugin.store.notes import NoteQueries, backoff_until
from plugin.store.operator import OperatorQueries
from plugin.store.tickets import TicketQueries, TicketRow


class Store(Database, InboxQueries, TicketQueries, NoteQueries, LearningQueries, OperatorQueries):
    """The queries the rest of the plugin needs, and nothing else."""


__all__ = ["AlreadyHandled", "Store", "TicketRow", "backoff_until", "driver_url", "ticket_key", "ticket_lease"]
