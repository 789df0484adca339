"""The tables: what the plugin keeps, and the constraints that make it exactly-once.

A delivery is stored once per (source, delivery_id), a comment once per (ticket,
message_id), a note once per decision; a lease is held by one process at a time.
"""

from __future__ import annotations

from datetime import datetime, timezone

from connectors.events import ID_WIDTHS
from sqlalchemy import (Boolean, Column, DateTime, Float, ForeignKey, Integer, LargeBinary, MetaData,
                        String, Table, Text, TypeDecorator, UniqueConstraint)


class _UTCDateTime(TypeDecorator):
    """Every timestamp is stored as UTC: SQLite would drop an offset (12:00-08:00 stored as
    12:00), so convert on write, and mark it UTC again on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value

    def process_result_value(self, value, dialect):
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


metadata = MetaData()
UTC = _UTCDateTime()

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(20), nullable=False),
    Column("delivery_id", String(ID_WIDTHS["delivery id"]), nullable=False),
    Column("received_at", UTC, nullable=False),
    Column("events", Text, nullable=False),  # JSON list of Event.to_dict()
    Column("ticket_key", String(130), nullable=False, index=True),  # "source:ticket_id": one worker per ticket
    Column("progress", Integer, nullable=False, default=0),  # events handled: a rerun goes on from here
    # pending, done, failed, or unread: a comment the body could not stand for (`error` says why)
    Column("state", String(10), nullable=False, default="pending"),
    # Tries at its next event that failed or never finished; at decide_max_attempts: failed.
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("error", Text),
    # What the helpdesk signed: a hash of the body. The delivery id is an unsigned header, so
    # the same signed body posted again under a new id is a replay, refused as a duplicate.
    Column("content_key", String(80)),
    UniqueConstraint("source", "delivery_id", name="uq_delivery"),
    UniqueConstraint("source", "content_key", name="uq_delivery_content"),
)

tickets = Table(
    "tickets", metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(20), nullable=False),
    Column("ticket_id", String(ID_WIDTHS["ticket id"]), nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("status", String(20), nullable=False, default="new"),
    Column("tags", Text, nullable=False, default="[]"),
    Column("assignee", String(ID_WIDTHS["assignee id"])),
    Column("updated_at", UTC, nullable=False),
    UniqueConstraint("source", "ticket_id", name="uq_ticket"),
)

messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket", ForeignKey("tickets.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("message_id", String(ID_WIDTHS["comment id"])),
    Column("author_role", String(20), nullable=False),
    Column("author_id", String(ID_WIDTHS["author id"])),
    Column("public", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTC, nullable=False),
    UniqueConstraint("ticket", "message_id", name="uq_message"),
    UniqueConstraint("ticket", "position", name="uq_message_position"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket", ForeignKey("tickets.id"), nullable=False, index=True),
    Column("event_kind", String(30), nullable=False),
    Column("message_position", Integer),
    Column("action", String(30), nullable=False),
    Column("rule", String(100)),
    Column("reason", Text, nullable=False),
    Column("considered", Text, nullable=False, default="[]"),
    Column("facts", Text, nullable=False, default="{}"),
    Column("created_at", UTC, nullable=False),
)

notes = Table(
    "notes", metadata,
    Column("id", Integer, primary_key=True),
    Column("decision", ForeignKey("decisions.id"), nullable=False, unique=True),
    Column("ticket", ForeignKey("tickets.id"), nullable=False, index=True),
    Column("action", String(30), nullable=False),
    Column("rule", String(100)),
    Column("body", Text, nullable=False),
    Column("sources", Text, nullable=False, default="[]"),
    Column("drafter", String(20), nullable=False),
    Column("status", String(10), nullable=False),  # drafted, delivered, failed, shadow
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTC),
    Column("last_error", Text),
    Column("remote_id", String(100)),
    Column("created_at", UTC, nullable=False),
    Column("delivered_at", UTC),
    # A poster's lease: two processes never post one note at once. Left set (in the past) on
    # a note not being posted, it says an earlier try may have landed: look before posting again.
    Column("claimed_until", UTC),
    Column("feedback", String(10)),  # an analyst's verdict: useful or wrong
    Column("feedback_at", UTC),
)


model_calls = Table(
    "model_calls", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket", ForeignKey("tickets.id"), nullable=False, index=True),
    Column("at", UTC, nullable=False, index=True),
    Column("model", String(100), nullable=False),
    Column("prompt_version", String(20), nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("outcome", String(10), nullable=False),
)


proposals = Table(
    "proposals", metadata,
    Column("id", Integer, primary_key=True),
    Column("branch", String(200), nullable=False, index=True),
    Column("backend", String(10), nullable=False),  # git or github
    Column("url", Text),
    Column("number", Integer),
    Column("kind", String(10), nullable=False),  # new, update, retire, rule
    Column("path", Text, nullable=False),
    Column("tickets", Text, nullable=False),
    Column("state", String(10), nullable=False),  # open, merged, edited (merged after changes), closed
    Column("created_at", UTC, nullable=False),
    Column("confidence", Float),  # what Vigil gave it: outcomes calibrate the next ones
    Column("blob", String(64)),  # git blob id of the proposed text: merged as proposed, or edited
)


learning_queue = Table(
    "learning_queue", metadata,
    Column("ticket", ForeignKey("tickets.id"), primary_key=True),  # once per ticket, however often solved
    Column("queued_at", UTC, nullable=False),
)


# How many webhook requests that did not become a delivery ended each way, per hour, for
# /metrics (accepted ones are counted from deliveries): summed at scrape time, so the figures
# are right across processes and restarts (an in-memory counter is neither). One row per hour,
# source and result, not per request: a flood of refused requests cannot grow the database.
webhook_results = Table(
    "webhook_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTC, nullable=False),  # the start of the hour
    Column("source", String(20), nullable=False),
    Column("result", String(20), nullable=False),  # duplicate, unauthorized, invalid, limited, off, error
    Column("count", Integer, nullable=False, default=1, server_default="1"),
)


# Who may do what right now, across threads and processes: "ticket:<key>" (decide one
# ticket's events in order), "housekeeper" (sweep, learn, write the index, requeue).
# A lease expires, so a process that dies holding one does not block the others for long.
leases = Table(
    "leases", metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", UTC, nullable=False),
)


# Knowledge entries' embedding vectors, by the hash of the model and the text embedded: an
# entry's vector is computed once, and again only when its text changes (knowledge/embeddings.py).
entry_vectors = Table(
    "entry_vectors", metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),  # float32, L2-normalised
)

# Calls to the embeddings endpoint for questions, by outcome (used, failed, timeout): how often
# ranking fell back to BM25 alone. Counted in each process and added here every few seconds.
embedding_calls = Table(
    "embedding_calls", metadata,
    Column("model", String(200), primary_key=True),
    Column("outcome", String(10), primary_key=True),
    Column("calls", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
)


# One row per merge of the knowledge repository (the git webhook): every worker process,
# on whatever machine, compares the latest id with the last it pulled, then pulls and reindexes.
knowledge_merges = Table(
    "knowledge_merges", metadata,
    Column("id", Integer, primary_key=True),
    Column("merged_at", UTC, nullable=False),
)
