"""Verify and translate Jira webhooks: pure functions of (headers, raw body), no I/O."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timezone
from typing import Any, Mapping

from connectors.base import (EARLIEST, LATEST, BadPayload, SignatureError, hmac_sha256, plausible,
                             signatures_match, storable)
from connectors.events import NOTE_MARKER, RESOLVED_STATUSES, Delivery, Event, Message, Role, Unread
from connectors.plumbing import parse_time

log = logging.getLogger("vigil.connectors.jira")

SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"

# Answered and recorded, never acted on (and never an error: Jira must not retry them).
IGNORED_EVENTS = frozenset({
    "jira:issue_deleted", "comment_deleted", "issuelink_created", "issuelink_deleted",
    "project_created", "project_updated", "project_deleted", "worklog_created",
    "worklog_updated", "worklog_deleted", "attachment_created", "attachment_deleted",
    "issue_property_set", "issue_property_deleted", "user_created", "user_updated",
    "user_deleted", "sprint_created", "sprint_started", "sprint_closed", "sprint_updated",
    "sprint_deleted", "board_created", "board_updated", "board_deleted",
    "jira:version_created", "jira:version_released", "jira:version_updated",
    "jira:version_deleted",
})

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_COMMENT_SELF = re.compile(r"/rest/api/\d+/issue/\d+/comment/")
_IDENTITY_KEYS = ("accountId", "key", "name")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise SignatureError unless X-Hub-Signature is the HMAC-SHA256 of the raw body."""
    # Jira signs only the body: there is no signed timestamp to bound replays with
    # (HELPDESK_FACTS "Signature"), so a replay is caught later by delivery-id dedup.
    given = headers.get(SIGNATURE_HEADER)
    if not given:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    match = _SIGNATURE.fullmatch(given.strip())
    if not match:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header (expected sha256=<hex>)")
    expected = hmac_sha256(secret, body).hex()
    if not signatures_match(expected, match.group(1).lower()):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")


def delivery_id(headers: Mapping[str, str], body: bytes) -> str:
    """Return Jira Cloud's delivery identifier, or a hash of the body where there is none."""
    # Cloud keeps X-Atlassian-Webhook-Identifier across retries (HELPDESK_FACTS "Headers").
    # Server/Data Center sends no such header; a retry re-sends the same bytes, while two
    # different events differ at least in `timestamp`, so the body hash is a stable key.
    given = (headers.get(DELIVERY_HEADER) or "").strip()
    return given or "sha256:" + hashlib.sha256(body).hexdigest()


