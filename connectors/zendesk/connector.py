"""The Zendesk connector: webhooks in, internal notes out, configured by its own settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from connectors.base import Check, ConfigurationError, Connector
from connectors.events import Delivery
from connectors.zendesk import doctor, history, webhook
from connectors.zendesk.client import ZendeskClient
from connectors.zendesk.settings import ZendeskSettings

__all__ = ["ZendeskConnector"]


class ZendeskConnector(Connector):
    """The Zendesk helpdesk, configured by ZendeskSettings; refuses to start without a secret."""

    name = "zendesk"

    def __init__(self, settings: ZendeskSettings) -> None:
        if not settings.webhook_secret:
            # Fail closed: without the signing secret anyone could post fake tickets.
            raise ConfigurationError(
                "zendesk_webhook_secret is empty: set VIGIL_ZENDESK_WEBHOOK_SECRET to the "
                "webhook's signing secret (connectors/zendesk/SETUP.md)")
        self._settings = settings
        # API credentials may be missing (shadow mode); a malformed zendesk_url may not.
        self._client = ZendeskClient(settings)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise SignatureError unless the raw body is signed with our secret and fresh."""
        webhook.verify(self._settings.webhook_secret,
                       self._settings.webhook_max_age_seconds, headers, body, now)

    def parse(self, headers: Mapping[str, str], body: bytes) -> Delivery:
        """Translate a verified request into a Delivery; raise BadPayload with a clear reason."""
        return webhook.parse(headers, body, self._settings.bot_user_id)

    def post_internal_note(self, ticket_id: str, body: str) -> str:
        """Post `body` as an internal (never public) note; return Zendesk's comment id."""
        return self._client.post_internal_note(ticket_id, body)

    def find_note(self, ticket_id: str, ref: str) -> str | None:
        return self._client.find_note(ticket_id, ref)

    def fetch_resolved(self, since: datetime, limit: int = 1000) -> list[dict[str, Any]]:
        """Resolved tickets updated since `since`, each as a recorded conversation (replay format).

        The plugin's own comments are left out of "messages" and listed under "notes".
        Raise DeliveryError(retryable=True, retry_after=...) on 429/5xx/network errors.
        """
        return history.fetch_resolved(self._client, since, limit)

    def doctor(self) -> list[Check]:
        """Who am I, is it the bot user, can it comment (connectors/zendesk/doctor.py)."""
        return doctor.doctor(self._client)

    def post_test_note(self, ticket_id: str) -> Check:
        """Post one internal note on a sandbox ticket and read it back: it must not be public."""
        return doctor.post_test_note(self._client, ticket_id)
