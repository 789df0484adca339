"""The wheel as an admin installs it: built with `python -m build`, installed in a fresh virtual
environment, run from a folder outside the checkout on the admin's own rules and knowledge.

Slow (a build and a pip install), so it builds once for the whole module.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .conftest import ENTRIES, FIXTURES, REPO, write_entry
from .signing import zendesk_headers

SECRET = "wheel-test-secret"
QUESTION = (FIXTURES / "zendesk" / "ticket.comment_added__customer_public.json").read_bytes()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment outside the checkout with the wheel installed, without extras."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(root / "dist"), str(REPO)],
                   check=True, capture_output=True)
    [wheel] = (root / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    pip = subprocess.run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    return root / "venv" / "bin"


@pytest.fixture
def site(tmp_path) -> dict[str, str]:
    """An admin's folder: their own knowledge and rules, no checkout anywhere near."""
    knowledge, rules = tmp_path / "our-knowledge", tmp_path / "our-rules"
    for entry_id, (title, tags, body) in ENTRIES.items():
        write_entry(knowledge, entry_id, title, tags, body)
    # Written as people write it: tags as one comma-separated line.
    (knowledge / "exports").mkdir(parents=True)
    (knowledge / "exports" / "retry-failed-export.md").write_text(
        "---\ntitle: Make a failed nightly export retry\ntags: export, E1042, retry\nsources: [our-wiki]\n---\n"
        "Error E1042 means the nightly export hit the plan's row quota.\n"
        "1. Open Settings, Exports and turn on \"Retry failed exports\".\n"
        "2. Lower the export's row limit or upgrade the plan.\n")
    shutil.copytree(REPO / "rules", rules)
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VIGIL_HOME": str(tmp_path / "state"),
            "VIGIL_KNOWLEDGE_DIR": str(knowledge), "VIGIL_RULES_DIR": str(rules)}


def vigil(bin_: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(bin_ / "vigil"), *args], env=env, cwd=env["HOME"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_package_comes_from_the_wheel_without_the_evaluation_extras(installed, site):
    where = subprocess.run([str(installed / "python"), "-c", "import plugin; print(plugin.__file__)"],
                           env=site, cwd=site["HOME"], capture_output=True, text=True, check=True).stdout
    assert "site-packages" in where and str(REPO) not in where
    for extra in ("matplotlib", "tqdm"):
        missing = subprocess.run([str(installed / "python"), "-c", f"import {extra}"], env=site, capture_output=True)
        assert missing.returncode == 1, f"{extra} is installed without the eval extra"


def test_db_upgrade_and_replay_on_our_own_rules_and_knowledge(installed, site):
    assert "database schema: empty -> " in vigil(installed, site, "db", "upgrade")
    records = [json.loads(line) for line in vigil(installed, site, "replay", str(REPO / "samples" / "conversations.jsonl"),
                                                   "--json").splitlines()]
    assert {r["action"] for r in records} >= {"silent", "flag"}
    # Only our knowledge is cited: nothing from the checkout's knowledge/ leaks in.
    ours = {"exports/retry-failed-export", *ENTRIES}
    assert {s for r in records for s in r["sources"]} <= ours


def test_the_shipped_rules_run_when_none_are_configured(installed, site):
    del site["VIGIL_RULES_DIR"]
    output = vigil(installed, site, "rules", "check")
    assert "default_rules: ok" in output and "site-packages" in output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_takes_a_signed_webhook_and_drafts_a_note(installed, site):
    env = {**site, "VIGIL_ZENDESK_WEBHOOK_SECRET": SECRET, "VIGIL_SHADOW": "1"}
    port = free_port()
    server = subprocess.Popen([str(installed / "vigil"), "serve", "--port", str(port)], env=env, cwd=env["HOME"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.post(f"http://127.0.0.1:{port}/webhooks/zendesk", data=QUESTION,
                                         headers=zendesk_headers(QUESTION, SECRET), timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "vigil serve did not start"
                time.sleep(0.3)
        assert response.status_code == 202, response.text
        while not (notes := [json.loads(n) for n in vigil(installed, env, "notes", "--json").splitlines()]):
            assert time.monotonic() < deadline, "no note was drafted"
            time.sleep(0.5)
        [note] = notes
        assert (note["ticket_id"], note["status"], note["public"]) == ("35436", "shadow", False)
        assert "knowledge/exports/retry-failed-export.md" in note["body"]
    finally:
        server.terminate()
        server.wait(timeout=30)
