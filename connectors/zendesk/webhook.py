"""Zendesk webhooks: check the signature, then translate the body into Events. Pure, no I/O.

Two bodies are accepted (HELPDESK_FACTS "Two kinds of webhook"): Zendesk's event-subscription
body (`type: zen:event-type:ticket.*`) and the trigger body printed in SETUP.md.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from connectors.base import (EARLIEST, LATEST, BadPayload, SignatureError, hmac_sha256, plausible,
                             signatures_match, storable)
from connectors.events import NOTE_MARKER, Delivery, Event, Message, Role
from connectors.plumbing import parse_time

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
INVOCATION_HEADER = "x-zendesk-webhook-invocation-id"
TRIGGER_FORMAT = "vigil.zendesk.trigger/1"  # the "format" of the SETUP.md trigger body

# Event bodies use upper-case enums, trigger placeholders the display name ("Open", "On-hold").
# On-hold is internal to Zendesk (requesters see it as Open): work is still owed, so "open".
# DELETED, ARCHIVED and SCRUBBED tickets are gone for good: "closed".
_STATUSES = {
    "new": "new", "open": "open", "pending": "pending", "hold": "open", "on-hold": "open",
    "solved": "solved", "closed": "closed", "deleted": "closed", "archived": "closed",
    "scrubbed": "closed",
}
# A ticket's first comment is its description. Zendesk sends it twice to an event
# subscription: as ticket.created (detail.description, no comment id) and as
# ticket.comment_added (with its comment id). Both get this message id, so the store and the
# pipeline keep the first to arrive and skip the other: never lost, never decided twice.
FIRST_COMMENT_ID = "description"

# {{current_user.role}} renders "End-user", "Agent" or "Admin" (and custom agent roles):
# anything that is not an end user is staff.
_END_USER_ROLES = frozenset({"end-user", "end user", "enduser"})


def verify(secret: str, max_age_seconds: int, headers: Mapping[str, str], body: bytes,
           now: datetime) -> None:
    """Raise SignatureError unless `body` carries a fresh Zendesk signature made with `secret`."""
    signature, stamp = _header(headers, SIGNATURE_HEADER), _header(headers, TIMESTAMP_HEADER)
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not stamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    signed_at = parse_time(stamp)
    if signed_at is None:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not an ISO-8601 time")
    # base64(HMAC-SHA256(secret, timestamp + raw body)), on raw bytes (HELPDESK_FACTS "Signature")
    expected = base64.b64encode(hmac_sha256(secret, stamp.encode() + body)).decode()
    if not signatures_match(expected, signature):
        raise SignatureError("signature does not match the body (wrong signing secret, "
                             "or an altered body)")
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    skew = (now - signed_at).total_seconds()
    if abs(skew) > max_age_seconds:  # old: a replay; in the future: a forged or skewed clock
        when = f"{int(skew)} s old" if skew > 0 else f"{int(-skew)} s in the future"
        raise SignatureError(f"signature timestamp is {when}; at most {max_age_seconds} s "
                             "either way is accepted")


def parse(headers: Mapping[str, str], body: bytes, bot_user_id: str = "") -> Delivery:
    """Translate a verified request into a Delivery; any other shape raises BadPayload."""
    try:
        return _parse(headers, body, str(bot_user_id or "").strip())
    except BadPayload:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        # Contract: bytes in, Delivery or BadPayload out. The readers below name the field;
        # this only catches a shape they did not foresee.
        raise BadPayload(f"unreadable Zendesk body ({type(exc).__name__})") from None


def _parse(headers: Mapping[str, str], body: bytes, bot: str) -> Delivery:
    try:
        data = _Obj(json.loads(body), "")
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadPayload("body is not JSON") from None
    if "type" in data.obj:
        events = _from_event(data, bot)
    elif "format" in data.obj:
        events = _from_trigger(data, bot)
    else:
        raise BadPayload("neither a Zendesk event (no 'type') nor the SETUP.md trigger body "
                         "(no 'format')")
    # The invocation id stays the same when Zendesk retries: the idempotency key.
    delivery_id = _header(headers, INVOCATION_HEADER) or _event_id(data)
    return storable(Delivery(source="zendesk", delivery_id=delivery_id, events=events))


def _event_id(data: "_Obj") -> str:
    value = data.obj.get("id")
    if not isinstance(value, str) or not value.strip():
        raise BadPayload(f"id: no delivery id (no {INVOCATION_HEADER} header and no event id)")
    return value.strip()


@dataclass(frozen=True)
class _Ticket:
    id: str
    subject: str
    status: str | None
    tags: tuple[str, ...]
    assignee: str | None

    def event(self, kind: str, at: datetime, **fields: Any) -> Event:
        base = dict(source="zendesk", ticket_id=self.id, kind=kind, occurred_at=at,
                    subject=self.subject, status=self.status, tags=self.tags,
                    assignee=self.assignee)
        return Event(**{**base, **fields})


Handler = Callable[["_Obj", _Ticket, datetime, str], Event]


def _from_event(data: "_Obj", bot: str) -> tuple[Event, ...]:
    handler = _HANDLERS.get(data.text("type", blank=False))
    if handler is None:  # an event we do not act on: accepted, recorded, nothing to do
        return ()
    detail = data.child("detail")
    ticket_id = detail.ident("id", required=False) or _subject_ticket(data)
    ticket = _Ticket(ticket_id, detail.text("subject", required=False) or "",
                     detail.status("status", required=False), detail.tags("tags"),
                     detail.ident("assignee_id", required=False))
    return (handler(data, ticket, data.time("time"), bot),)


def _subject_ticket(data: "_Obj") -> str:
    subject = data.obj.get("subject")
    number = subject.removeprefix("zen:ticket:") if isinstance(subject, str) else ""
    if number != subject and number.isascii() and number.isdigit():
        return number
    raise BadPayload("detail.id: missing (and subject is not zen:ticket:<id>)")


def _comment_added(data: "_Obj", ticket: _Ticket, at: datetime, bot: str) -> Event:
    # Bodies can arrive truncated (HELPDESK_FACTS, PipedreamHQ/pipedream#18260): fetch the
    # full comment from the API before quoting it at length.
    comment = data.child("event").child("comment")
    author = comment.child("author")
    author_id, text = author.ident("id"), comment.text("body")
    role: Role = "analyst" if author.flag("is_staff") else "customer"
    detail = data.child("detail")
    first = _same_text(text, detail.text("description", required=False)) and author_id in (
        detail.ident("requester_id", required=False), detail.ident("submitter_id", required=False))
    message_id = FIRST_COMMENT_ID if first else comment.ident("id")
    message = Message(_role(role, text, bot, author_id), comment.flag("is_public"), text, at,
                      message_id, author_id)
    return ticket.event("message", at, message=message)


def _same_text(comment: str, description: str | None) -> bool:
    """Whether a comment is the ticket's description (its first comment), spacing aside."""
    return description is not None and " ".join(comment.split()) == " ".join(description.split())


