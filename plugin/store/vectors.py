"""Entry vectors cached by content hash, and the embeddings endpoint's call counts."""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from plugin.store.database import Database
from plugin.store.tables import embedding_calls, entry_vectors

_CHUNK = 500  # hashes per IN (...): SQLite allows 32,766 parameters, PostgreSQL more


class VectorQueries:
    """Entry vectors by content hash (knowledge/embeddings.py) and the embeddings call counts."""

    def __init__(self, db: Database):
        self.db = db

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, bytes]:
        """The vectors stored for these content hashes (the others are missing)."""
        wanted, found = list(hashes), {}
        with self.db.read() as conn:
            for i in range(0, len(wanted), _CHUNK):
                rows = conn.execute(select(entry_vectors.c.content_hash, entry_vectors.c.vector)
                                    .where(entry_vectors.c.content_hash.in_(wanted[i:i + _CHUNK]))).all()
                found.update({h: bytes(v) for h, v in rows})
        return found

    def save_vectors(self, vectors: dict[str, bytes]) -> None:
        """Store new vectors; one another process stored meanwhile is left as it is (same hash, same text)."""
        rows = [{"content_hash": h, "vector": v} for h, v in vectors.items()]
        try:
            with self.db.write() as conn:
                conn.execute(entry_vectors.insert(), rows)
            return
        except IntegrityError:  # some were stored meanwhile: the others one by one
            pass
        for content_hash, vector in vectors.items():
            try:
                with self.db.write() as conn:
                    conn.execute(entry_vectors.insert().values(content_hash=content_hash, vector=vector))
            except IntegrityError:
                pass

    def count_embedding_calls(self, model: str, counts: dict[str, tuple[int, float]]) -> None:
        """Add (calls, seconds) per outcome to the totals."""
        c = embedding_calls.c
        for outcome, (calls, seconds) in counts.items():
            for _ in range(2):  # another process may insert the same first row meanwhile: then add to it
                try:
                    with self.db.write() as conn:
                        added = conn.execute(update(embedding_calls).where(c.model == model, c.outcome == outcome)
                                             .values(calls=c.calls + calls, seconds=c.seconds + seconds)).rowcount
                        if not added:
                            conn.execute(embedding_calls.insert().values(model=model, outcome=outcome,
                                                                         calls=calls, seconds=seconds))
                    break
                except IntegrityError:
                    continue

    def embedding_call_stats(self) -> list[Any]:
        with self.db.read() as conn:
            return list(conn.execute(select(embedding_calls)).all())
