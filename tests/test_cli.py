"""The `vigil` command as a user runs it, on the samples and the shipped rules."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plugin.cli import main

from .conftest import REPO


@pytest.fixture
def vigil(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray vigil.toml
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VIGIL_KNOWLEDGE_DIR", str(REPO / "knowledge"))
    monkeypatch.setenv("VIGIL_RULES_DIR", str(REPO / "rules"))

    def run(*args: str, code: int = 0):
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output
    return run


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_replay_prints_one_decision_per_message(vigil):
    samples = REPO / "samples" / "conversations.jsonl"
    records = lines(vigil("replay", str(samples), "--json"))
    messages = sum(len(json.loads(l)["messages"]) for l in samples.read_text().splitlines() if l.strip())
    assert len({(r["ticket_id"], r["message_index"]) for r in records}) == messages
    for r in records:
        assert set(r) >= {"ticket_id", "message_index", "action", "rule", "reason", "note", "sources"}
        assert (r["note"] is None) == (r["action"] == "silent")
    answers = [r for r in records if r["action"] == "answer"]
    assert answers and all(r["sources"] and r["rule"] for r in answers)
    assert any(r["action"] == "flag" for r in records)


def test_replayed_tickets_are_explained_and_listed(vigil):
    records = lines(vigil("replay", str(REPO / "samples" / "conversations.jsonl"), "--json"))
    answered = next(r for r in records if r["action"] == "answer")
    steps = lines(vigil("explain", answered["ticket_id"], "--json"))
    fired = steps[answered["message_index"]]
    assert fired["action"] == "answer" and fired["note"]["status"] == "shadow"
    assert any(c["failed"] for c in fired["considered"])  # why the others stayed silent
    notes = lines(vigil("notes", "--ticket", answered["ticket_id"], "--json"))
    assert notes and all(n["public"] is False and n["status"] == "shadow" for n in notes)
    text = vigil("explain", answered["ticket_id"])
    assert "answer by answer-customer-question" in text


def test_replaying_twice_gives_the_same_decisions(vigil):
    first = vigil("replay", str(REPO / "samples" / "conversations.jsonl"), "--json")
    assert vigil("replay", str(REPO / "samples" / "conversations.jsonl"), "--json") == first


def test_bad_replay_file_names_line_and_field(vigil, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "zendesk", "ticket_id": "1", "messages": []}\n')
    assert "bad.jsonl:1: `messages` must be a non-empty list" in vigil("replay", str(bad), code=1)
    bad.write_text('{"source": "zendesk", "ticket_id": "1", "messages": [{"author_role": "customer", '
                   '"public": true, "body": "x", "created_at": "yesterday"}]}\n')
    assert "messages[0].created_at must be ISO-8601" in vigil("replay", str(bad), code=1)


def test_rules_check_and_test(vigil, tmp_path, monkeypatch):
    assert "rules in" in vigil("rules", "check")
    assert ", 0 failed" in vigil("rules", "test")
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "x.yml").write_text("rules:\n  - name: x\n    action: answer\n    why: w\n"
                                  "    when: [retrieval_scor >= 1]\n    examples: {fire: [{}], silent: [{}]}\n")
    monkeypatch.setenv("VIGIL_RULES_DIR", str(broken))
    out = vigil("rules", "check", code=1)
    assert "x.yml:5: x: unknown fact `retrieval_scor`" in out


def test_index_and_explain_unknown_ticket(vigil):
    count = len([p for p in (REPO / "knowledge").rglob("*.md") if not p.stem.isupper()])
    assert f"indexed {count} knowledge entries" in vigil("index")
    assert "no ticket 'nope'" in vigil("explain", "nope", code=1)


def test_bad_configuration_is_a_clear_error(vigil, monkeypatch):
    monkeypatch.setenv("VIGIL_SHADOW", "maybe")
    assert "shadow: expected a boolean" in vigil("notes", code=1)
    monkeypatch.setenv("VIGIL_SHADOW", "1")
    monkeypatch.setenv("VIGIL_LEARN_BATCH", "weekly")
    assert "learn_batch: expected ticket, day or a number of proposals, got 'weekly'" in vigil("notes", code=1)


def test_the_example_configuration_documents_every_setting_and_loads():
    from plugin.settings import Settings, load_settings, setting_names
    example = REPO / "vigil.example.toml"
    text = example.read_text()
    missing = [name for name in setting_names() if f"\n{name} = " not in text]  # helpdesks' too
    assert missing == []
    assert load_settings(example, environ={}) == Settings()  # the example is the defaults


def test_a_ticket_id_two_helpdesks_share_must_be_named_with_its_helpdesk(vigil, tmp_path):
    conversation = {"subject": "Login", "status": "open", "tags": [], "messages": [
        {"author_role": "customer", "public": True, "body": "How do I reset my password?",
         "created_at": "2026-11-02T09:00:00+00:00"}]}
    recorded = tmp_path / "two.jsonl"
    recorded.write_text("".join(json.dumps({**conversation, "source": source, "ticket_id": "7"}) + "\n"
                                for source in ("zendesk", "jira")))
    vigil("replay", str(recorded))
    ambiguous = vigil("explain", "7", code=1)
    assert "2 helpdesks have a ticket '7'" in ambiguous and "jira:7 or zendesk:7" in ambiguous
    assert lines(vigil("explain", "jira:7", "--json"))  # named with its helpdesk, it is found
    assert {n["source"] for n in lines(vigil("notes", "--ticket", "zendesk:7", "--json"))} == {"zendesk"}
    assert "no ticket jira:8" in vigil("explain", "jira:8", code=1)


def test_deliveries_lists_a_jira_comment_left_unread(vigil, tmp_path):
    from connectors.jira.webhook import parse
    from plugin.settings import load_settings
    from plugin.cli import open_store
    from .conftest import FIXTURES
    body = (FIXTURES / "jira" / "mattermost-plugin-jira" / "webhook-cloud-comment-created.json").read_bytes()
    vigil("db", "upgrade")
    with open_store(load_settings()) as store:
        assert store.inbox.accept(parse({}, body), body)
    [row] = lines(vigil("deliveries", "--json"))
    assert row["state"] == "unread" and row["ticket"] == "jira:TES-41"
    text = vigil("deliveries")
    assert text.startswith("[unread] delivery") and "Issue: updated" in text
