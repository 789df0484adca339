"""Jira (Cloud, Data Center, Service Management): webhooks in (webhook.py), internal comments
out (client.py), resolved issues read back (history.py), credentials (auth.py), its settings
(settings.py), the setup checks (doctor.py). Setup: SETUP.md.

Importing the package stays light (no `jira` package) so that reading the settings is fast;
the connector class is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JiraConnector"]


def __getattr__(name: str) -> Any:
    if name == "JiraConnector":
        from connectors.jira.connector import JiraConnector
        return JiraConnector
    raise AttributeError(name)
