"""The queue of resolved tickets to learn from, and the proposals made."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from plugin.store.tickets import TicketRow, row_ticket
from plugin.store.database import Database
from plugin.store.tables import knowledge_merges, learning_queue, proposals, tickets


class LearningQueries:
    """Resolved tickets waiting to be learned from; the pull requests made of them."""

    def __init__(self, db: Database):
        self.db = db

    def queue_learning(self, ticket: TicketRow, at: datetime) -> None:
        """Remember a resolved ticket for the next learning run."""
        try:
            with self.db.write(savepoint=True) as conn:
                conn.execute(insert(learning_queue).values(ticket=ticket.pk, queued_at=at))
        except IntegrityError:
            pass  # already queued

    def queued_for_learning(self) -> list[tuple[TicketRow, datetime]]:
        with self.db.read() as conn:
            rows = conn.execute(select(tickets, learning_queue.c.queued_at)
                                .join(learning_queue, learning_queue.c.ticket == tickets.c.id)
                                .order_by(learning_queue.c.queued_at)).all()
        return [(row_ticket(r), r.queued_at) for r in rows]

    def unqueue_learning(self, ticket_pks: list[int]) -> None:
        with self.db.write() as conn:
            conn.execute(learning_queue.delete().where(learning_queue.c.ticket.in_(ticket_pks)))

    def record_proposals(self, published: Any, batch: list[Any], at: datetime) -> None:
        """Remember what was proposed, in which pull request, for the acceptance rate."""
        with self.db.write() as conn:
            for p in batch:
                conn.execute(insert(proposals).values(
                    branch=published.branch, backend=published.backend, url=published.url,
                    number=published.number, kind=p.kind, path=p.path, tickets=json.dumps(list(p.tickets)),
                    state="open", created_at=at, confidence=getattr(p, "confidence", None),
                    blob=None if getattr(p, "content", None) is None else blob_id(p.content)))

    def list_proposals(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(proposals).order_by(proposals.c.id)).all()
        return [{"branch": r.branch, "backend": r.backend, "url": r.url, "number": r.number, "kind": r.kind,
                 "path": r.path, "tickets": json.loads(r.tickets), "state": r.state,
                 "created_at": r.created_at.isoformat(), "confidence": r.confidence, "blob": r.blob} for r in rows]

    def proposal_history(self) -> list[tuple[float | None, str]]:
        """(confidence given, outcome) of every proposal: what calibrates the next ones."""
        with self.db.read() as conn:
            return [(r.confidence, r.state) for r in conn.execute(select(proposals.c.confidence, proposals.c.state))]

    def set_proposal_state(self, branch: str, state: str, path: str | None = None) -> None:
        """The outcome of a pull request's proposals, or of one file's (merged after edits)."""
        where = proposals.c.branch == branch
        if path is not None:
            where &= proposals.c.path == path
        with self.db.write() as conn:
            conn.execute(update(proposals).where(where).values(state=state))

    def record_knowledge_merge(self, at: datetime) -> None:
        """A merge landed on the knowledge repository: every worker pulls it at its next pass."""
        with self.db.write() as conn:
            conn.execute(insert(knowledge_merges).values(merged_at=at))

    def last_knowledge_merge(self) -> int:
        """The latest merge's number (0 before the first): a worker pulls when it grows."""
        with self.db.read() as conn:
            return conn.execute(select(func.max(knowledge_merges.c.id))).scalar() or 0


def blob_id(text: str) -> str:
    """The id git (and GitHub) give a file with this text: how an edit by the reviewer shows."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
