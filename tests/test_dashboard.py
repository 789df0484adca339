"""The operator's view: access by admin token, what it shows, and the retry button."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from connectors.events import TicketRef
from plugin.web.app import create_app
from plugin.web.dashboard import acceptance, answer_threshold, knowledge_gaps
from plugin.replay import events_for, validated

from .fakehttp import FakeServer, Reply

TOKEN = "admin-test-token"
PUT = "/api/v2/tickets/{}.json"


def conversation(ticket_id: str, day: int, *bodies: str) -> dict:
    """A zendesk ticket whose messages alternate customer (public) and analyst (internal), an hour apart."""
    return {"source": "zendesk", "ticket_id": ticket_id, "subject": f"ticket {ticket_id}", "messages": [
        {"author_role": "analyst" if i % 2 else "customer", "public": not i % 2, "body": body,
         "created_at": f"2026-11-{day:02d}T1{i}:00:00Z"} for i, body in enumerate(bodies)]}


# Two answered refund questions (an analyst finds one useful), two unanswered questions about
# exporting invoices, one about gift cards, and small talk. The conftest knowledge base covers
# refunds, passwords and shipping addresses.
CONVERSATIONS = [
    conversation("101", 20, "How long does a refund take to reach my card?", "@vigil useful"),
    conversation("102", 21, "How do I export my invoices to PDF?"),
    conversation("103", 21, "Can I export invoices as CSV from the billing page?"),
    conversation("104", 22, "How do I check the balance of a gift card?"),
    conversation("105", 22, "Thanks, have a nice day!"),
    conversation("106", 23, "When will my refund arrive after I return the item?"),
]


def replay(runtime, conversations=CONVERSATIONS) -> None:
    """Push recorded conversations through the real pipeline, as the worker would."""
    for data in conversations:
        for event in events_for(validated(json.loads(json.dumps(data)), data["ticket_id"])):
            runtime.pipeline.handle(event)


def delivered(ticket_id: str) -> Reply:
    return Reply(200, {"ticket": {"id": int(ticket_id)}, "audit": {"id": 1, "events": [
        {"id": 7, "type": "Comment", "public": False, "body": "note"}]}})


def bearer(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def helpdesk():
    with FakeServer() as server:
        yield server


def make_app(settings, helpdesk, token=TOKEN):
    return create_app(settings.replace(admin_token=token, zendesk_url=helpdesk.url, zendesk_email="bot@example.org",
                                       zendesk_token="t0ken", jira_webhook_secret=""), start_worker=False)


@pytest.fixture
def app(settings, helpdesk):
    app = make_app(settings, helpdesk)
    yield app
    app.extensions["vigil"].close()


@pytest.fixture
def seeded(app, helpdesk):
    """The conversations replayed, their notes posted, and an analyst's verdict on one."""
    for ticket in ("101", "106"):
        helpdesk.script("PUT", PUT.format(ticket), delivered(ticket))
    runtime = app.extensions["vigil"]
    replay(runtime)
    runtime.processor.drain()
    return app


def page(app, **query) -> str:
    response = app.test_client().get("/dashboard", query_string=query, headers=bearer())
    assert response.status_code == 200, response.text
    return response.text


# -- access ---------------------------------------------------------------------------

def test_dashboard_is_off_without_an_admin_token(settings, helpdesk):
    app = make_app(settings, helpdesk, token="")
    try:
        response = app.test_client().get("/dashboard", headers=bearer(""))
        assert response.status_code == 404 and "VIGIL_ADMIN_TOKEN" in response.text
        assert app.test_client().get("/dashboard?token=").status_code == 404
    finally:
        app.extensions["vigil"].close()


@pytest.mark.parametrize("how", [
    {}, {"headers": bearer("wrong")}, {"headers": {"Authorization": TOKEN}},
    {"query_string": {"token": "wrong"}}, {"headers": {"Cookie": f"vigil_admin={TOKEN}"}},
])
def test_wrong_or_missing_token_is_401(app, how):
    response = app.test_client().get("/dashboard", **how)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Set-Cookie" not in response.headers


def test_bearer_token_opens_it_with_no_script(app):
    response = app.test_client().get("/dashboard", headers=bearer())
    assert response.status_code == 200 and "Recent decisions" in response.text
    assert "<script" not in response.text
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_token_in_the_url_sets_a_strict_cookie_and_redirects_to_the_clean_url(app):
    client = app.test_client()
    response = client.get("/dashboard?token=" + TOKEN + "&silent=hide")
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard?silent=hide"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert TOKEN not in cookie  # the cookie holds a derived value, not the token
    assert client.get("/dashboard?silent=hide").status_code == 200  # the cookie is enough now


