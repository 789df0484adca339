"""The connection to the database: SQLite by default, PostgreSQL for several processes.

`unit()` groups writes into one transaction, so an event's effects land together or not at
all; the queries (plugin/store/*.py) read and write through `read()` and `write()`.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, contextmanager, nullcontext
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


def _sqlite_commit_without_fsync(dbapi_connection, _record) -> None:
    # In WAL mode a commit then returns without waiting for the disk: it survives the process
    # dying, not the machine losing power (the last commits may then be undone, in order). The
    # database stays consistent either way; see Database's `durable`.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN")


class Database:
    """The engine, and one transaction per unit of work.

    `durable=False` (SQLite only) is for the process that decides beside `vigil serve`'s web
    process: its commits do not wait for the disk, so it holds SQLite's one write lock for
    microseconds rather than an fsync's milliseconds, and the webhooks that wait for that
    lock to store a delivery are acknowledged sooner. What it writes can be decided again
    (the deliveries stay pending until their decisions land); a write that must be on disk
    before something leaves the machine asks for it (`write(durable=True)`). The web
    process's commits, which an acknowledgement promises, always wait for the disk.
    """

    def __init__(self, url: str, durable: bool = True, **engine_options: Any):
        sqlite = url.startswith("sqlite")
        # A pooled SQLite connection is a file, never dropped by a server: no ping per checkout.
        self.engine: Engine = create_engine(driver_url(url), pool_pre_ping=not sqlite, **engine_options)
        self.durable = durable or not sqlite
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            if not self.durable:
                event.listen(self.engine, "connect", _sqlite_commit_without_fsync)
            event.listen(self.engine, "begin", _sqlite_begin)
        self._unit: ContextVar[Connection | None] = ContextVar(f"vigil-unit-{id(self)}", default=None)
        # SQLite has one write lock, and a writer that finds it taken sleeps in its busy handler,
        # 1, 2, 5 ... up to 100 ms between tries, missing the gaps between other commits: the
        # web threads' acknowledgements waited on each other so (ack p99 137 ms against 51 ms
        # with this, benchmarks/README.md). Writes of one process queue here instead, each
        # woken as the one before commits.
        self._writer = threading.RLock() if sqlite else None
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
    def write(self, savepoint: bool = False, durable: bool = False) -> Iterator[Connection]:
        """A transaction of its own, or the unit's; with savepoint, a write that may meet a
        constraint (caught by the caller) undoes only itself, not the unit. With durable, its
        commit waits for the disk even in a database opened with durable=False."""
        conn = self._unit.get()
        if conn is None and durable and not self.durable:
            with self._one_writer(), self._on_disk() as conn:
                yield conn
        elif conn is None:
            with self._one_writer(), self.engine.begin() as conn:
                yield conn
        elif savepoint:
            with conn.begin_nested():
                yield conn
        else:
            yield conn

    def _one_writer(self) -> AbstractContextManager[Any]:
        """This process's turn to write (SQLite); PostgreSQL takes concurrent writers as they come."""
        return self._writer if self._writer is not None else nullcontext()

    @contextmanager
    def _on_disk(self) -> Iterator[Connection]:
        """A transaction whose commit waits for the disk, on a connection that otherwise does not."""
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection  # outside a transaction: SQLite refuses it inside
            assert driver is not None, "a checked-out connection has its driver's"
            driver.execute("PRAGMA synchronous=FULL")
            try:
                with conn.begin():
                    yield conn
            finally:
                driver.execute("PRAGMA synchronous=NORMAL")

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
