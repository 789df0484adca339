"""The database schema's version: create a fresh database at the newest, upgrade an old one.

Alembic holds the history (plugin/store/migrations/). A new, empty database is created from the
tables in tables.py and stamped; one that is behind must be upgraded explicitly with
`vigil db upgrade`, so that several processes never race to migrate at start-up.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

# Alembic is imported only to create or migrate a database: importing it costs a command
# that only reads (`vigil notes`) more than the rest of its start-up together.


class SchemaError(RuntimeError):
    """The database's schema is not the one this version of Vigil needs."""


def _config(connection):
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(resources.files("plugin.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The newest revision: the one no migration file names as its `down_revision`."""
    revisions, parents = set(), set()
    for path in (resources.files("plugin.store") / "migrations" / "versions").iterdir():
        if path.name.endswith(".py"):
            source = path.read_text(encoding="utf-8")
            found = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", source, re.M)
            if found:
                revisions.add(found.group(1))
                down = re.search(r"^down_revision\s*=(.*)$", source, re.M)
                parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1) if down else ""))
    heads = revisions - parents
    if len(heads) != 1:
        raise SchemaError(f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}); they must form one chain")
    return heads.pop()


def current(engine: Engine) -> str | None:
    """The database's revision, read from Alembic's table (None before the first stamp)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def prepare(engine: Engine, metadata) -> None:
    """Create a new database at the newest schema; refuse to run on an outdated one."""
    with engine.begin() as conn:
        if not inspect(conn).get_table_names():
            from alembic import command
            metadata.create_all(conn)
            command.stamp(_config(conn), "head")
            return
    version = current(engine)
    if version != head():
        raise SchemaError(f"the database schema is at {version or 'no version'}, this Vigil needs "
                          f"{head()}: run `vigil db upgrade`")


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every migration the database lacks; return (from, to)."""
    from alembic import command
    before = current(engine)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
    return before, head()
