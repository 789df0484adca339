"""Zendesk's own settings: VIGIL_ZENDESK_<FIELD> in the environment, zendesk_<field> in vigil.toml.

Light on purpose (no zenpy): the plugin reads every helpdesk's settings at start.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.settings import secret

# OAuth scopes the plugin asks for (developer.zendesk.com/api-reference/ticketing/oauth/oauth_tokens,
# "Scopes"): `read` for GET (its user, ticket comments, the search export of solved tickets),
# `tickets:write` to add the internal note. Nothing else is written.
DEFAULT_SCOPES = "read tickets:write"


@dataclass(frozen=True)
class ZendeskSettings:
    webhook_secret: str = secret()  # the webhook's signing secret: without it the connector stays off
    webhook_max_age_seconds: int = 300  # older signature timestamps are replays
    url: str = ""  # https://<subdomain>.zendesk.com
    bot_user_id: str = ""  # the agent the plugin posts as: its comments are never questions
    # OAuth (confidential client, client-credentials grant): the way to authenticate.
    oauth_client_id: str = ""  # the client's "Identifier"
    oauth_client_secret: str = secret()
    oauth_scopes: str = DEFAULT_SCOPES
    # API token: accepted until Zendesk retires API tokens on 2027-04-30.
    email: str = ""
    token: str = secret()

    def ticket_url(self, ticket_id: str) -> str | None:
        """Where an agent opens the ticket, for links in proposals; None without the URL."""
        return f"{self.url.rstrip('/')}/agent/tickets/{ticket_id}" if self.url else None
