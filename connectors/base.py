"""What every helpdesk connector provides. Adding a helpdesk means implementing this.

A connector has two halves with no shared state:
- the webhook half (`verify`, `parse`): pure functions of the request, run in the web process;
- the client half (`post_internal_note`): a vendor API client, run in the worker.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Mapping

from plugin.model import Delivery


class WebhookError(Exception):
    """A webhook request we refuse; `status` is the HTTP answer and the message says why."""

    status = 400


class SignatureError(WebhookError):
    status = 401


class BadPayload(WebhookError):
    status = 400


class DeliveryError(Exception):
    """Posting a note failed. `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class ConfigurationError(Exception):
    """A connector cannot start with the settings it was given (e.g. no webhook secret)."""


def hmac_sha256(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def signatures_match(expected: str, given: str) -> bool:
    """Compare in constant time so the signature cannot be guessed byte by byte."""
    return hmac.compare_digest(expected.encode(), given.encode())


class Connector(ABC):
    """A helpdesk: verifies and translates its webhooks, and posts internal notes back."""

    name: str  # "zendesk" or "jira": also the webhook route, /webhooks/<name>

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

    @abstractmethod
    def post_internal_note(self, ticket_id: str, body: str) -> str:
        """Post `body` as an internal (never public) note; return the helpdesk's comment id.

        Raise DeliveryError(retryable=True, retry_after=...) on 429/5xx/network errors,
        DeliveryError(retryable=False) when retrying cannot help (404, 401, 422).
        """
