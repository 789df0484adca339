"""Recorded conversations (JSON lines) turned into events for the same pipeline.

A line: {"source": "zendesk"|"jira", "ticket_id": str, "subject": str, "status": str,
"tags": [str], "messages": [{"author_role", "public", "body", "created_at"}]}.
The first message is the ticket's creation; a final solved/closed status arrives as a
status change after the last message, as it would from the helpdesk.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from connectors.events import RESOLVED_STATUSES, STATUSES, Event, Message


class ReplayError(ValueError):
    """A recorded conversation cannot be read; the message names the line and the field."""


def read_conversations(path: Path) -> list[dict[str, Any]]:
    """Parse and validate every line; raise ReplayError naming the first bad one."""
    conversations = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                conversations.append(_validated(line, f"{path}:{number}"))
    return conversations


def _validated(line: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{where}: not JSON: {exc.msg}") from None
    return validated(data, where)


def validated(data: Any, where: str) -> dict[str, Any]:
    """Check one conversation (a parsed line, or what a helpdesk API returned); parse its times."""

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ReplayError(f"{where}: {message}")

    need(isinstance(data, dict), "each line must be a JSON object")
    need(data.get("source") in ("zendesk", "jira"), "`source` must be zendesk or jira")
    need(isinstance(data.get("ticket_id"), str) and data["ticket_id"], "`ticket_id` must be a non-empty string")
    need(isinstance(data.get("subject", ""), str), "`subject` must be a string")
    need(data.get("status", "open") in STATUSES, f"`status` must be one of {', '.join(STATUSES)}")
    need(isinstance(data.get("tags", []), list), "`tags` must be a list of strings")
    messages = data.get("messages")
    need(isinstance(messages, list) and bool(messages), "`messages` must be a non-empty list")
    for i, m in enumerate(messages):
        need(isinstance(m, dict), f"messages[{i}] must be an object")
        need(m.get("author_role") in ("customer", "analyst"), f"messages[{i}].author_role must be customer or analyst")
        need(isinstance(m.get("public"), bool), f"messages[{i}].public must be true or false")
        need(isinstance(m.get("body"), str), f"messages[{i}].body must be a string")
        try:
            m["created_at"] = _parse_time(m.get("created_at"))
        except (TypeError, ValueError):
            raise ReplayError(f"{where}: messages[{i}].created_at must be ISO-8601") from None
    return data


def _parse_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed


def events_for(conversation: dict[str, Any]) -> Iterator[Event]:
    """The events the helpdesk would have sent for this conversation, in order."""
    final = conversation.get("status", "open")
    common = {"source": conversation["source"], "ticket_id": conversation["ticket_id"],
              "subject": conversation.get("subject", ""), "tags": tuple(conversation.get("tags", ()))}
    live_status = "open" if final in RESOLVED_STATUSES else final
    for i, m in enumerate(conversation["messages"]):
        message = Message(m["author_role"], m["public"], m["body"], m["created_at"],
                          message_id=f"replay-{i}")
        yield Event(kind="created" if i == 0 else "message", occurred_at=m["created_at"],
                    status="new" if i == 0 else live_status, message=message, **common)
    if final in RESOLVED_STATUSES:
        yield Event(kind="status_changed", occurred_at=conversation["messages"][-1]["created_at"],
                    status=final, previous_status=live_status, **common)
