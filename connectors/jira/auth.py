"""Which credentials the Jira client sends, and where: three ways Atlassian supports today.

- "api-token": an Atlassian account's e-mail and API token, HTTP Basic, on the site URL.
  Tokens now expire within a year at most: rotation is part of the setup
  (support.atlassian.com/atlassian-account/docs/manage-api-tokens-for-your-atlassian-account).
- "scoped-token": a service account's API token with scopes. Scoped tokens are refused on the
  site URL (401) and work only through the gateway
  https://api.atlassian.com/ex/jira/{cloudId}, still HTTP Basic with the service account's
  e-mail (support.atlassian.com/user-management/docs/manage-api-tokens-for-service-accounts;
  support.atlassian.com/atlassian-cloud/kb/401-unauthorized-error-when-service-account-accesses-jira-or-confluence-api).
- "pat": a Data Center personal access token, `Authorization: Bearer <token>`, no user
  (confluence.atlassian.com/enterprise/using-personal-access-tokens-1026032365.html).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from connectors.base import ConfigurationError
from connectors.jira.settings import JiraSettings

MODES = {"api-token": "Cloud API token (Basic)",
         "scoped-token": "service account's scoped token (Basic, through the gateway)",
         "pat": "Data Center personal access token (Bearer)"}
_CLOUD_ID = re.compile(r"[0-9A-Fa-f-]{8,64}")  # a uuid: it goes into the URL path


def check_mode(settings: JiraSettings) -> None:
    """Refuse, at start, a jira_auth or gateway the client could not use."""
    if settings.auth not in MODES:
        raise ConfigurationError(f"jira_auth must be one of {', '.join(MODES)}, got {settings.auth!r}")
    if settings.auth == "scoped-token":
        if settings.cloud_id and not _CLOUD_ID.fullmatch(settings.cloud_id):
            raise ConfigurationError("jira_cloud_id must be the site's cloud id, a uuid such as "
                                     "a436116f-02ce-4520-8fbb-7301462a1674")
        parts = urlsplit(settings.gateway_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and
                                            (parts.hostname or "").startswith("127.")):
            raise ConfigurationError("jira_gateway_url must be https (plain http only to "
                                     "127.x.x.x, for tests): the token must not cross a network in clear")


def missing(settings: JiraSettings) -> list[str]:
    """The environment names of the settings this mode needs and does not have."""
    needed = {"api-token": ("url", "user", "token"), "scoped-token": ("url", "user", "token", "cloud_id"),
              "pat": ("url", "token")}.get(settings.auth, ("url", "user", "token"))
    return [f"VIGIL_JIRA_{name.upper()}" for name in needed if not getattr(settings, name).strip()]


def api_root(settings: JiraSettings) -> str:
    """Where the REST API is: the site, or the gateway for a scoped token."""
    if settings.auth == "scoped-token":
        return f"{settings.gateway_url.rstrip('/')}/ex/jira/{settings.cloud_id}"
    return settings.url


def client_auth(settings: JiraSettings) -> dict[str, Any]:
    """The `jira.JIRA` keyword argument that sends these credentials."""
    if settings.auth == "pat":
        return {"token_auth": settings.token}  # the package sends "Authorization: Bearer"
    return {"basic_auth": (settings.user, settings.token)}


def describe(settings: JiraSettings) -> str:
    who = "" if settings.auth == "pat" else f" of {settings.user}"
    return f"{MODES.get(settings.auth, settings.auth)}{who} at {api_root(settings)}"
