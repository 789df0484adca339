"""Schema migrations (Alembic). `vigil db upgrade` applies them; see plugin/store/schema.py."""
