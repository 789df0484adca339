"""What the Zendesk API-client tests share: the account they log in as, and zenpy's recordings.

The recordings are zenpy's own test cassettes (tests/fixtures/zendesk/): Zendesk's answers,
served again by a loopback FakeServer.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

from connectors.zendesk.settings import ZendeskSettings
from plugin.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "zendesk"
EMAIL, TOKEN = "vigil-bot@example.org", "zd-token-123"
BOT = "8447388090999"  # the tests' bot user, as in ticket.comment_added__bot_note.json


def recorded_body(cassette: str, index: int) -> Any:
    """Return the JSON body of one recorded response (gzip+base64 when the server gzipped it)."""
    interaction = json.loads((FIXTURES / cassette).read_text())["http_interactions"][index]
    body = interaction["response"]["body"]
    raw = (base64.b64decode(body["base64_string"]) if body.get("base64_string")
           else body["string"].encode())
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def settings(url: str, **over: Any) -> ZendeskSettings:
    """Settings for a Zendesk account at `url`, with API credentials and the bot user."""
    values = dict(zendesk_webhook_secret="s", zendesk_url=url, zendesk_email=EMAIL,
                  zendesk_token=TOKEN, zendesk_bot_user_id=BOT)
    return Settings(**{**values, **over}).helpdesks["zendesk"]
