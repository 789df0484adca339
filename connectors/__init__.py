"""Helpdesk connectors: one folder per helpdesk, each the only code that knows its vendor's JSON."""

from __future__ import annotations

import logging

from connectors.base import ConfigurationError, Connector
from plugin.settings import Settings

log = logging.getLogger(__name__)


def available() -> dict[str, type[Connector]]:
    """Every connector this build ships, by name (the webhook route /webhooks/<name>)."""
    from connectors.jira import JiraConnector
    from connectors.zendesk import ZendeskConnector
    return {"zendesk": ZendeskConnector, "jira": JiraConnector}


def build(settings: Settings) -> tuple[dict[str, Connector], dict[str, str]]:
    """Create every connector whose settings allow it; return (enabled, refused with why).

    A connector without its webhook secret is refused, never started open (fail closed).
    """
    enabled, refused = {}, {}
    for name, cls in available().items():
        try:
            enabled[name] = cls(settings)
        except ConfigurationError as exc:
            refused[name] = str(exc)
            log.warning("%s webhooks are off: %s", name, exc)
    return enabled, refused
