"""`vigil doctor` as an admin runs it: both helpdesks and the model on loopback fakes (the real
zenpy, jira and openai clients), a real SQLite database, the machine's Redis, the knowledge
base and the shipped rules. All green with good settings; each wrong one, one red line with
its fix; the model server that takes only JSON mode, used in that mode by drafting."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from plugin.cli import main
from plugin.notes import drafting
from tests.connectors import jira_api, zendesk_api
from tests.connectors.test_jira_auth import BOT as JIRA_BOT
from tests.connectors.test_jira_auth import script_healthy
from tests.connectors.test_zendesk_client import PRIVATE_AUDIT, PUT, update_response
from tests.connectors.test_zendesk_doctor import ME, comments_with, me
from tests.fakehttp import FakeServer, Reply

from .conftest import REPO
from .test_drafting import CONVERSATION, HITS, completion

CHAT = "/v1/chat/completions"
ANSWER = {"answer": "Send a reset link.", "case": "", "steps": [], "sources": ["account/reset-password"],
          "confidence": 0.8}


@pytest.fixture
def helpdesks():
    with FakeServer() as server:
        server.script("GET", ME, me())
        script_healthy(server)
        server.script("POST", CHAT, Reply(200, completion('{"ok": true}')))
        server.script("POST", "/v1/embeddings", Reply(200, {"object": "list", "model": "e5", "data": [
            {"object": "embedding", "index": 0, "embedding": [0.6, 0.8, 0.0]}]}))
        yield server


@pytest.fixture
def admin(tmp_path, monkeypatch, knowledge_dir, helpdesks):
    """The environment of a complete, correct setup; a test spoils one setting."""
    monkeypatch.chdir(tmp_path)
    env = {"VIGIL_HOME": str(tmp_path / "home"), "VIGIL_KNOWLEDGE_DIR": str(knowledge_dir),
           "VIGIL_RULES_DIR": str(REPO / "rules"), "VIGIL_REDIS_URL": "redis://127.0.0.1:6379/0",
           "VIGIL_ZENDESK_WEBHOOK_SECRET": "s", "VIGIL_ZENDESK_URL": helpdesks.url,
           "VIGIL_ZENDESK_EMAIL": zendesk_api.EMAIL, "VIGIL_ZENDESK_TOKEN": zendesk_api.TOKEN,
           "VIGIL_ZENDESK_BOT_USER_ID": zendesk_api.BOT,
           "VIGIL_JIRA_WEBHOOK_SECRET": "s", "VIGIL_JIRA_URL": helpdesks.url, "VIGIL_JIRA_USER": jira_api.USER,
           "VIGIL_JIRA_TOKEN": jira_api.TOKEN, "VIGIL_JIRA_BOT_ACCOUNT_ID": JIRA_BOT,
           "VIGIL_JIRA_SERVICE_MANAGEMENT": "0",
           "OPENAI_BASE_URL": f"{helpdesks.url}/v1", "OPENAI_API_KEY": "sk-test", "VIGIL_LLM_TIMEOUT_SECONDS": "5",
           "VIGIL_EMBEDDINGS_URL": f"{helpdesks.url}/v1", "VIGIL_EMBEDDINGS_MODEL": "e5"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert "database schema: empty ->" in CliRunner().invoke(main, ["db", "upgrade"]).output
    return tmp_path


def doctor(*args: str) -> tuple[int, list[str], list[str]]:
    """Exit code, the red lines, and the fixes printed under them."""
    result = CliRunner().invoke(main, ["doctor", *args])
    lines = result.output.splitlines()
    return (result.exit_code, [ln for ln in lines if ln.startswith("[FAIL]")],
            [ln.strip() for ln in lines if ln.strip().startswith("fix:")])


def test_all_green_with_good_settings(admin, helpdesks):
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    for line in ("[ok]   zendesk: bot user", "[ok]   jira: role 'Administrators'", "[ok]   model gpt-4o-mini",
                 "accepts a JSON schema", "[ok]   embeddings e5: answers at", "(3 dimensions)",
                 "[ok]   database: schema", "[ok]   redis: answers PING",
                 "[ok]   knowledge: 3 entries", "every example passes", "all checks passed"):
        assert line in result.output
    [probe] = helpdesks.received("POST", CHAT)
    assert probe.json()["response_format"]["type"] == "json_schema"


def spoil_schema(admin):
    engine = create_engine(f"sqlite:///{admin / 'home' / 'vigil.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()


def spoil_knowledge(admin):
    (admin / "knowledge" / "api.md").write_text("---\ntitle: Error 429: slow down\nsources: [x]\n---\nWait.\n")


@pytest.mark.parametrize("spoil, red, fix", [
    ({"VIGIL_ZENDESK_TOKEN": "wrong"}, "[FAIL] zendesk: who am I", "(or the API token)"),
    ({"VIGIL_ZENDESK_BOT_USER_ID": "12345"}, "[FAIL] zendesk: bot user", f"VIGIL_ZENDESK_BOT_USER_ID={zendesk_api.BOT}"),
    ({"VIGIL_JIRA_INTERNAL_ROLE": "Staff"}, "[FAIL] jira: role 'Staff'", "VIGIL_JIRA_INTERNAL_ROLE"),
    ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, "[FAIL] model gpt-4o-mini: cannot reach http://127.0.0.1:9/v1",
     "check OPENAI_BASE_URL"),
    ({"VIGIL_EMBEDDINGS_URL": "http://127.0.0.1:9/v1"}, "[FAIL] embeddings e5: http://127.0.0.1:9/v1",
     "check VIGIL_EMBEDDINGS_URL"),
    (spoil_schema, "[FAIL] database: schema at 0001, this Vigil needs", "run `vigil db upgrade`"),
    (spoil_knowledge, "[FAIL] knowledge: api.md line 2: front matter is not valid YAML",
     "quote the title: it contains a colon"),
])
def test_each_wrong_setting_gives_one_red_line_naming_the_fix(admin, helpdesks, monkeypatch, spoil, red, fix):
    if callable(spoil):
        spoil(admin)
    else:
        for name, value in spoil.items():
            monkeypatch.setenv(name, value)
    if spoil == {"VIGIL_ZENDESK_TOKEN": "wrong"}:  # what Zendesk answers a wrong token
        helpdesks.script("GET", ME, Reply(401, {"error": "Couldn't authenticate you"}))
    code, reds, fixes = doctor()
    assert code == 1
    assert len(reds) == 1 and reds[0].startswith(red), reds
    assert len(fixes) == 1 and fix in fixes[0], fixes


def test_a_server_that_takes_only_json_mode_is_named_and_drafting_uses_that_mode(admin, helpdesks, settings,
                                                                                 monkeypatch):
    def only_json_mode(request):
        asked = request.json()
        if asked["response_format"]["type"] == "json_schema":
            return Reply(400, {"error": {"message": "response_format json_schema is not supported",
                                         "type": "invalid_request_error"}})
        drafting_ = "KNOWLEDGE" in asked["messages"][-1]["content"]  # else doctor's probe
        return Reply(200, completion(json.dumps(ANSWER) if drafting_ else '{"ok": true}'))
    helpdesks.script("POST", CHAT, only_json_mode)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "[ok]   model gpt-4o-mini: answers at" in result.output
    assert "accepts only JSON mode (json_object), which drafting falls back to" in result.output

    monkeypatch.setattr(drafting, "_JSON_MODE_ONLY", set())
    model = settings.replace(openai_base_url=f"{helpdesks.url}/v1", openai_api_key="sk-test")
    for _ in range(2):
        note = drafting.draft_answer(CONVERSATION, HITS, "why", model)
        assert note.drafter == "model" and "Send a reset link." in note.body
    formats = [r.json()["response_format"]["type"] for r in helpdesks.received("POST", CHAT)
               if "KNOWLEDGE" in r.json()["messages"][-1]["content"]]
    assert formats == ["json_schema", "json_object", "json_object"]  # refused once, then remembered


def test_ticket_posts_one_internal_test_note_and_reads_it_back(admin, helpdesks):
    helpdesks.script("PUT", PUT, Reply(200, update_response(PRIVATE_AUDIT)))
    helpdesks.script("GET", "/api/v2/tickets/1/comments.json", Reply(200, comments_with(PRIVATE_AUDIT)))
    result = CliRunner().invoke(main, ["doctor", "--ticket", "zendesk:1"])
    assert result.exit_code == 0, result.output
    assert "[ok]   zendesk: test note on ticket 1: comment 6707063839514 posted and read back as internal" \
        in result.output
    [put] = helpdesks.received("PUT", PUT)
    assert put.json()["ticket"]["comment"]["public"] is False
