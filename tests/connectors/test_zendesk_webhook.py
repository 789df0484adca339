"""Zendesk webhooks: the signature first, then every body we act on, then bodies we must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from connectors.base import BadPayload, ConfigurationError, SignatureError
from connectors.zendesk import ZendeskConnector
from connectors.zendesk.webhook import FIRST_COMMENT_ID, TRIGGER_FORMAT
from connectors.events import NOTE_MARKER, Delivery
from connectors.zendesk.settings import ZendeskSettings

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "zendesk"
SETUP = ROOT / "connectors" / "zendesk" / "SETUP.md"
# Zendesk's published secret for test webhooks; real webhooks use the same scheme.
SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
BOT = "8447388090999"  # the bot user in ticket.comment_added__bot_note.json
STAMP = "2025-01-08T14:25:30Z"
NOW = datetime(2025, 1, 8, 14, 25, 31, tzinfo=timezone.utc)
INVOCATION = "01HANA1YWAHFGAVH1E673SG304"
UTC = timezone.utc
EVENT_FIXTURES = sorted(p.name for p in FIXTURES.glob("ticket.*.json"))


def sign(body: bytes, stamp: str = STAMP, secret: str = SECRET) -> str:
    """Sign as Zendesk does, independently of the code under test."""
    mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def signed(body: bytes, stamp: str = STAMP, invocation: str | None = INVOCATION) -> Headers:
    headers = Headers({"X-Zendesk-Webhook-Signature": sign(body, stamp),
                       "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                       "X-Zendesk-Account-Id": "12514403",
                       "X-Zendesk-Webhook-Id": "01HAN96XNH1J7DY8D7RZ22QMT9"})
    if invocation:
        headers["X-Zendesk-Webhook-Invocation-Id"] = invocation
    return headers


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> dict[str, Any]:
    return json.loads(raw(name))


def dump(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.fixture
def zendesk() -> ZendeskConnector:
    return ZendeskConnector(ZendeskSettings(webhook_secret=SECRET, bot_user_id=BOT))


def deliver(zendesk: ZendeskConnector, body: bytes, **headers: Any) -> Delivery:
    """Verify then parse, as the route does."""
    signed_headers = signed(body, **headers)
    zendesk.verify(signed_headers, body, NOW)
    return zendesk.parse(signed_headers, body)


# --- configuration ------------------------------------------------------------------------

def test_refuses_to_start_without_a_webhook_secret() -> None:
    with pytest.raises(ConfigurationError, match="VIGIL_ZENDESK_WEBHOOK_SECRET"):
        ZendeskConnector(ZendeskSettings())


def test_starts_without_api_credentials_for_shadow_mode() -> None:
    assert ZendeskConnector(ZendeskSettings(webhook_secret=SECRET)).name == "zendesk"


# --- signature ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", EVENT_FIXTURES)
def test_accepts_a_fresh_correct_signature(zendesk: ZendeskConnector, name: str) -> None:
    body = raw(name)
    zendesk.verify(signed(body), body, NOW)


def test_reads_headers_whatever_their_case(zendesk: ZendeskConnector) -> None:
    body = raw(EVENT_FIXTURES[0])
    plain = {"x-zendesk-webhook-signature": sign(body),
             "X-ZENDESK-WEBHOOK-SIGNATURE-TIMESTAMP": STAMP}
    zendesk.verify(plain, body, NOW)


def test_accepts_a_naive_utc_now(zendesk: ZendeskConnector) -> None:
    body = b"{}"
    zendesk.verify(signed(body), body, NOW.replace(tzinfo=None))


@pytest.mark.parametrize("tamper", ["secret", "body", "timestamp"])
def test_refuses_a_signature_that_does_not_match(zendesk: ZendeskConnector, tamper: str) -> None:
    body = raw("ticket.comment_added__customer_public.json")
    headers = signed(body)
    if tamper == "secret":
        headers["X-Zendesk-Webhook-Signature"] = sign(body, secret="another secret")
    elif tamper == "body":
        body = body.replace(b"It failed", b"It worked")
    else:  # a replay with a fresh timestamp but the old signature
        headers["X-Zendesk-Webhook-Signature-Timestamp"] = "2025-01-08T14:25:31Z"
    with pytest.raises(SignatureError, match="does not match") as refused:
        zendesk.verify(headers, body, NOW)
    assert SECRET not in str(refused.value)
    assert sign(body) not in str(refused.value)  # never show the expected signature


@pytest.mark.parametrize("missing", ["X-Zendesk-Webhook-Signature",
                                     "X-Zendesk-Webhook-Signature-Timestamp"])
def test_refuses_a_request_without_signature_headers(zendesk: ZendeskConnector,
                                                     missing: str) -> None:
    headers = signed(b"{}")
    del headers[missing]
    with pytest.raises(SignatureError, match=f"missing {missing.lower()}"):
        zendesk.verify(headers, b"{}", NOW)


def test_refuses_an_unparseable_timestamp(zendesk: ZendeskConnector) -> None:
    with pytest.raises(SignatureError, match="not an ISO-8601 time"):
        zendesk.verify(signed(b"{}", stamp="yesterday at noon"), b"{}", NOW)


@pytest.mark.parametrize("offset, fresh", [(-301, False), (-299, True), (299, True),
                                           (301, False), (-86400, False)])
def test_refuses_stale_and_future_timestamps(zendesk: ZendeskConnector, offset: int,
                                             fresh: bool) -> None:
    stamp = (NOW + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = signed(b"{}", stamp=stamp)
    if fresh:
        zendesk.verify(headers, b"{}", NOW)
    else:
        with pytest.raises(SignatureError, match="at most 300 s"):
            zendesk.verify(headers, b"{}", NOW)


# --- event-subscription bodies ------------------------------------------------------------

def test_customer_comment_becomes_a_customer_message(zendesk: ZendeskConnector) -> None:
    delivery = deliver(zendesk, raw("ticket.comment_added__customer_public.json"))
    assert delivery.source == "zendesk" and delivery.delivery_id == INVOCATION
    (event,) = delivery.events
    assert (event.source, event.ticket_id, event.kind) == ("zendesk", "35436", "message")
    assert event.occurred_at == datetime(2025, 1, 8, 14, 25, 30, 123456, tzinfo=UTC)
    assert event.subject == "Nightly export fails with E1042"
    assert (event.status, event.tags, event.assignee) == (
        "open", ("export", "billing_plan_pro"), "8447388090495")
    message = event.message
    assert (message.author_role, message.public, message.message_id, message.author_id) == (
        "customer", True, "30064117810589", "8447388090494")
    assert message.body.startswith("It failed again tonight.")
    assert message.created_at == event.occurred_at


def test_staff_comment_becomes_a_private_analyst_message(zendesk: ZendeskConnector) -> None:
    (event,) = deliver(zendesk, raw("ticket.comment_added__agent_private.json")).events
    assert (event.message.author_role, event.message.public) == ("analyst", False)
    assert event.message.author_id == "8447388090495"


def test_plugin_note_is_recognised_as_the_plugins_own(zendesk: ZendeskConnector) -> None:
    (event,) = deliver(zendesk, raw("ticket.comment_added__bot_note.json")).events
    assert event.message.author_role == "plugin"


def test_bot_author_alone_marks_the_plugin(zendesk: ZendeskConnector) -> None:
    data = load("ticket.comment_added__bot_note.json")
    data["event"]["comment"]["body"] = "Suggested answer without the marker"
    (event,) = deliver(zendesk, dump(data)).events
    assert event.message.author_role == "plugin"


def test_note_marker_alone_marks_the_plugin() -> None:
    unconfigured = ZendeskConnector(ZendeskSettings(webhook_secret=SECRET))  # no bot user id
    data = load("ticket.comment_added__customer_public.json")
    data["event"]["comment"]["body"] += f"\n{NOTE_MARKER}"
    (event,) = deliver(unconfigured, dump(data)).events
    assert event.message.author_role == "plugin"
    plain = deliver(unconfigured, raw("ticket.comment_added__customer_public.json"))
    assert plain.events[0].message.author_role == "customer"


def test_created_ticket_brings_the_description_as_the_requesters_message(
        zendesk: ZendeskConnector) -> None:
    (event,) = deliver(zendesk, raw("ticket.created.json")).events
    assert (event.kind, event.status, event.assignee) == ("created", "new", None)
    message = event.message
    assert (message.author_role, message.author_id, message.public, message.message_id) == (
        "customer", "8447388090494", True, FIRST_COMMENT_ID)
    assert message.body.startswith("Hi, since this morning our nightly export fails")
    assert message.created_at == datetime(2025, 1, 8, 10, 12, 7, tzinfo=UTC)


def test_status_change_carries_both_statuses(zendesk: ZendeskConnector) -> None:
    (event,) = deliver(zendesk, raw("ticket.status_changed__solved.json")).events
    assert (event.kind, event.status, event.previous_status, event.message) == (
        "status_changed", "solved", "open", None)


@pytest.mark.parametrize("zendesk_status, ours", [
    ("NEW", "new"), ("OPEN", "open"), ("PENDING", "pending"), ("HOLD", "open"),
    ("SOLVED", "solved"), ("CLOSED", "closed"), ("DELETED", "closed"), ("ARCHIVED", "closed"),
    ("SCRUBBED", "closed")])
def test_statuses_are_normalised(zendesk: ZendeskConnector, zendesk_status: str,
                                 ours: str) -> None:
    data = load("ticket.status_changed__solved.json")
    data["event"]["current"] = data["detail"]["status"] = zendesk_status
    (event,) = deliver(zendesk, dump(data)).events
    assert event.status == ours


@pytest.mark.parametrize("current, assignee", [("8447388090495", "8447388090495"),
                                               (8447388090496, "8447388090496"),
                                               (None, None)])
def test_assignment_change_names_the_new_assignee(zendesk: ZendeskConnector, current: Any,
                                                  assignee: str | None) -> None:
    data = load("ticket.agent_assignment_changed.json")
    data["event"]["current"] = current  # strings as documented; numbers in some examples
    (event,) = deliver(zendesk, dump(data)).events
    assert (event.kind, event.assignee, event.ticket_id) == ("assigned", assignee, "35436")


def test_events_we_do_not_act_on_give_an_empty_delivery(zendesk: ZendeskConnector) -> None:
    delivery = deliver(zendesk, raw("ticket.priority_changed.json"))
    assert (delivery.delivery_id, delivery.events) == (INVOCATION, ())
    user_event = {"type": "zen:event-type:user.active_changed", "account_id": 12514403,
                  "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0", "time": "2099-07-04T05:33:18Z",
                  "zendesk_event_version": "2022-06-20", "subject": "zen:user:6596848315901",
                  "detail": {"id": "6596848315901", "role": "end-user"},
                  "event": {"current": False, "previous": True}}
    assert deliver(zendesk, dump(user_event)).events == ()


def test_delivery_id_falls_back_to_the_event_id(zendesk: ZendeskConnector) -> None:
    body = raw("ticket.status_changed__solved.json")
    delivery = deliver(zendesk, body, invocation=None)
    assert delivery.delivery_id == "a8b9c1d2-3e4f-5a6b-7c8d-9e0f1a2b3c4d"


def test_ticket_id_falls_back_to_the_subject(zendesk: ZendeskConnector) -> None:
    data = load("ticket.status_changed__solved.json")
    del data["detail"]["id"]
    assert deliver(zendesk, dump(data)).events[0].ticket_id == "35436"


# --- malformed bodies ---------------------------------------------------------------------

def _without(name: str, *path: str) -> bytes:
    data = load(name)
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return dump(data)


def _with(name: str, value: Any, *path: str) -> bytes:
    data = load(name)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return dump(data)


COMMENT = "ticket.comment_added__customer_public.json"
MALFORMED = [
    (b"\xff\xfe\x00not json", "body is not JSON"),
    (b"", "body is not JSON"),
    (b"<html>502 Bad Gateway</html>", "body is not JSON"),
    (b'[{"type": "zen:event-type:ticket.comment_added"}]',
     "body: expected a JSON object, got an array"),
    (b'"zen:event-type:ticket.created"', "body: expected a JSON object, got a string"),
    (b'{"account_id": 1}', "neither a Zendesk event"),
    (_without(COMMENT, "detail"), "detail: missing"),
    (_with(COMMENT, "35436", "detail"), "detail: expected a JSON object, got a string"),
    (_with(COMMENT, 42, "type"), "type: expected a string, got a number"),
    (_with(COMMENT, 1736331930, "time"), "time: expected a string, got a number"),
    (_with(COMMENT, "8 January, 14:25", "time"), "time: not an ISO-8601 time"),
    (_with(COMMENT, {"id": 1}, "detail", "id"), "detail.id: expected a numeric id, got an object"),
    (_with(COMMENT, "ESCALATED", "detail", "status"), "detail.status: unknown ticket status"),
    (_with(COMMENT, [1, 2], "detail", "tags"), "detail.tags: expected a list of strings"),
    (_without(COMMENT, "event"), "event: missing"),
    (_without(COMMENT, "event", "comment", "body"), "event.comment.body: missing"),
    (_with(COMMENT, "yes", "event", "comment", "is_public"),
     "event.comment.is_public: expected true or false, got a string"),
    (_with(COMMENT, -5, "event", "comment", "author", "id"),
     "event.comment.author.id: expected a numeric id, got a number"),
    (_with(COMMENT, None, "event", "comment", "author", "is_staff"),
     "event.comment.author.is_staff: missing"),
    (_with("ticket.status_changed__solved.json", "", "event", "current"), "event.current: empty"),
    (_without("ticket.created.json", "detail", "description"), "detail.description: missing"),
    (_without(COMMENT, "id"), "id: no delivery id"),
]


@pytest.mark.parametrize("body, reason", MALFORMED, ids=[r for _, r in MALFORMED])
def test_malformed_bodies_are_refused_with_the_field_named(zendesk: ZendeskConnector,
                                                           body: bytes, reason: str) -> None:
    with pytest.raises(BadPayload, match=re.escape(reason)):
        zendesk.parse(signed(body, invocation=None if "no delivery id" in reason else INVOCATION),
                      body)


def _mutations(data: Any, rng: random.Random) -> Any:
    """Replace or drop one random leaf or branch with a value of the wrong type."""
    junk = [None, 0, -1, 1.5, True, "", "x", [], {}, [None], {"id": None}, "9" * 30]
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            paths.append((node, key))
            if isinstance(value, (dict, list)):
                walk(value)

    walk(data)
    node, key = rng.choice(paths)
    if isinstance(node, dict) and rng.random() < 0.3:
        del node[key]
    else:
        node[key] = rng.choice(junk)
    return data


def test_any_input_gives_a_delivery_or_a_named_bad_payload(zendesk: ZendeskConnector) -> None:
    rng = random.Random(20250108)
    bodies = [bytes(rng.randrange(256) for _ in range(rng.randrange(40))) for _ in range(50)]
    bodies += [b"[" * 100_000, b'{"type": ' * 50_000]
    for name in EVENT_FIXTURES:
        for _ in range(120):
            bodies.append(dump(_mutations(load(name), rng)))
    for _ in range(120):
        bodies.append(dump(_mutations(json.loads(render()), rng)))
    for body in bodies:
        try:
            result = zendesk.parse(signed(body), body)
        except BadPayload as refused:
            # The readers name the field; the catch-all safety net must never be needed.
            assert "unreadable Zendesk body" not in str(refused), body
        else:
            assert isinstance(result, Delivery)


# --- the trigger body printed in SETUP.md ---------------------------------------------------

# What each placeholder renders to for a customer's public comment.
RENDERED = {
    "ticket.id": "35436",
    "ticket.title": "Nightly export fails with E1042",
    "ticket.status": "Open",
    "ticket.tags": "export billing_plan_pro",
    "ticket.requester.id": "8447388090494",
    "ticket.updated_at_with_timestamp": "2025-01-08T14:25Z",
    "ticket.latest_comment.id": "30064117810589",
    "ticket.latest_comment.value": "Is there a setting so the export retries?",
    "ticket.latest_comment.author.id": "8447388090494",
    "ticket.latest_comment.is_public": "true",
    "current_user.id": "8447388090494",
    "current_user.role": "End-user",
}
PLACEHOLDER = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def trigger_template() -> str:
    """Return the JSON block that SETUP.md tells the admin to paste."""
    text = SETUP.read_text()
    marker = text.index("<!-- vigil:trigger-body")
    block = re.search(r"```json\n(.*?)```", text[marker:], re.S)
    assert block, "SETUP.md lost its trigger body"
    return block.group(1)


def render(**values: str) -> bytes:
    rendered = {**RENDERED, **values}
    return PLACEHOLDER.sub(lambda m: rendered[m.group(1)], trigger_template()).encode()


def test_setup_trigger_body_uses_exactly_the_placeholders_the_tests_know() -> None:
    assert set(PLACEHOLDER.findall(trigger_template())) == set(RENDERED)
    assert json.loads(render())["format"] == TRIGGER_FORMAT


def test_setup_trigger_body_gives_a_customer_message(zendesk: ZendeskConnector) -> None:
    delivery = deliver(zendesk, render())
    assert delivery.delivery_id == INVOCATION
    (event,) = delivery.events
    assert (event.ticket_id, event.kind, event.status, event.subject, event.tags) == (
        "35436", "message", "open", "Nightly export fails with E1042",
        ("export", "billing_plan_pro"))
    assert event.occurred_at == datetime(2025, 1, 8, 14, 25, tzinfo=UTC)
    message = event.message
    assert (message.author_role, message.public, message.body, message.message_id,
            message.author_id) == ("customer", True, "Is there a setting so the export retries?",
                                   "30064117810589", "8447388090494")


@pytest.mark.parametrize("status", ["Awaiting parts", "Offen"])
def test_a_custom_or_translated_status_name_keeps_the_comment(zendesk: ZendeskConnector,
                                                             status: str) -> None:
    # With custom ticket statuses {{ticket.status}} can render the account's own name, whose
    # category the body does not carry: the comment is kept, its status unknown.
    (event,) = deliver(zendesk, render(**{"ticket.status": status})).events
    assert (event.kind, event.status) == ("message", None)
    assert event.message.body == "Is there a setting so the export retries?"


AGENT = "8447388090495"


@pytest.mark.parametrize("values, role, public", [
    ({"current_user.role": "Agent", "current_user.id": AGENT,
      "ticket.latest_comment.author.id": AGENT, "ticket.latest_comment.is_public": "false"},
     "analyst", False),
    ({"current_user.role": "Admin", "current_user.id": AGENT,
      "ticket.latest_comment.author.id": AGENT}, "analyst", True),
    ({"current_user.role": "Agent", "current_user.id": BOT, "ticket.latest_comment.author.id": BOT,
      "ticket.latest_comment.is_public": "false"}, "plugin", False),
    ({"current_user.role": "Admin", "current_user.id": BOT}, "plugin", True),
    ({"ticket.latest_comment.value": f"Suggested answer {NOTE_MARKER}"}, "plugin", True),
    # posted on another's behalf: the author is the customer only if they asked
    ({"current_user.role": "Admin", "current_user.id": AGENT}, "customer", True),
    ({"current_user.role": "End-user", "current_user.id": "8447388090411",
      "ticket.latest_comment.author.id": AGENT}, "analyst", True),
])
def test_setup_trigger_body_roles(zendesk: ZendeskConnector, values: dict[str, str], role: str,
                                  public: bool) -> None:
    (event,) = deliver(zendesk, render(**values)).events
    assert (event.message.author_role, event.message.public) == (role, public)


@pytest.mark.parametrize("rendered, ours", [("On-hold", "open"), ("Pending", "pending"),
                                            ("Solved", "solved"), ("New", "new")])
def test_setup_trigger_body_status_names(zendesk: ZendeskConnector, rendered: str,
                                         ours: str) -> None:
    assert deliver(zendesk, render(**{"ticket.status": rendered})).events[0].status == ours


@pytest.mark.parametrize("values, invocation, reason", [
    ({}, None, "id: no delivery id"),
    ({"ticket.latest_comment.is_public": ""}, INVOCATION, "comment.public: expected true or false"),
    ({"current_user.role": ""}, INVOCATION, "updater.role: empty"),
    ({"ticket.updated_at_with_timestamp": "January 8, 2025 14:25"}, INVOCATION,
     "ticket.updated_at: not an ISO-8601 time"),
])
def test_setup_trigger_body_refusals(zendesk: ZendeskConnector, values: dict[str, str],
                                     invocation: str | None, reason: str) -> None:
    body = render(**values)
    with pytest.raises(BadPayload, match=re.escape(reason)):
        zendesk.parse(signed(body, invocation=invocation), body)


def test_an_older_trigger_body_is_refused_with_advice(zendesk: ZendeskConnector) -> None:
    body = render().replace(TRIGGER_FORMAT.encode(), b"vigil.zendesk.trigger/0")
    with pytest.raises(BadPayload, match="SETUP.md"):
        zendesk.parse(signed(body), body)


def test_setup_names_every_setting_event_and_the_route() -> None:
    text = SETUP.read_text()
    for name in ("VIGIL_ZENDESK_WEBHOOK_SECRET", "VIGIL_ZENDESK_URL", "VIGIL_ZENDESK_EMAIL",
                 "VIGIL_ZENDESK_TOKEN", "VIGIL_ZENDESK_BOT_USER_ID", "/webhooks/zendesk",
                 "zen:event-type:ticket.comment_added", "zen:event-type:ticket.created",
                 "zen:event-type:ticket.status_changed",
                 "zen:event-type:ticket.agent_assignment_changed"):
        assert name in text, name


@pytest.mark.parametrize("offset, says", [(-301, "301 s old"), (301, "301 s in the future")])
def test_a_refused_timestamp_says_whether_it_is_old_or_in_the_future(zendesk: ZendeskConnector, offset: int,
                                                                      says: str) -> None:
    """Issue 11 defect 15: a timestamp 301 s ahead was reported as "-300 s away"."""
    stamp = (NOW + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(SignatureError, match=says):
        zendesk.verify(signed(b"{}", stamp=stamp), b"{}", NOW)
