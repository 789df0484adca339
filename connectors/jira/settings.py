"""Jira's own settings: VIGIL_JIRA_<FIELD> in the environment, jira_<field> in vigil.toml.

Light on purpose (no `jira` package): the plugin reads every helpdesk's settings at start.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.settings import secret

ATLASSIAN_GATEWAY = "https://api.atlassian.com"


@dataclass(frozen=True)
class JiraSettings:
    webhook_secret: str = secret()  # saved with the Jira webhook: without it the connector stays off
    url: str = ""  # the site, e.g. https://acme.atlassian.net or https://jira.example.com
    # Which credentials (connectors/jira/auth.py): "api-token" (user + Cloud API token, Basic),
    # "scoped-token" (a service account's scoped token, Basic, through the gateway with
    # cloud_id) or "pat" (a Data Center personal access token, Bearer; no user).
    auth: str = "api-token"
    user: str = ""
    token: str = secret()
    cloud_id: str = ""
    gateway_url: str = ATLASSIAN_GATEWAY
    bot_account_id: str = ""  # the account the plugin posts as: its comments are never questions
    # On plain Jira (no Service Management) an internal note is a comment restricted to this
    # role (or group, when set); on JSM the sd.public.comment property makes it internal.
    service_management: bool = True
    internal_role: str = "Administrators"
    internal_group: str = ""

    def ticket_url(self, ticket_id: str) -> str | None:
        """Where an agent opens the issue, for links in proposals; None without the URL."""
        return f"{self.url.rstrip('/')}/browse/{ticket_id}" if self.url else None
