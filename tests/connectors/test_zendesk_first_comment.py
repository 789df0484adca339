"""A new Zendesk ticket arrives twice, as ticket.created and as ticket.comment_added: the
question is stored and decided once, whichever comes first; custom statuses lose nothing.

Bodies: the documented-shape fixtures (tests/fixtures/zendesk/PROVENANCE.md); the first
comment's comment_added body is the fixture with the ticket's description as its comment.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connectors.events import Delivery, TicketRef
from connectors.zendesk.webhook import FIRST_COMMENT_ID
from tests.conftest import FIXTURES
from tests.signing import zendesk_headers

SECRET = "zendesk-test-secret"  # tests/conftest.py settings


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "zendesk" / name).read_text())


CREATED = fixture("ticket.created.json")


def first_comment_added() -> dict[str, Any]:
    """comment_added for the comment that created CREATED's ticket (same action, same text)."""
    body = copy.deepcopy(fixture("ticket.comment_added__customer_public.json"))
    body["id"] = "0f6c1d2e-1111-4c2e-a1b9-8e4f39c71d52"
    body["detail"] = {**CREATED["detail"]}
    body["event"]["comment"]["body"] = CREATED["detail"]["description"]
    body["event"]["comment"]["id"] = "30064117800001"
    body["event"]["meta"] = CREATED["event"]["meta"]  # one action: one sequence
    return body


def deliver(runtime: Any, body: dict[str, Any], invocation: str) -> Delivery:
    raw = json.dumps(body).encode()
    headers = zendesk_headers(raw, SECRET, invocation)
    connector = runtime.connectors["zendesk"]
    delivery = connector.parse(headers, raw)
    for event in delivery.events:
        runtime.pipeline.handle(event, shadow=True)
    return delivery


def decided(runtime: Any) -> list[Any]:
    return runtime.store.operator.recent_decisions(limit=100, silent="show")


def conversation(runtime: Any) -> list[Any]:
    tickets = runtime.store.tickets
    return tickets.conversation(tickets.find_ticket(TicketRef("zendesk", "35436")))


@pytest.mark.parametrize("order", [("created", "comment"), ("comment", "created")])
def test_the_first_comment_is_stored_and_decided_once_in_either_order(runtime: Any, order: tuple) -> None:
    bodies = {"created": CREATED, "comment": first_comment_added()}
    for n, name in enumerate(order):
        delivery = deliver(runtime, bodies[name], f"inv-{n}")
        assert delivery.events[0].message.message_id == FIRST_COMMENT_ID
    (message,) = conversation(runtime)
    assert message.body == CREATED["detail"]["description"] and message.author_role == "customer"
    assert len(decided(runtime)) == 1  # the twin was recognised before deciding


def test_a_later_comment_keeps_its_own_id_and_is_kept(runtime: Any) -> None:
    deliver(runtime, CREATED, "inv-1")
    later = fixture("ticket.comment_added__customer_public.json")
    (event,) = deliver(runtime, later, "inv-2").events
    assert event.message.message_id == "30064117810589"
    assert len(conversation(runtime)) == 2


def test_the_same_text_from_someone_else_is_not_taken_for_the_description(runtime: Any) -> None:
    body = first_comment_added()
    body["event"]["comment"]["author"] = {"id": "8447388090495", "is_staff": True, "name": "Agent"}
    (event,) = deliver(runtime, body, "inv-1").events
    assert event.message.message_id == "30064117800001"


def test_a_custom_status_inside_a_category_changes_nothing_and_is_accepted(runtime: Any) -> None:
    # Custom ticket statuses: detail.status is the category; custom_status its own id.
    body = fixture("ticket.status_changed__solved.json")
    custom = {**body, "type": "zen:event-type:ticket.custom_status_changed",
              "event": {"previous": "8447320465790", "current": "19512033870749",
                        "meta": body["event"].get("meta", {})}}
    assert deliver(runtime, custom, "inv-1").events == ()
    (event,) = deliver(runtime, body, "inv-2").events
    assert (event.kind, event.status) == ("status_changed", "solved")