# -- what it shows --------------------------------------------------------------------

def test_decisions_show_rule_and_reason_and_silent_ones_filter(seeded):
    everything = page(seeded)
    assert "answer-customer-question" in everything
    assert "which failed on answer_confidence &gt;= 0.3" in everything  # a silent decision's reason
    assert "decision answer-row" in everything and "decision silent-row" in everything
    hidden = page(seeded, silent="hide")
    assert "decision answer-row" in hidden and "decision silent-row" not in hidden
    only = page(seeded, silent="only")
    assert "decision silent-row" in only and "decision answer-row" not in only


def test_notes_show_delivery_status_and_feedback(seeded):
    text = page(seeded)
    assert 'badge status delivered' in text and 'badge useful' in text


def test_knowledge_gaps_group_the_unanswered_questions_by_topic(seeded):
    runtime = seeded.extensions["vigil"]
    gaps = knowledge_gaps(runtime.store.operator.customer_messages_decided(), answer_threshold(runtime.engine.rules))
    assert [(set(g["terms"][:2]), g["count"], g["tickets"]) for g in gaps] == [
        ({"invoices", "export"}, 2, 2), ({"gift", "balance"}, 1, 1)]
    assert {e["ticket_id"] for e in gaps[0]["examples"]} == {"102", "103"}
    text = page(seeded)
    assert "invoices · export" in text and "How do I export my invoices to PDF?" in text
    assert "refund" not in text.split('id="gaps"')[1].split("</section>")[0]  # answered: not a gap


def row(action="silent", score=0.1, body="How do I export invoices?", **facts):
    base = {"role": "customer", "is_question": True, "in_scope": True, "answer_confidence": score}
    return SimpleNamespace(action=action, facts=json.dumps({**base, **facts}), body=body, ticket=len(body),
                           message_position=0, source="zendesk", ticket_id="1",
                           created_at=datetime(2026, 11, 1, tzinfo=timezone.utc))


def test_only_silent_in_scope_customer_questions_below_the_threshold_are_gaps():
    assert [g["count"] for g in knowledge_gaps([row()], 0.45)] == [1]
    for not_a_gap in (row(action="answer", score=0.9), row(score=0.5),  # answered; a guard kept it silent
                      row(in_scope=False), row(role="analyst"), row(is_question=False)):
        assert knowledge_gaps([not_a_gap], 0.45) == []


def test_gap_examples_show_no_personal_data():
    body = "How do I export invoices? I'm ann.lee@example.com, +1 (415) 555-0199, card 4111 1111 1111 1111."
    [gap] = knowledge_gaps([row(body=body)], 0.45)
    [example] = gap["examples"]
    assert "How do I export invoices?" in example["text"]
    assert "ann.lee" not in example["text"] and "555-0199" not in example["text"] and "4111" not in example["text"]
    assert "[email]" in example["text"] and "[card]" in example["text"]


def test_the_gap_threshold_is_the_customer_answer_rule_threshold(app):
    assert answer_threshold(app.extensions["vigil"].engine.rules) == 0.3


def test_most_used_knowledge_entries_count_citing_notes(seeded):
    section = page(seeded).split('id="knowledge"')[1]
    assert re.search(r"knowledge/orders/refund-timing\.md</td><td class=\"num\">2<", section)


def test_acceptance_rates_per_day_with_a_chart():
    day = lambda d: datetime(2026, 11, d, 9, tzinfo=timezone.utc)  # noqa: E731
    chart, rows = acceptance([(day(1), True), (day(1), False), (day(2), True)], [(day(2), False)])
    assert [(r["period"], r["notes"]["rate"], r["proposals"]["rate"]) for r in rows] == [
        ("2026-11-01", 0.5, None), ("2026-11-02", 1.0, 0.0)]
    assert chart.startswith("<svg") and chart.count("<polyline") == 2  # notes and proposals
    assert "2026-11-01" in chart and "2026-11-02" in chart
    assert acceptance([], []) == (None, [])