def parse(headers: Mapping[str, str], body: bytes, *,
                   bot_account_id: str = "") -> Delivery:
    """Translate a verified Jira webhook into a Delivery; BadPayload names a bad field."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadPayload(f"body is not JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise BadPayload("body: expected a JSON object")
    event_name = _get(data, "webhookEvent", str, required=True)
    handler = HANDLERS.get(event_name)
    unread = None
    if handler is None:
        if event_name not in IGNORED_EVENTS:
            log.warning("ignoring unsupported Jira webhook event %r", event_name)
        events: list[Event] = []
    else:
        if event_name.startswith("jira:issue_"):
            _ticket_key(data), _occurred_at(data)  # required even if nothing we use changed
        events = handler(data, bot_account_id)
        if not events and event_name in _COMMENT_EVENTS:
            unread = _unread_comment(data)
            log.info("%s", unread.why)
    return storable(Delivery(source="jira", delivery_id=delivery_id(headers, body),
                             events=tuple(events), unread=unread))


_COMMENT_EVENTS = ("comment_created", "comment_updated")


def _unread_comment(data: dict) -> Unread:
    """Why a comment event gave no message, and how to make sure the comment still counts.

    What comment_created carries: Atlassian documents the comment events
    (developer.atlassian.com/cloud/jira/platform/webhooks/, "Available webhook events") but no
    payload of their own; real Cloud bodies (tests/fixtures/jira/mattermost-plugin-jira/
    webhook-cloud-comment-created.json) hold `comment` and an `issue` with only id, key and
    summary, issue type, project, assignee, priority and status: no reporter. Old Server bodies
    have no `issue` at all (webhook-server-comment-created.json). The comment also arrives as
    jira:issue_updated (issue_commented) with the whole issue, which Vigil reads instead; but a
    webhook subscribed to comment events alone never sends that, and Atlassian has announced
    that jira:issue_* bodies will stop carrying comments
    (developer.atlassian.com/cloud/jira/platform/deprecation-notice-removal-of-comment-object-data-in-jira-issue-webhooks/).
    So the body is stored with this reason, and `vigil deliveries` and the dashboard list it
    when no twin came for its ticket.
    """
    comment = data["comment"] if isinstance(data.get("comment"), dict) else {}
    key = _get(data, "issue.key", str) if isinstance(data.get("issue"), dict) else None
    what = f"{data['webhookEvent']} of comment {comment.get('id', '?')}" + (f" on {key}" if key else "")
    lacks = "names no reporter, so whether its author is the customer is unknown" if key else \
        "names no issue key"
    return Unread(key or "", f"{what} left unread: the body {lacks}. Vigil reads the comment from its "
                             "jira:issue_updated twin (issue_commented, issue_comment_edited); if the webhook is not subscribed "
                             "to Issue: updated, tick it (connectors/jira/SETUP.md, step 3), or such "
                             "comments are never read.")


# --- one handler per event ----------------------------------------------------------------

def _comment_events(data: dict, bot_id: str) -> list[Event]:
    """comment_created / comment_updated: the comment, if this body can stand on its own."""
    if data.get("issue") is None:
        # Old Server bodies post comment_created without `issue` (fixture
        # webhook-server-comment-created.json). comment.self names only the numeric issue id
        # (".../issue/10013/comment/10082"), not the key: using it would file the comment
        # under a second ticket and defeat the (ticket, message_id) dedup. The same comment
        # arrives as jira:issue_updated/issue_commented with the full issue: that one counts.
        if _COMMENT_SELF.search(_get(data, "comment.self", str) or ""):
            return []
        raise BadPayload(f"{data['webhookEvent']}: no issue key (no 'issue', no comment.self)")
    message = _comment_message(data, bot_id)
    return [_event(data, "message", message=message)] if message else []


def _created_event(data: dict, bot_id: str) -> list[Event]:
    """jira:issue_created: the description becomes the reporter's first message."""
    fields = _fields(data)
    description = _get(fields, "description", str, where="issue.fields.description")
    message = None
    if description and description.strip():
        reporter = _get(fields, "reporter", dict, where="issue.fields.reporter") or {}
        # The reporter is the customer (the brief's model of a ticket); only our own bot
        # or a body carrying our marker is "plugin" (loop prevention, HELPDESK_FACTS).
        role: Role = "plugin" if _is_plugin(reporter, description, bot_id) else "customer"
        message = Message(
            author_role=role, public=True, body=description,
            created_at=_jira_time(fields.get("created")) or _occurred_at(data),
            message_id="description", author_id=_identity(reporter))
    return [_event(data, "created", message=message)]


def _updated_events(data: dict, bot_id: str) -> list[Event]:
    """jira:issue_updated: status and assignee changes from the changelog, then a comment."""
    kind = _get(data, "issue_event_type_name", str)  # absent in old Server bodies
    items = _get(data, "changelog.items", list) or []
    if not all(isinstance(item, dict) for item in items):
        raise BadPayload("changelog.items: expected a list of objects")
    by_field = {str(item.get("field") or "").lower(): item for item in items}
    events = []
    status = _status_change(data, by_field)
    if status:
        events.append(status)
    if "assignee" in by_field:
        item = by_field["assignee"]
        # tmpToAccountId is the accountId on Cloud, where `to` may still be a username.
        assignee = item.get("tmpToAccountId") or item.get("to")
        events.append(_event(data, "assigned", assignee=str(assignee) if assignee else None))
    elif kind == "issue_assigned":
        # issue_assigned with an empty changelog (webhook-issue-assigned-empty-changelog):
        # the current assignee is the news.
        events.append(_event(data, "assigned", assignee=_identity(_fields(data).get("assignee"))))
    # A comment rides along on issue_commented / issue_comment_edited (and, in old Server
    # bodies, on jira:issue_updated with no event type). It is also sent as comment_created:
    # both give the SAME message_id (the comment id) on the same ticket key, so the store's
    # uniqueness on (ticket, message_id) keeps one (HELPDESK_FACTS "Events": count it once).
    if data.get("comment") is not None and kind != "issue_comment_deleted":
        message = _comment_message(data, bot_id)
        if message:
            events.append(_event(data, "message", message=message))
    return events


HANDLERS = {
    "comment_created": _comment_events,
    "comment_updated": _comment_events,  # an edit keeps its id: the store keeps one copy
    "jira:issue_created": _created_event,
    "jira:issue_updated": _updated_events,
}


