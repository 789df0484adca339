"""Shared fixtures: settings in a temporary home, a small knowledge base, the runtime."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from plugin.runtime import build_runtime
from plugin.settings import Settings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

ENTRIES = {
    "account/reset-password": ("Reset a forgotten password", ["password", "login"], """
        1. Confirm the username and the e-mail address on the account.
        2. Send a password reset link; it expires after 24 hours.
        3. If the link expired, send a new one."""),
    "orders/refund-timing": ("How long a refund takes", ["refund"], """
        Refunds go back to the original payment method within 5 to 7 business days
        after the returned item arrives at the warehouse."""),
    "shipping/change-address": ("Change the shipping address of an order", ["shipping", "address"], """
        The shipping address can be changed until the order ships. Update it in the
        order page, then confirm the new address with the customer."""),
}


def write_entry(root: Path, entry_id: str, title: str, tags: list[str], body: str) -> Path:
    path = root / f"{entry_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {title}\ntags: {tags}\nsources: [\"test:{entry_id}\"]\n---\n"
                    + textwrap.dedent(body).strip() + "\n")
    return path


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    for entry_id, (title, tags, body) in ENTRIES.items():
        write_entry(root, entry_id, title, tags, body)
    return root


@pytest.fixture
def settings(tmp_path: Path, knowledge_dir: Path) -> Settings:
    return Settings(home=tmp_path / "home", knowledge_dir=knowledge_dir, rules_dir=REPO / "rules",
                    zendesk_webhook_secret="zendesk-test-secret", jira_webhook_secret="jira-test-secret",
                    delivery_backoff_seconds=0.0)


@pytest.fixture
def runtime(settings: Settings):
    rt = build_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def pg_url():
    """A schema of its own in the machine's PostgreSQL (dropped afterwards), as a plain
    postgresql:// URL. Skipped where no PostgreSQL answers, except in CI, which must run it."""
    psycopg = pytest.importorskip("psycopg")
    from tests.cluster import ADMIN_URL, postgres_schema
    try:
        schema = postgres_schema()
        url = schema.__enter__()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {exc}")
    try:
        yield url
    finally:
        schema.__exit__(None, None, None)
