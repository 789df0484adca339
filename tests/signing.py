"""Webhooks signed as the helpdesks sign them, for the tests and benchmarks.

Written from the vendors' documentation (HELPDESK_FACTS.md), not from connectors/, so a
mistake in the connectors' verification is not copied into the tests that check it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone


def zendesk_headers(body: bytes, secret: str, invocation: str | None = "inv-1",
                    at: datetime | None = None) -> dict[str, str]:
    """Zendesk: base64 HMAC-SHA256 of timestamp + body, the timestamp in its own header."""
    stamp = (at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    headers = {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
               "X-Zendesk-Webhook-Signature-Timestamp": stamp}
    if invocation is not None:
        headers["X-Zendesk-Webhook-Invocation-Id"] = invocation
    return headers


def hub_headers(body: bytes, secret: str, delivery: str | None = "d-1",
                header: str = "X-Hub-Signature") -> dict[str, str]:
    """Jira (X-Hub-Signature) and GitHub (X-Hub-Signature-256): sha256=<hex HMAC of the body>."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", header: f"sha256={digest}"}
    if delivery is not None:
        headers["X-Atlassian-Webhook-Identifier"] = delivery
    return headers