# --- comments and roles -------------------------------------------------------------------

def _comment_message(data: dict, bot_id: str) -> Message | None:
    """Build the Message for data['comment'], or None when its author's role is unknowable."""
    comment = _get(data, "comment", dict, required=True)
    comment_id = _get(comment, "id", (str, int), required=True, where="comment.id")
    text = _get(comment, "body", str, required=True, where="comment.body")
    author = _get(comment, "author", dict, where="comment.author") or {}
    reporter = _get(_fields(data), "reporter", dict, where="issue.fields.reporter")
    role = _comment_role(author, reporter, text, bot_id)
    if role is None:
        return None
    return Message(
        author_role=role, public=_is_public(comment), body=text,
        created_at=_jira_time(comment.get("created")) or _occurred_at(data),
        message_id=str(comment_id), author_id=_identity(author))


def _comment_role(author: dict, reporter: dict | None, text: str, bot_id: str) -> Role | None:
    """Return who wrote a comment, or None when this body alone cannot tell."""
    if _is_plugin(author, text, bot_id):
        return "plugin"
    account_type = author.get("accountType")
    if account_type == "customer":  # a Service Management portal customer (Cloud)
        return "customer"
    if account_type == "app":  # another app (automation, integrations): staff side
        return "analyst"
    if reporter:
        # Server/DC has no accountType; on Cloud an `atlassian` account may be an agent or an
        # employee raising an internal request. The reporter is the customer, others staff.
        return "customer" if _same_user(author, reporter) else "analyst"
    # A thin body (comment_created carries no reporter, HELPDESK_FACTS "Body"). Guessing
    # here would make the role depend on which of the comment's two deliveries arrives
    # first (the store keeps the first); its issue_commented twin carries the reporter and
    # decides instead. E.g. the Cloud comment in webhook-cloud-comment-created.json is by
    # the reporter, which only the twin can show.
    return None


def _is_public(comment: dict) -> bool:
    """Return whether the customer can see the comment."""
    # JSM Cloud says so in jsdPublic; a role/group `visibility` does NOT hide a comment
    # from JSM customers (HELPDESK_FACTS "Internal comment"), so jsdPublic wins when present.
    if isinstance(comment.get("jsdPublic"), bool):
        return comment["jsdPublic"]
    return not comment.get("visibility")


def _is_plugin(user: dict, text: str, bot_id: str) -> bool:
    """Return whether the plugin itself wrote this (loop prevention, HELPDESK_FACTS)."""
    if NOTE_MARKER in text:
        return True
    return bool(bot_id) and any(user.get(key) == bot_id for key in _IDENTITY_KEYS)


def _same_user(a: dict, b: dict) -> bool:
    """Compare two Jira users by the strongest identifier both carry."""
    for key in _IDENTITY_KEYS:
        if a.get(key) and b.get(key):
            return a[key] == b[key]
    if not any(u.get(key) for u in (a, b) for key in _IDENTITY_KEYS):
        # Anonymised bodies (jira-to-matrix fixtures) carry only display names.
        return bool(a.get("displayName")) and a.get("displayName") == b.get("displayName")
    return False


def _identity(user: Any) -> str | None:
    """Return a user's accountId (Cloud), else key or name (Server)."""
    if not isinstance(user, dict):
        return None
    for key in _IDENTITY_KEYS:
        if isinstance(user.get(key), str) and user[key]:
            return user[key]
    return None


# --- statuses ------------------------------------------------------------------------------

_NAME_STATUS = {
    "closed": "closed", "resolved": "solved", "done": "solved", "canceled": "solved",
    "cancelled": "solved", "declined": "solved", "reopened": "open", "in progress": "open",
    "escalated": "open", "work in progress": "open", "waiting for customer": "pending",
    "pending": "pending", "to do": "new", "open": "new", "backlog": "new", "new": "new",
    "waiting for support": "new",
}


def _status_change(data: dict, by_field: dict[str, dict]) -> Event | None:
    """Return a status_changed event when a status or resolution item changes our status."""
    status_item, resolution_item = by_field.get("status"), by_field.get("resolution")
    if not status_item and not resolution_item:
        return None
    previous = _NAME_STATUS.get(str((status_item or {}).get("fromString") or "").lower())
    if _resolution_cleared(resolution_item) and previous not in RESOLVED_STATUSES:
        previous = "solved"  # it had a resolution until now
    current = _current_status(data, status_item)
    if current == "new" and previous in RESOLVED_STATUSES:
        current = "open"  # reopened: worked on before, so not "new"
    if current is None or current == previous:
        return None  # e.g. Backlog -> To Do: both "new", nothing to tell the rules
    return _event(data, "status_changed", status=current, previous_status=previous)


