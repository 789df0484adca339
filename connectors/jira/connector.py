"""The Jira connector: webhooks in, internal comments out, configured by its own settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from connectors.base import Check, ConfigurationError, Connector
from connectors.events import Delivery
from connectors.jira import auth, doctor, history, webhook
from connectors.jira.client import DEFAULT_TIMEOUT, JiraNotes
from connectors.jira.settings import JiraSettings

__all__ = ["JiraConnector"]


class JiraConnector(Connector):
    """Verifies and translates Jira webhooks, and posts internal comments back."""

    name = "jira"

    def __init__(self, settings: JiraSettings,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        # Fail closed: without a secret every request would have to be trusted.
        if not settings.webhook_secret.strip():
            raise ConfigurationError(
                "Jira connector needs VIGIL_JIRA_WEBHOOK_SECRET: the secret saved with the Jira "
                "webhook (see connectors/jira/SETUP.md); refusing to accept unsigned webhooks")
        auth.check_mode(settings)  # a jira_auth it cannot use is refused at start, not per note
        self.settings = settings
        self.timeout = timeout
        # API credentials are checked when posting, so a webhook-only setup can start.
        self.notes = JiraNotes(settings, timeout=timeout)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless X-Hub-Signature signs the raw body (no timestamp exists)."""
        webhook.verify(self.settings.webhook_secret, headers, body)

    def parse(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """Translate a verified request into a Delivery; BadPayload says what is wrong."""
        return webhook.parse(headers, body, bot_account_id=self.settings.bot_account_id)

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

    def doctor(self) -> list[Check]:
        """Who am I, is it the bot, does the role or group exist, can it comment (doctor.py)."""
        return doctor.doctor(self.settings, self.timeout)

    def post_test_note(self, ticket_id: str) -> Check:
        """Post one internal comment on a sandbox issue and read it back: it must be internal."""
        return doctor.post_test_note(self.notes, ticket_id)
