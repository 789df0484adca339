"""After a merge: bring the merged knowledge into this deployment, without a restart."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from connectors.base import hmac_sha256, signatures_match

log = logging.getLogger(__name__)


def push_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """GitHub-style `X-Hub-Signature-256: sha256=<hex>` over the raw body, in constant time."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    # Hex is case-blind, as the Jira route reads it: lower-case before the constant-time compare.
    return signatures_match(hmac_sha256(secret, body).hex(), header[len("sha256="):].lower())


def pull(knowledge_dir: Path) -> str:
    """Fast-forward the checkout that holds the knowledge from its upstream, if it has one.

    A repository without an upstream (the local-git default, where proposals are merged in
    place) already has the merged files; the caller only refreshes the index.
    """
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(knowledge_dir), *args], capture_output=True, text=True)

    if git("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}").returncode != 0:
        return "no upstream: using the files as they are"
    done = git("pull", "--ff-only", "--quiet")
    if done.returncode != 0:
        raise RuntimeError(f"git pull --ff-only failed: {done.stderr.strip()}")
    return "pulled"
