"""The connection to the database: SQLite by default, PostgreSQL for several processes.

`unit()` groups writes into one transaction, so an event's effects land together or not at
all; the queries (plugin/store/*.py) read and write through `read()` and `write()`.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Engine

from plugin.store import schema
from plugin.store.tables import metadata


def driver_url(url: str) -> str:
    """A plain postgresql:// URL means psycopg 3 (SQLAlchemy would otherwise want psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def new_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT gave its row."""
    key = result.inserted_primary_key
    assert key is not None, "an INSERT returns its row's key"
    return int(key[0])


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web process write the inbox while the worker reads; busy_timeout waits
    # for a lock instead of failing at once when both write at the same moment.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # pysqlite would begin transactions itself, after a SAVEPOINT had already started (and
    # its RELEASE committed) one: let SQLAlchemy say BEGIN, so a unit really is one transaction.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN")


class Database:
    """The engine, and one transaction per unit of work."""

    def __init__(self, url: str, **engine_options: Any):
        self.engine: Engine = create_engine(driver_url(url), pool_pre_ping=True, **engine_options)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._unit: ContextVar[Connection | None] = ContextVar(f"vigil-unit-{id(self)}", default=None)
        # A read outside a unit needs no transaction: on PostgreSQL that saves a BEGIN and a
        # ROLLBACK per query (SQLite's reads are cheap, and its BEGIN is ours: see above).
        self._autocommit_reads = not url.startswith("sqlite")
        schema.prepare(self.engine, metadata)

    @contextmanager
    def unit(self) -> Iterator[None]:
        """Everything written inside lands in one transaction, or nothing does.

        A write inside that may meet a constraint (a comment seen already) is a savepoint and
        undoes only itself; an exception leaving the unit undoes it all.
        """
        if self._unit.get() is not None:
            yield
            return
        with self.engine.begin() as conn:
            token = self._unit.set(conn)
            try:
                yield
            finally:
                self._unit.reset(token)

    @contextmanager
    def write(self, savepoint: bool = False) -> Iterator[Connection]:
        """A transaction of its own, or the unit's; with savepoint, a write that may meet a
        constraint (caught by the caller) undoes only itself, not the unit."""
        conn = self._unit.get()
        if conn is None:
            with self.engine.begin() as conn:
                yield conn
        elif savepoint:
            with conn.begin_nested():
                yield conn
        else:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        conn = self._unit.get()
        if conn is None:
            with self.engine.connect() as conn:
                if self._autocommit_reads:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
        else:
            yield conn  # see the unit's own writes