def _resolution_cleared(item: dict | None) -> bool:
    return bool(item and item.get("from") and not item.get("to"))


def _current_status(data: dict, status_item: dict | None = None) -> str | None:
    """Normalise the issue's current status onto connectors.events.STATUSES."""
    fields = _fields(data)
    status = _get(fields, "status", dict, where="issue.fields.status") or {}
    name = str(status.get("name") or (status_item or {}).get("toString") or "").lower()
    category = (status.get("statusCategory") or {}).get("key") if isinstance(
        status.get("statusCategory"), dict) else None
    resolved = fields.get("resolution") is not None
    if name == "closed" and (resolved or category == "done"):
        return "closed"
    # Jira's own filters treat "resolution is not EMPTY" as resolved.
    if resolved or category == "done":
        return "solved"
    if name == "reopened":
        return "open"
    if _NAME_STATUS.get(name) == "pending":
        return "pending"
    if category == "new":
        return "new"
    if category == "indeterminate":
        return "open"
    return _NAME_STATUS.get(name) or ("open" if name else None)


# --- common fields ---------------------------------------------------------------------------

def _event(data: dict, kind: str, **values: Any) -> Event:
    """Build an Event for data's issue with the issue's summary, labels, status, assignee."""
    fields = _fields(data)
    labels = _get(fields, "labels", list, where="issue.fields.labels") or []
    if not all(isinstance(label, str) for label in labels):
        raise BadPayload("issue.fields.labels: expected a list of strings")
    defaults = {
        "subject": _get(fields, "summary", str, where="issue.fields.summary") or "",
        "tags": tuple(labels),
        "status": _current_status(data),
        "assignee": _identity(fields.get("assignee")),
    }
    return Event(source="jira", ticket_id=_ticket_key(data), kind=kind,
                 occurred_at=_occurred_at(data), **{**defaults, **values})


def _ticket_key(data: dict) -> str:
    """Return the issue key ("PROJ-12"): the ticket id everywhere in the plugin."""
    key = _get(data, "issue.key", str, required=True)
    if not key.strip():
        raise BadPayload("issue.key: empty")
    return key


def _fields(data: dict) -> dict:
    return _get(data, "issue.fields", dict) or {}


def _occurred_at(data: dict) -> datetime:
    """Return when the event happened: Jira's epoch-ms `timestamp`, else the body's own times."""
    stamp = _get(data, "timestamp", (int, float, str))
    if isinstance(stamp, (int, float)):
        try:
            when = datetime.fromtimestamp(stamp / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise BadPayload("timestamp: not an epoch in milliseconds") from None
        if not plausible(when):
            raise BadPayload(f"timestamp: not between {EARLIEST.year} and {LATEST.year}")
        return when
    # Some captured Server bodies carry a logger's text time here instead (jira-to-matrix
    # fixtures: "2018-1-11 13:08:04,225", no zone); Jira's own times in the body are exact.
    comment, fields = data.get("comment"), _fields(data)
    for value in ((comment or {}).get("updated") if isinstance(comment, dict) else None,
                  fields.get("updated"), fields.get("created")):
        found = _jira_time(value)
        if found:
            return found
    raise BadPayload("timestamp: missing or not epoch milliseconds, and no issue time in the body")


def _jira_time(value: Any) -> datetime | None:
    """Parse Jira's '2019-02-15T19:11:18.321-0800'; None if absent, unreadable, without an
    offset (whose zone would be a guess) or implausible."""
    when = parse_time(value, naive_as_utc=False) if isinstance(value, str) else None
    return when if when is not None and plausible(when) else None


def _get(data: Any, path: str, kind: type | tuple[type, ...], *, required: bool = False,
         where: str | None = None) -> Any:
    """Return data[path] (dotted) if it has type `kind`; BadPayload names the field if not."""
    where = where or path
    node = data
    for part in path.split("."):
        if not isinstance(node, dict):
            raise BadPayload(f"{where}: expected an object on the way to '{part}'")
        node = node.get(part)
        if node is None:
            if required:
                raise BadPayload(f"{where}: missing")
            return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(node, kinds) or (isinstance(node, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise BadPayload(f"{where}: expected {names}, got {type(node).__name__}")
    return node
