"""What every helpdesk connector provides. Adding a helpdesk means implementing this.

A connector has two halves with no shared state:
- the webhook half (`verify`, `parse`): pure functions of the request, run in the web process;
- the client half (`post_internal_note`): a vendor API client, run in the worker.
`doctor` and `post_test_note` check a setup against the live helpdesk (`vigil doctor`).
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from connectors.events import ID_WIDTHS, Delivery

# The times a helpdesk body can mean. The worker does arithmetic on them (the hour before,
# the days since): datetime.min minus six hours does not exist, so 0001-01-01 crashed it.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


class WebhookError(Exception):
    """A webhook request we refuse; `status` is the HTTP answer and the message says why."""

    status = 400


class SignatureError(WebhookError):
    status = 401


class BadPayload(WebhookError):
    status = 400


class DeliveryError(Exception):
    """Posting a note failed. `retryable` says whether trying again can help; `unsure`, that
    the helpdesk may have stored it all the same (no answer, or a 5xx after the request)."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 unsure: bool = False):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.unsure = unsure


class ConfigurationError(Exception):
    """A connector cannot start with the settings it was given (e.g. no webhook secret)."""


def plausible(when: datetime) -> bool:
    """Whether an aware time lies between EARLIEST and LATEST, where the worker can use it."""
    return EARLIEST <= when < LATEST


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is taken as UTC already."""
    return (moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None
            else moment.astimezone(timezone.utc))


def storable(delivery: Delivery) -> Delivery:
    """Return `delivery` if the store can keep every text in it; BadPayload says which if not.

    A parser accepts any string the helpdesk sends; the database does not: no NUL character
    (PostgreSQL text), no lone surrogate (not UTF-8), and no id longer than its column.
    """
    texts: list[tuple[str, str | None]] = [("delivery id", delivery.delivery_id)]
    for event in delivery.events:
        texts += [("ticket id", event.ticket_id), ("subject", event.subject),
                  ("assignee id", event.assignee), *(("tag", tag) for tag in event.tags)]
        if event.message:
            message = event.message
            texts += [("comment body", message.body), ("comment id", message.message_id),
                      ("author id", message.author_id)]
    if delivery.unread:
        texts += [("ticket id", delivery.unread.ticket_id), ("reason", delivery.unread.why)]
    for name, value in texts:
        if value is None:
            continue
        if "\x00" in value:
            raise BadPayload(f"the {name} contains a NUL character (\\u0000): it cannot be stored")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadPayload(f"the {name} is not valid Unicode (a lone surrogate such as "
                             "\\ud800)") from None
        if len(value) > ID_WIDTHS.get(name, len(value)):
            raise BadPayload(f"the {name} is {len(value)} characters long; at most "
                             f"{ID_WIDTHS[name]} are accepted")
    return delivery


def hmac_sha256(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def signatures_match(expected: str, given: str) -> bool:
    """Compare in constant time so the signature cannot be guessed byte by byte."""
    return hmac.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True)
class Check:
    """One line of `vigil doctor`: what was checked, whether it passed, and how to fix it."""

    name: str  # e.g. "zendesk: bot user"
    ok: bool
    detail: str  # what was found ("user 123, Vigil Bot, agent"), or what went wrong
    fix: str = ""  # what the admin should do when ok is False (a setting, a click path)


class Connector(ABC):
    """A helpdesk: verifies and translates its webhooks, and posts internal notes back."""

    name: str  # "zendesk" or "jira": also the webhook route, /webhooks/<name>

    def __init__(self, settings: Any) -> None:
        """Build from this connector's own settings; raise ConfigurationError if it cannot start."""

    @abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the raw body is signed with our secret and fresh."""

    @abstractmethod
    def parse(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """Translate a verified request into a Delivery; raise BadPayload with a clear reason.

        Events the plugin does not act on give a Delivery with no events (answered 200/202
        and recorded, never an error): the vendor must not retry them.
        """

    def fetch_resolved(self, since: datetime, limit: int = 1000) -> list[dict]:
        """Resolved tickets updated since `since`, as recorded conversations (`vigil learn --since`).

        Each is in the replay format, with the plugin's own comments under "notes".
        """
        raise NotImplementedError(f"{self.name} cannot list resolved tickets")

    def find_note(self, ticket_id: str, ref: str) -> str | None:
        """The id of the ticket's comment that contains `ref`, or None: asked before posting a
        note again whose earlier try may have landed (see DeliveryError.unsure)."""
        return None

    @abstractmethod
    def post_internal_note(self, ticket_id: str, body: str) -> str:
        """Post `body` as an internal (never public) note; return the helpdesk's comment id.

        Raise DeliveryError(retryable=True, retry_after=...) on 429/5xx/network errors,
        DeliveryError(retryable=False) when retrying cannot help (404, 401, 422).
        """

    @abstractmethod
    def doctor(self) -> list[Check]:
        """Check this helpdesk's setup against the live API, one Check per question.

        Who am I (the credentials work), is that the configured bot user, can it comment
        (and, for Jira, does the visibility role or group exist). Never raises for a
        helpdesk problem: each failure is a Check with ok=False and its fix.
        """

    @abstractmethod
    def post_test_note(self, ticket_id: str) -> Check:
        """Post one internal test note on `ticket_id` (a sandbox ticket) and read it back.

        ok only if the helpdesk stored it and reports it as not public. Never raises for a
        helpdesk problem: a failure is a Check with ok=False and its fix.
        """