def _status_changed(data: "_Obj", ticket: _Ticket, at: datetime, bot: str) -> Event:
    change = data.child("event")
    return ticket.event("status_changed", at, status=change.status("current"),
                        previous_status=change.status("previous", required=False))


def _assigned(data: "_Obj", ticket: _Ticket, at: datetime, bot: str) -> Event:
    # Documented as strings, shown as numbers in some examples; null means unassigned.
    return ticket.event("assigned", at,
                        assignee=data.child("event").ident("current", required=False))


def _created(data: "_Obj", ticket: _Ticket, at: datetime, bot: str) -> Event:
    detail = data.child("detail")
    requester, text = detail.ident("requester_id", required=False), detail.text("description")
    public = detail.flag("is_public", required=False)
    message = Message(_role("customer", text, bot, requester), public is not False, text,
                      detail.time("created_at", required=False) or at, FIRST_COMMENT_ID, requester)
    return ticket.event("created", at, message=message)


# Not handled, on purpose: ticket.custom_status_changed. With custom ticket statuses, the
# plugin's status is the status category (detail.status: NEW, OPEN, PENDING, HOLD, SOLVED);
# a change of category also sends ticket.status_changed, and a change within one category
# (Open -> "Awaiting parts") changes nothing the rules read. Accepted and recorded, no event.
_HANDLERS: dict[str, Handler] = {
    "zen:event-type:ticket.comment_added": _comment_added,
    "zen:event-type:ticket.status_changed": _status_changed,
    "zen:event-type:ticket.agent_assignment_changed": _assigned,
    "zen:event-type:ticket.created": _created,
}


