"""Helpdesk connectors: one folder per helpdesk, each the only code that knows its vendor's JSON.

The registry below is the one place that lists them. A helpdesk is a folder with a settings
module (its own settings and secrets, connectors/settings.py, and `ticket_url(ticket_id)`,
where an agent opens a ticket) and a Connector class; adding one is that folder plus one line
in HELPDESKS. The plugin's configuration, the secrets it
redacts and the webhook routes (/webhooks/<name>) all follow from this list.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Protocol

if TYPE_CHECKING:
    from connectors.base import Connector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Helpdesk:
    """One registry line: the webhook route name, and where its two halves live."""

    name: str
    settings: str  # "module:Class" of its settings dataclass (imported without vendor clients)
    connector: str  # "module:Class" of its Connector (imports the vendor's client)


HELPDESKS = (
    Helpdesk("zendesk", "connectors.zendesk.settings:ZendeskSettings",
             "connectors.zendesk.connector:ZendeskConnector"),
    Helpdesk("jira", "connectors.jira.settings:JiraSettings",
             "connectors.jira.connector:JiraConnector"),
)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def settings_classes() -> dict[str, type]:
    """Each helpdesk's settings class, by name; cheap: no vendor client is imported."""
    return {h.name: _load(h.settings) for h in HELPDESKS}


def available() -> dict[str, type[Connector]]:
    """Every connector this build ships, by name (the webhook route /webhooks/<name>)."""
    return {h.name: _load(h.connector) for h in HELPDESKS}


class Configured(Protocol):
    """What build() needs of the plugin's settings: each helpdesk's own settings, by name."""

    @property
    def helpdesks(self) -> Mapping[str, Any]: ...


def build(settings: Configured) -> tuple[dict[str, Connector], dict[str, str]]:
    """Create every connector whose settings allow it; return (enabled, refused with why).

    A connector without its webhook secret is refused, never started open (fail closed).
    """
    from connectors.base import ConfigurationError
    enabled, refused = {}, {}
    for name, cls in available().items():
        try:
            enabled[name] = cls(settings.helpdesks[name])
        except ConfigurationError as exc:
            refused[name] = str(exc)
            log.warning("%s webhooks are off: %s", name, exc)
    return enabled, refused
