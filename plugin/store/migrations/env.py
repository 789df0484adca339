"""Alembic's entry point: the URL comes from the caller (plugin/store/schema.py), never from a file."""

from alembic import context

from plugin.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