def _from_trigger(data: "_Obj", bot: str) -> tuple[Event, ...]:
    fmt = data.text("format", blank=False)
    if fmt != TRIGGER_FORMAT:
        raise BadPayload(f"format: {fmt[:40]!r} is not {TRIGGER_FORMAT!r}; paste the body "
                         "from connectors/zendesk/SETUP.md again")
    ticket, comment, updater = data.child("ticket"), data.child("comment"), data.child("updater")
    at = ticket.time("updated_at")
    facts = _Ticket(ticket.ident("id"), ticket.text("subject", required=False) or "",
                    ticket.status("status", required=False, custom=True), ticket.tags("tags"), None)
    author_id, text = comment.ident("author_id"), comment.text("body")
    # current_user is whoever made the update that added the comment: normally its author.
    # Posted on someone else's behalf, the author is the customer only if they asked.
    updater_id = updater.ident("id", required=False)
    end_user = updater.text("role", blank=False).strip().lower() in _END_USER_ROLES
    if updater_id and updater_id != author_id:
        end_user = author_id == ticket.ident("requester_id", required=False)
    role: Role = "customer" if end_user else "analyst"
    if bot and updater_id == bot:
        role = "plugin"
    message = Message(_role(role, text, bot, author_id), comment.flag("public"), text, at,
                      comment.ident("id"), author_id)
    return (facts.event("message", at, message=message),)


def _role(role: Role, text: str, bot: str, author_id: str | None) -> Role:
    """Return "plugin" for the plugin's own notes, so they never come back as questions."""
    return "plugin" if is_plugin(text, bot, author_id) else role


def is_plugin(text: str, bot: str, author_id: str | None) -> bool:
    """Whether the plugin wrote this comment: it carries NOTE_MARKER, or the bot user wrote it."""
    return NOTE_MARKER in text or bool(bot and author_id == bot)


class _Obj:
    """One JSON object, read field by field; every error names the field's path."""

    def __init__(self, obj: Any, path: str) -> None:
        if not isinstance(obj, dict):
            raise BadPayload(f"{path or 'body'}: expected a JSON object, got {_kind(obj)}")
        self.obj, self.path = obj, path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, required: bool) -> Any:
        value = self.obj.get(key)
        if value is None and required:
            raise BadPayload(f"{self._name(key)}: missing")
        return value

    def child(self, key: str) -> "_Obj":
        return _Obj(self._get(key, True), self._name(key))

    def text(self, key: str, required: bool = True, blank: bool = True) -> Any:
        value = self._get(key, required)
        if value is not None and not isinstance(value, str):
            raise BadPayload(f"{self._name(key)}: expected a string, got {_kind(value)}")
        if required and not blank and not (value or "").strip():
            raise BadPayload(f"{self._name(key)}: empty")
        return value

    def flag(self, key: str, required: bool = True) -> Any:
        value = self._get(key, required)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"  # trigger placeholders render as text
        if value is not None and not isinstance(value, bool):
            raise BadPayload(f"{self._name(key)}: expected true or false, got {_kind(value)}")
        return value

    def ident(self, key: str, required: bool = True) -> Any:
        value = self._get(key, required)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        text = value.strip() if isinstance(value, str) else None
        if text == "" and not required:
            return None
        if value is not None and not (text and text.isascii() and text.isdigit()):
            raise BadPayload(f"{self._name(key)}: expected a numeric id, got {_kind(value)}")
        return text

    def time(self, key: str, required: bool = True) -> Any:
        text = self.text(key, required, blank=not required)
        when = parse_time(text) if text else None
        if text and when is None:
            raise BadPayload(f"{self._name(key)}: not an ISO-8601 time")
        if when and not plausible(when):
            raise BadPayload(f"{self._name(key)}: {text.strip()[:40]!r} is not between "
                             f"{EARLIEST.year} and {LATEST.year}")
        return when

    def status(self, key: str, required: bool = True, custom: bool = False) -> str | None:
        """The ticket status; `custom`: the text may be a custom status's own name."""
        text = self.text(key, required, blank=not required)
        if not text:
            return None
        status = _STATUSES.get(text.strip().lower())
        if status is None and custom:
            # With custom ticket statuses, {{ticket.status}} can render an account's own
            # status name ("Awaiting parts"), whose category the body does not say. The
            # comment matters more than the status: keep it, status unknown.
            log.info("Zendesk trigger body: custom status %r read as unknown", text[:48])
            return None
        if status is None:
            raise BadPayload(f"{self._name(key)}: unknown ticket status {text[:20]!r}")
        return status

    def tags(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if isinstance(value, str):  # {{ticket.tags}} renders space-separated
            return tuple(value.split())
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(tag, str) for tag in value)):
            raise BadPayload(f"{self._name(key)}: expected a list of strings")
        return tuple(value or ())


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # werkzeug Headers are case-insensitive; a plain dict may not be
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value.strip() if isinstance(value, str) else ""
