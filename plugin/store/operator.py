"""The operator's view: dashboard and metrics (read-only but for one retry)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, select, update

from plugin.model import utcnow
from plugin.store.database import Database
from plugin.store.tables import decisions, messages, metadata, model_calls, notes, tickets, webhook_results

KEEP_WEBHOOK_RESULTS = timedelta(days=30)  # /metrics counts refusals over this long; older hours are pruned


class OperatorQueries:
    """Counts and recent rows for /dashboard and /metrics."""

    def __init__(self, db: Database):
        self.db = db

    def record_webhook(self, source: str, result: str, now: datetime | None = None) -> None:
        """Count one request in its hour's row; the first of an hour also drops rows past keeping."""
        now = now or utcnow()
        hour = now.replace(minute=0, second=0, microsecond=0)
        r = webhook_results.c
        with self.db.write() as conn:
            counted = conn.execute(update(webhook_results).where(r.at == hour, r.source == source, r.result == result)
                                   .values(count=r.count + 1)).rowcount
            if not counted:
                conn.execute(insert(webhook_results).values(at=hour, source=source, result=result, count=1))
                conn.execute(webhook_results.delete().where(r.at < hour - KEEP_WEBHOOK_RESULTS))

    def webhook_results(self) -> dict[tuple[str, str], int]:
        """(source, result) -> requests that ended so, over the hours kept."""
        r = webhook_results.c
        with self.db.read() as conn:
            rows = conn.execute(select(r.source, r.result, func.sum(r.count)).group_by(r.source, r.result)).all()
        return {(source, result): int(n) for source, result, n in rows}

    def counts(self, table: str, *columns: str) -> dict[tuple, int]:
        """Rows per distinct value of the columns of one of the tables, e.g. notes by status."""
        t = metadata.tables[table]
        cols = [t.c[c] for c in columns]
        with self.db.read() as conn:
            rows = conn.execute(select(*cols, func.count()).group_by(*cols)).all()
        return {tuple(r[:-1]): r[-1] for r in rows}

    def model_call_stats(self, buckets: tuple[float, ...]) -> list[Any]:
        """Per model and outcome: calls, tokens, total seconds, and calls at or under each bucket."""
        c = model_calls.c
        under = [func.sum(case((c.seconds <= b, 1), else_=0)).label(f"le{i}") for i, b in enumerate(buckets)]
        with self.db.read() as conn:
            return list(conn.execute(select(c.model, c.outcome, func.count().label("calls"),
                                       func.sum(c.prompt_tokens).label("prompt_tokens"),
                                       func.sum(c.completion_tokens).label("completion_tokens"),
                                       func.sum(c.seconds).label("seconds"), *under)
                                .group_by(c.model, c.outcome)).all())

    def recent_decisions(self, limit: int = 50, silent: str = "show") -> list[Any]:
        """The latest decisions with their ticket; silent: show, hide or only the silent ones."""
        query = (select(decisions.c.id, decisions.c.action, decisions.c.rule, decisions.c.reason,
                        decisions.c.event_kind, decisions.c.created_at, tickets.c.source, tickets.c.ticket_id)
                 .join(tickets, tickets.c.id == decisions.c.ticket).order_by(decisions.c.id.desc()).limit(limit))
        if silent == "hide":
            query = query.where(decisions.c.action != "silent")
        elif silent == "only":
            query = query.where(decisions.c.action == "silent")
        with self.db.read() as conn:
            return list(conn.execute(query).all())

    def recent_notes(self, limit: int = 50, status: str | None = None, pk: int | None = None) -> list[Any]:
        """The latest notes with their ticket, optionally only those in one status, or one note."""
        query = (select(notes, tickets.c.source, tickets.c.ticket_id)
                 .join(tickets, tickets.c.id == notes.c.ticket).order_by(notes.c.id.desc()).limit(limit))
        if status:
            query = query.where(notes.c.status == status)
        if pk is not None:
            query = query.where(notes.c.id == pk)
        with self.db.read() as conn:
            return list(conn.execute(query).all())

    def feedback_history(self) -> list[tuple[datetime, str]]:
        """(when, useful or wrong) for every note an analyst judged."""
        with self.db.read() as conn:
            return [tuple(r) for r in conn.execute(select(notes.c.feedback_at, notes.c.feedback)
                                                   .where(notes.c.feedback.is_not(None))).all()]

    def citation_counts(self) -> dict[str, int]:
        """Knowledge entry id -> how many notes cited it."""
        counted: dict[str, int] = {}
        with self.db.read() as conn:
            for raw in conn.execute(select(notes.c.sources)).scalars():
                for entry in set(json.loads(raw)):
                    counted[entry] = counted.get(entry, 0) + 1
        return counted

    def customer_messages_decided(self, limit: int = 5000) -> list[Any]:
        """The latest decisions taken on a customer's comment, with its text and the facts."""
        m = messages.c
        with self.db.read() as conn:
            return list(conn.execute(
                select(decisions.c.id, decisions.c.action, decisions.c.facts, decisions.c.created_at,
                       decisions.c.ticket, decisions.c.message_position, tickets.c.source, tickets.c.ticket_id,
                       m.body)
                .join(tickets, tickets.c.id == decisions.c.ticket)
                .join(messages, (m.ticket == decisions.c.ticket) & (m.position == decisions.c.message_position))
                .where(m.author_role == "customer").order_by(decisions.c.id.desc()).limit(limit)).all())
