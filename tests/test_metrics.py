"""GET /metrics: Prometheus text counted from the database, behind the admin token."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.events import TicketRef
from plugin.web.app import create_app
from plugin.model import ModelCall, utcnow

from .conftest import write_entry
from .fakehttp import FakeServer
from .test_app import CUSTOMER_COMMENT, PUT, signed, update_reply

TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def helpdesk():
    with FakeServer() as server:
        yield server


def make_app(settings, knowledge_dir, helpdesk, token=TOKEN):
    write_entry(knowledge_dir, "exports/retry-failed-export", "Make a failed nightly export retry",
                ["export", "E1042", "retry"], "Error E1042: turn on Settings, Exports, Retry failed exports.")
    return create_app(settings.replace(admin_token=token, zendesk_url=helpdesk.url, zendesk_email="bot@example.org",
                                       zendesk_token="t0ken", jira_webhook_secret=""), start_worker=False)


@pytest.fixture
def app(settings, knowledge_dir, helpdesk):
    app = make_app(settings, knowledge_dir, helpdesk)
    yield app
    app.extensions["vigil"].close()


def scrape(app) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from the text the endpoint serves."""
    response = app.test_client().get("/metrics", headers=AUTH)
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_metrics_are_off_without_an_admin_token(settings, knowledge_dir, helpdesk):
    app = make_app(settings, knowledge_dir, helpdesk, token="")
    try:
        response = app.test_client().get("/metrics")
        assert response.status_code == 404 and "VIGIL_ADMIN_TOKEN" in response.text
    finally:
        app.extensions["vigil"].close()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}])
def test_metrics_need_the_bearer_token(app, headers):
    assert app.test_client().get("/metrics", headers=headers).status_code == 401


def test_metric_families_count_what_happened(app, helpdesk):
    runtime = app.extensions["vigil"]
    client = app.test_client()
    helpdesk.script("PUT", PUT, update_reply())
    assert client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT)).status_code == 202
    assert client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT)).status_code == 200
    bad = signed(CUSTOMER_COMMENT, secret="wrong", invocation="inv-2")
    assert client.post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=bad).status_code == 401
    assert client.post("/webhooks/jira", data=b"{}").status_code == 404
    assert client.post("/webhooks/no-such-desk", data=b"{}").status_code == 404

    before = scrape(app)
    assert before["vigil_queue_depth"] == {(("queue", "deliveries"),): 1, (("queue", "notes"),): 0}

    runtime.processor.drain()
    ticket = runtime.store.tickets.find_ticket(TicketRef("zendesk", "35436"))
    for seconds, outcome in ((0.8, "used"), (3.0, "used"), (25.0, "failed")):
        runtime.store.notes.record_model_call(ticket, utcnow(), ModelCall("gpt-test", "v1", 100, 20, seconds, outcome))
    m = scrape(app)

    assert m["vigil_webhooks_total"] == {
        (("result", "accepted"), ("source", "zendesk")): 1, (("result", "duplicate"), ("source", "zendesk")): 1,
        (("result", "unauthorized"), ("source", "zendesk")): 1, (("result", "off"), ("source", "jira")): 1,
        (("result", "off"), ("source", "unknown")): 1}
    assert m["vigil_decisions_total"] == {(("action", "answer"), ("rule", "answer-customer-question")): 1}
    assert m["vigil_notes"] == {(("status", "delivered"),): 1, (("status", "drafted"),): 0,
                                (("status", "failed"),): 0, (("status", "shadow"),): 0}
    assert m["vigil_queue_depth"] == {(("queue", "deliveries"),): 0, (("queue", "notes"),): 0}
    model = (("model", "gpt-test"),)
    assert m["vigil_model_calls_total"] == {model + (("outcome", "failed"),): 1, model + (("outcome", "used"),): 2}
    assert m["vigil_model_tokens_total"] == {(("kind", "prompt"),) + model: 300, (("kind", "completion"),) + model: 60}
    buckets = m["vigil_model_call_seconds_bucket"]
    assert buckets[(("le", "1.0"), ("model", "gpt-test"))] == 1
    assert buckets[(("le", "5.0"), ("model", "gpt-test"))] == 2
    assert buckets[(("le", "+Inf"), ("model", "gpt-test"))] == 3
    assert m["vigil_model_call_seconds_count"] == {model: 3}
    assert m["vigil_model_call_seconds_sum"] == {model: pytest.approx(28.8)}


def test_metrics_are_read_from_the_database_so_a_new_process_sees_them(app):
    """Counts survive a restart: a second app on the same database reports the same figures."""
    app.test_client().post("/webhooks/zendesk", data=CUSTOMER_COMMENT, headers=signed(CUSTOMER_COMMENT))
    app.extensions["vigil"].processor.drain()
    again = create_app(app.extensions["vigil"].settings, start_worker=False)
    try:
        assert scrape(again)["vigil_webhooks_total"] == {(("result", "accepted"), ("source", "zendesk")): 1}
    finally:
        again.extensions["vigil"].close()
