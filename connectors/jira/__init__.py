"""Jira (Cloud, Data Center, Service Management): webhooks in, internal comments out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from connectors.base import ConfigurationError, Connector
from connectors.jira import history
from connectors.jira.client import DEFAULT_TIMEOUT, JiraNotes
from connectors.jira.webhook import parse_delivery, verify_signature
from connectors.events import Delivery
from plugin.settings import Settings

__all__ = ["JiraConnector"]


class JiraConnector(Connector):
    """Verifies and translates Jira webhooks, and posts internal comments back."""

    name = "jira"

    def __init__(self, settings: Settings,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        # Fail closed: without a secret every request would have to be trusted.
        if not settings.jira_webhook_secret.strip():
            raise ConfigurationError(
                "Jira connector needs VIGIL_JIRA_WEBHOOK_SECRET: the secret saved with the Jira "
                "webhook (see connectors/jira/SETUP.md); refusing to accept unsigned webhooks")
        self.settings = settings
        self.timeout = timeout
        # API credentials are checked when posting, so a webhook-only setup can start.
        self.notes = JiraNotes(settings, timeout=timeout)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless X-Hub-Signature signs the raw body (no timestamp exists)."""
        verify_signature(self.settings.jira_webhook_secret, headers, body)

    def parse(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """Translate a verified request into a Delivery; BadPayload says what is wrong."""
        return parse_delivery(headers, body, bot_account_id=self.settings.jira_bot_account_id)

    def post_internal_note(self, ticket_id: str, body: str) -> str:
        """Post `body` as an internal comment on issue `ticket_id`; return its comment id."""
        return self.notes.post(ticket_id, body)

    def find_note(self, ticket_id: str, ref: str) -> str | None:
        return self.notes.find(ticket_id, ref)

    def fetch_resolved(self, since: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        """Resolved tickets updated since `since`, each as a recorded conversation (replay format).

        Issues resolved since `since`, oldest first; the plugin's own comments are left out of
        "messages" and listed under "notes". Raise DeliveryError(retryable=True,
        retry_after=...) on 429/5xx/network errors.
        """
        return history.fetch_resolved(self.settings, since, limit, timeout=self.timeout)
