"""The database schema's version: create a fresh database at the newest, upgrade an old one.

Alembic holds the history (plugin/store/migrations/). A new, empty database is created from the
tables in tables.py and stamped; one that is behind must be upgraded explicitly with
`vigil db upgrade`, so that several processes never race to migrate at start-up.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine


class SchemaError(RuntimeError):
    """The database's schema is not the one this version of Vigil needs."""


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("plugin.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    return ScriptDirectory.from_config(_config(None)).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def prepare(engine: Engine, metadata) -> None:
    """Create a new database at the newest schema; refuse to run on an outdated one."""
    with engine.begin() as conn:
        if not inspect(conn).get_table_names():
            metadata.create_all(conn)
            command.stamp(_config(conn), "head")
            return
    version = current(engine)
    if version != head():
        raise SchemaError(f"the database schema is at {version or 'no version'}, this Vigil needs "
                          f"{head()}: run `vigil db upgrade`")


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every migration the database lacks; return (from, to)."""
    before = current(engine)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
    return before, head()
