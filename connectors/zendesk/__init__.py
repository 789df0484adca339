"""Zendesk: signed webhooks in (webhook.py), internal notes out (client.py), solved tickets
read back (history.py), who the client is (auth.py), its settings (settings.py), the setup
checks (doctor.py). Setup: SETUP.md.

Importing the package stays light (no zenpy) so that reading the settings is fast; the
connector class is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ZendeskConnector"]


def __getattr__(name: str) -> Any:
    if name == "ZendeskConnector":
        from connectors.zendesk.connector import ZendeskConnector
        return ZendeskConnector
    raise AttributeError(name)