def test_proposals_open_and_merged_and_their_rate(seeded):
    store = seeded.extensions["vigil"].store
    for branch, path in (("learn/a", "knowledge/billing/export.md"), ("learn/b", "knowledge/gift/balance.md"),
                         ("learn/c", "knowledge/x.md")):
        store.learning.record_proposals(SimpleNamespace(branch=branch, backend="git", url=None, number=None),
                               [SimpleNamespace(kind="new", path=path, tickets=("102",))],
                               datetime(2026, 11, 24, tzinfo=timezone.utc))
    store.learning.set_proposal_state("learn/b", "merged")
    store.learning.set_proposal_state("learn/c", "closed")
    text = page(seeded)
    assert "Open (1)" in text and "knowledge/billing/export.md" in text
    assert "Merged (1)" in text and "knowledge/gift/balance.md" in text
    assert "knowledge/x.md" not in text  # closed: only counted in the rate
    assert '<svg class="chart"' in text and "50%" in text


# -- the retry button -----------------------------------------------------------------

def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', text).group(1)


def test_retry_needs_the_csrf_token_then_requeues_and_delivers(app, helpdesk):
    runtime = app.extensions["vigil"]
    helpdesk.script("PUT", PUT.format("101"), Reply(404, {"error": "RecordNotFound"}))
    replay(runtime, CONVERSATIONS[:1])
    runtime.processor.drain()
    [note] = runtime.store.notes.list_notes(TicketRef("zendesk", "101"))
    assert note["status"] == "failed"
    text = page(app)
    assert f'id="failed-{note["id"]}"' in text
    url = f"/dashboard/notes/{note['id']}/retry"
    client = app.test_client()
    assert client.post(url, data={"csrf": csrf_of(text)}).status_code == 401  # no token: refused first
    for form in ({}, {"csrf": "0" * 64}):
        refused = client.post(url, data=form, headers=bearer())
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert runtime.store.notes.list_notes(TicketRef("zendesk", "101"))[0]["status"] == "failed"
    assert len(helpdesk.received("PUT", PUT.format("101"))) == 1

    helpdesk.script("PUT", PUT.format("101"), delivered("101"))
    response = client.post(url, data={"csrf": csrf_of(text)}, headers=bearer())
    assert response.status_code == 303 and response.headers["Location"].startswith(
        f"/dashboard?note={note['id']}&retry=queued")
    assert runtime.store.notes.list_notes(TicketRef("zendesk", "101"))[0]["status"] == "delivered"
    assert len(helpdesk.received("PUT", PUT.format("101"))) == 2
    after = client.get(response.headers["Location"], headers=bearer()).text
    assert "was queued again and delivered" in after and f'id="failed-{note["id"]}"' not in after

    again = client.post(url, data={"csrf": csrf_of(text)}, headers=bearer())  # a second click
    assert "retry=stale" in again.headers["Location"]
    assert len(helpdesk.received("PUT", PUT.format("101"))) == 2
    assert "was not failed (it is delivered)" in client.get(again.headers["Location"], headers=bearer()).text


def test_a_webhook_delivery_set_aside_is_listed_with_its_tries_and_error(app):
    """Issue 11 defect 1: a poison delivery, set aside after its tries, shows on the dashboard."""
    from connectors.events import Delivery
    from .test_pipeline import msg_event
    runtime = app.extensions["vigil"]
    assert runtime.store.inbox.accept(Delivery("zendesk", "poison-1", (msg_event("How do I reset it?"),)))
    [(pk, _, _)] = runtime.store.inbox.pending_deliveries()
    tries = runtime.settings.decide_max_attempts
    for _ in range(tries):
        runtime.store.inbox.begin_attempt(pk, tries)
    assert not runtime.store.inbox.begin_attempt(pk, tries)  # set aside now
    html = page(app)
    assert f'id="set-aside-{pk}"' in html and "never finished" in html


def test_a_jira_comment_left_unread_is_listed_with_the_fix(app):
    """A captured Cloud comment_created names no reporter; with no other delivery for its ticket
    the comment was never read, and the page says so (issue 11, defect 15)."""
    from connectors.jira.webhook import parse
    from .conftest import FIXTURES
    body = (FIXTURES / "jira" / "mattermost-plugin-jira" / "webhook-cloud-comment-created.json").read_bytes()
    runtime = app.extensions["vigil"]
    assert runtime.store.inbox.accept(parse({"X-Atlassian-Webhook-Identifier": "thin-1"}, body), body)
    [unread] = runtime.store.inbox.unread_deliveries()
    html = page(app)
    assert f'id="unread-{unread["id"]}"' in html and "jira:TES-41" in html
    assert "tick it (connectors/jira/SETUP.md, step 3)" in html
    assert "None set aside." in html  # unread is not failed: nothing to retry
