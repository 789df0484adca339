"""The same store on a real PostgreSQL (VIGIL_DATABASE_URL): what scale-out builds on.

Each test gets its own schema in the machine's `test` database, dropped afterwards. Skipped
where no PostgreSQL answers on 127.0.0.1:5432, except in CI, which must run them.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from connectors.events import Delivery, Event, TicketRef

from plugin.model import Decision, utcnow
from plugin.runtime import build_runtime
from plugin.store import Store

from .test_pipeline import msg_event


@pytest.fixture
def pg_runtime(settings, pg_url):
    runtime = build_runtime(settings.replace(database_url=pg_url))
    yield runtime
    runtime.close()


def test_a_plain_postgresql_url_works_and_settings_redact_it(settings, pg_url):
    assert pg_url.startswith("postgresql://")
    store = Store(pg_url)
    assert store.db.engine.dialect.name == "postgresql"
    assert settings.replace(database_url="postgresql://u:pw@db/x").redacted()["database_url"] == "***"


def test_deliveries_are_stored_once(pg_runtime):
    delivery = Delivery("zendesk", "inv-1", (msg_event("How do I reset my password?"),))
    assert pg_runtime.store.inbox.accept(delivery) is True
    assert pg_runtime.store.inbox.accept(delivery) is False
    [(pk, done, [event])] = pg_runtime.store.inbox.pending_deliveries()
    assert done == 0
    assert event == delivery.events[0]


def test_the_pipeline_on_postgresql(pg_runtime):
    [outcome] = pg_runtime.pipeline.handle(msg_event("How do I reset my password?", mid="c-1"))
    assert outcome.decision.action == "answer"
    assert pg_runtime.pipeline.handle(msg_event("How do I reset my password?", mid="c-1")) == []
    later = pg_runtime.pipeline.handle(msg_event("Password reset: how do I do it again?", minutes=60))
    assert "answer_repeats == false (is True)" in later[0].decision.reason  # facts read back from JSON
    [note] = pg_runtime.store.notes.list_notes(TicketRef("zendesk", "42"))
    assert note["status"] == "drafted" and note["public"] is False
    steps = list(pg_runtime.store.tickets.timeline(pg_runtime.store.tickets.find_ticket(TicketRef("zendesk", "42"))))
    assert [s["action"] for s in steps] == ["answer", "silent"]


def test_one_note_per_decision_is_a_database_constraint(pg_runtime):
    store = pg_runtime.store
    event = msg_event("hello")
    ticket = store.tickets.upsert_ticket(event)
    pk = store.tickets.record_decision(ticket, event, None, Decision("answer", "r", "why"))
    assert store.notes.add_note(pk, ticket, "answer", "r", "body", (), "extractive", "drafted", at=utcnow())
    assert store.notes.add_note(pk, ticket, "answer", "r", "body", (), "extractive", "drafted", at=utcnow()) is None


def test_two_processes_never_claim_one_note(pg_runtime, pg_url):
    pg_runtime.pipeline.handle(msg_event("How do I reset my password?"))
    [note] = pg_runtime.store.notes.list_notes(TicketRef("zendesk", "42"))
    stores = [Store(pg_url) for _ in range(4)]  # as if four worker processes
    wins = []
    barrier = threading.Barrier(len(stores))

    def claim(store: Store) -> None:
        barrier.wait()
        wins.append(store.notes.claim_note(note["id"], utcnow()))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]
    assert stores[0].notes.claim_note(note["id"], utcnow() + timedelta(minutes=5))  # the lease expires


def test_status_events_and_sweep_on_postgresql(pg_runtime):
    pg_runtime.pipeline.handle(msg_event("My jacket arrived torn, what now?"))
    [nudge] = pg_runtime.housekeeper.sweep(msg_event("x").occurred_at + timedelta(hours=5))
    assert nudge.decision.rule == "nudge-customer-waiting"
    solved = Event("zendesk", "42", "status_changed", utcnow(), status="solved", previous_status="open")
    pg_runtime.pipeline.handle(solved)
    assert pg_runtime.store.tickets.waiting_tickets() == []


# --- schema migrations: `vigil db upgrade` ----------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_build_exactly_the_tables_the_code_uses(backend, tmp_path, request):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from plugin.store import schema
    from plugin.store import driver_url
    from plugin.store.tables import metadata
    url = f"sqlite:///{tmp_path}/m.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = create_engine(driver_url(url))
    assert schema.upgrade(engine) == (None, schema.head())
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in differences if d[0] != "modify_type"] == []  # tables.py and the migrations agree
    assert Store(url)  # an upgraded database is accepted as it is


def test_an_outdated_database_is_refused_until_upgraded(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from sqlalchemy import create_engine

    from plugin.store import schema
    from plugin.cli import main
    from plugin.store.tables import metadata
    url = f"sqlite:///{tmp_path}/old.db"
    metadata.create_all(create_engine(url))  # tables, but no schema version: an older Vigil's
    with pytest.raises(schema.SchemaError, match="run `vigil db upgrade`"):
        Store(url)
    monkeypatch.chdir(tmp_path)
    fresh = f"sqlite:///{tmp_path}/new.db"
    monkeypatch.setenv("VIGIL_DATABASE_URL", fresh)
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0 and f"empty -> {schema.head()}" in result.output
    assert Store(fresh)


def test_a_jira_comment_left_unread_is_paired_with_its_ticket_on_postgresql(pg_runtime):
    from connectors.jira.webhook import parse
    from .conftest import FIXTURES
    captured = FIXTURES / "jira" / "mattermost-plugin-jira"
    thin, twin = ((captured / name).read_bytes() for name in ("webhook-cloud-comment-created.json",
                                                              "webhook-issue-created.json"))
    inbox = pg_runtime.store.inbox
    assert inbox.accept(parse({"X-Atlassian-Webhook-Identifier": "thin"}, thin), thin)
    assert [d["ticket"] for d in inbox.unread_deliveries()] == ["jira:TES-41"]
    assert inbox.accept(parse({"X-Atlassian-Webhook-Identifier": "twin"}, twin), twin)
    assert inbox.unread_deliveries() == []
