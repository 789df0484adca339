"""The learning loop on a real git repository: cases in, reviewed-ready proposals on a branch."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.knowledge.entries import parse_entry
from plugin.learning.cases import Case, PastNote, cases_from_conversations
from plugin.learning.extract import Skipped, extract_offline
from plugin.learning.wording import question_candidates
from plugin.learning.gates import gate
from plugin.learning.loop import learn
from plugin.learning.plan import Proposal
from connectors.events import Message
from plugin.redaction import findings
from plugin.settings import Settings
from plugin.store import Store

from ..conftest import write_entry
from .conftest import NOW, git


@pytest.fixture
def settings(repo, tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", knowledge_dir=repo / "knowledge", rules_dir=repo / "rules",
                    zendesk_url="https://acme.zendesk.com")


def at(minute: int) -> datetime:
    return datetime(2026, 3, 2, 9, minute, tzinfo=timezone.utc)


def case(ticket: str, question: str, answer: str, confirm: str = "Thanks, that worked!",
         notes: tuple[PastNote, ...] = ()) -> Case:
    return Case("zendesk", ticket, "Help", (
        Message("customer", True, question, at(0)),
        Message("analyst", True, answer, at(5)),
        Message("customer", True, confirm, at(9))), notes)


GIFT = case("101", "Hi, I'm Ann Lee (ann@example.com). Can I add gift wrapping to order 4471923055?",
            "Hi Ann! Gift wrapping can be added until the order ships: open the order page, choose "
            "Add gift wrap and pick a message card. For now I've waived the fee as an exception.")
RESET = case("102", "How do I reset my password? I forgot it on Monday.",
             "Use the reset link on the sign-in page, confirm your username and e-mail address, and the "
             "reset link arrives within five minutes.")


def test_questions_are_stripped_of_what_belongs_to_one_ticket():
    [text] = question_candidates("Hi Ann, order #4471923055 from ann@example.com on Monday at 10:30 am, "
                                 "call +1 415 555 0199")
    assert findings(text) == [] and "4471923055" not in text and "Monday" not in text and "Ann" not in text


def test_extract_keeps_the_confirmed_answer_and_drops_one_offs():
    lesson = extract_offline(GIFT)
    assert lesson.question == "Can I add gift wrapping to order?"
    assert any("open the order page" in s for s in lesson.steps)
    assert not any("exception" in s or "waived" in s or "Ann" in s for s in lesson.steps)
    assert lesson.confirmed and lesson.extractor == "offline"
    assert findings(" ".join([lesson.question, *lesson.steps])) == []


def test_nothing_to_learn_without_an_answer():
    silent = Case("zendesk", "103", "x", (Message("customer", True, "How do I return shoes?", at(0)),))
    assert extract_offline(silent) == Skipped(silent, "no analyst reply")


def test_learn_proposes_on_a_branch_and_leaves_main_alone(repo, settings):
    settings.home.mkdir(parents=True)
    store = Store(f"sqlite:///{settings.home}/v.db")
    main_before = git(repo, "rev-parse", "main")
    report = learn([GIFT, RESET], settings, repo, store, NOW)
    kinds = {p.kind: p for p in report.proposals}
    assert set(kinds) == {"new", "update"}
    # The password question is answered already: an update of that entry, not a duplicate.
    assert kinds["update"].path == "knowledge/account/reset-password.md"
    assert kinds["new"].path.startswith("knowledge/learned/")
    [published] = report.published
    assert git(repo, "rev-parse", "main") == main_before and git(repo, "status", "--porcelain") == ""
    changed = git(repo, "diff", "--name-only", "main", published.branch).split()
    assert sorted(changed) == sorted(p.path for p in report.proposals)
    new_text = git(repo, "show", f"{published.branch}:{kinds['new'].path}")
    entry = parse_entry("learned/x", new_text)
    assert "https://acme.zendesk.com/agent/tickets/101" in entry.sources
    assert findings(new_text.split("learned:")[0] + entry.body) == []
    updated = git(repo, "show", f"{published.branch}:knowledge/account/reset-password.md")
    assert "Asked as:" in updated and "https://acme.zendesk.com/agent/tickets/102" in updated
    [row, _] = store.learning.list_proposals()
    assert row["state"] == "open" and row["branch"] == published.branch


def test_a_note_marked_wrong_retires_its_entry_when_nothing_better_is_known(repo, settings):
    settings.home.mkdir(parents=True)
    store = Store(f"sqlite:///{settings.home}/v.db")
    unanswered = Case("zendesk", "104", "x", (Message("customer", True, "Where is the nearest store?", at(0)),),
                      (PastNote("note", ("orders/refund-timing",), "wrong"),))
    report = learn([unanswered], settings, repo, store, NOW)
    [retire] = report.proposals
    assert (retire.kind, retire.path, retire.content) == ("retire", "knowledge/orders/refund-timing.md", None)


def test_a_note_marked_wrong_is_corrected_when_the_case_shows_what_worked(repo, settings):
    settings.home.mkdir(parents=True)
    store = Store(f"sqlite:///{settings.home}/v.db")
    corrected = Case("zendesk", "106", "x", GIFT.messages, (PastNote("note", ("shipping/change-address",), "wrong"),))
    report = learn([corrected], settings, repo, store, NOW)
    [update] = [p for p in report.proposals if p.path == "knowledge/shipping/change-address.md"]
    assert update.kind == "update" and update.why.startswith("analysts marked a note citing this entry wrong")
    kept, correction = update.content.split("\n## Correction (from a resolved ticket; check the text above)\n")
    assert "The shipping address can be changed until the order ships." in kept  # the entry is not rewritten
    assert correction.lstrip().startswith("1. ") and "open the order page" in correction


def test_gates_refuse_personal_data_thin_entries_and_duplicates(repo, settings):
    body = (repo / "knowledge/shipping/change-address.md").read_text().split("---\n", 2)[2]
    front = "---\ntitle: {t}\nsources: [x]\n---\n"
    proposals = [
        Proposal("new", "knowledge/learned/a.md", front.format(t="Mail us") + "Write to bob@example.com " * 5, (), (), ""),
        Proposal("new", "knowledge/learned/b.md", front.format(t="Thin") + "Too short.", (), (), ""),
        Proposal("new", "knowledge/learned/c.md", front.format(t="Change the shipping address of an order") + body,
                 (), (), ""),
        Proposal("new", "knowledge/learned/d.md", "no front matter", (), (), ""),
        Proposal("rule", "rules/answer.yml", "rules: []\n", (), (), ""),
    ]
    passed, refused = gate(proposals, repo, settings.knowledge_dir, settings.rules_dir)
    reasons = dict((p.path, why) for p, why in refused)
    assert passed == []
    assert "personal data" in reasons["knowledge/learned/a.md"]
    assert "too little substance" in reasons["knowledge/learned/b.md"]
    assert "near-duplicate of shipping/change-address" in reasons["knowledge/learned/c.md"]
    assert "front matter" in reasons["knowledge/learned/d.md"]
    assert "rules check fails" in reasons["rules/answer.yml"]


def test_cli_learn_and_proposals(repo, settings, tmp_path, monkeypatch):
    conversations = tmp_path / "resolved.jsonl"
    conversations.write_text("\n".join(json.dumps({
        "source": c.source, "ticket_id": c.ticket_id, "subject": c.subject, "status": "solved",
        "messages": [{"author_role": m.author_role, "public": m.public, "body": m.body,
                      "created_at": m.created_at.isoformat()} for m in c.messages]}) for c in (GIFT, RESET)))
    monkeypatch.chdir(tmp_path)
    for name, value in {"VIGIL_HOME": str(settings.home), "VIGIL_KNOWLEDGE_DIR": str(settings.knowledge_dir),
                        "VIGIL_RULES_DIR": str(settings.rules_dir)}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["learn", "--from", str(conversations), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert {line["kind"] for line in lines[:-1]} == {"new", "update"}
    assert all(line["tickets"] for line in lines[:-1])
    [branch] = lines[-1]["branch"]
    git(repo, "merge", "-q", "--no-edit", branch)
    result = CliRunner().invoke(main, ["proposals", "--json"])
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["state"] for line in result.output.splitlines()} == {"merged"}


def test_cases_come_only_from_resolved_conversations():
    conversation = {"source": "jira", "ticket_id": "S-1", "subject": "", "status": "open", "messages": []}
    assert cases_from_conversations([conversation]) == []
    [solved] = cases_from_conversations([{**conversation, "status": "solved"}])  # the filter keeps these
    assert solved.ref == "jira:S-1"


def test_resolved_tickets_are_queued_and_learned_by_the_worker(repo, settings):
    from connectors.events import Event
    from plugin.runtime import build_runtime
    runtime = build_runtime(settings.replace(learn_on_resolve=True, learn_batch="ticket"), with_connectors=False)
    try:
        for i, message in enumerate(GIFT.messages):
            runtime.pipeline.handle(Event("zendesk", "101", "message", message.created_at, subject="Gift wrap",
                                          message=Message(message.author_role, True, message.body,
                                                          message.created_at, f"m{i}")))
        runtime.pipeline.handle(Event("zendesk", "101", "status_changed", at(30), status="solved",
                                      previous_status="open"))
        assert [t.ticket_id for t, _ in runtime.store.learning.queued_for_learning()] == ["101"]
        runtime.housekeeper.learn_queued(NOW)
        assert runtime.store.learning.queued_for_learning() == []
        [proposal] = runtime.store.learning.list_proposals()
        assert proposal["kind"] == "new" and proposal["tickets"] == ["zendesk:101"]
        assert proposal["branch"] in git(repo, "branch", "--list", "vigil/*")
    finally:
        runtime.close()


def test_git_push_webhook_is_signed_then_reindexes(repo, settings):
    import hashlib
    import hmac

    from plugin.web.app import create_app
    app = create_app(settings.replace(git_webhook_secret="push-secret", zendesk_webhook_secret="z"),
                     start_worker=False)
    runtime = app.extensions["vigil"]
    try:
        client = app.test_client()
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        write_entry(settings.knowledge_dir, "learned/gift-wrap", "Add gift wrapping", ["gift"],
                    "Gift wrapping can be added until the order ships.")
        assert client.post("/webhooks/git", data=body, headers={"X-Hub-Signature-256": "sha256=00"}).status_code == 401
        runtime.housekeeper.pull_merges()
        assert "learned/gift-wrap" not in [h.entry_id for h in runtime.index.search("gift wrapping order")]
        signature = "sha256=" + hmac.new(b"push-secret", body, hashlib.sha256).hexdigest()
        assert client.post("/webhooks/git", data=body, headers={"X-Hub-Signature-256": signature}).status_code == 202
        runtime.housekeeper.pull_merges()  # what the worker thread does next
        assert runtime.index.search("gift wrapping order")[0].entry_id == "learned/gift-wrap"
    finally:
        runtime.close()


def test_push_signature_refuses_rather_than_fails():
    import hashlib
    import hmac

    from plugin.learning.sync import push_signature_ok
    body = b'{"ref": "refs/heads/main"}'
    signed = "sha256=" + hmac.new(b"push-secret", body, hashlib.sha256).hexdigest()
    assert push_signature_ok("push-secret", body, signed)
    assert not push_signature_ok("push-secret", body + b" ", signed)
    assert not push_signature_ok("", body, signed) and not push_signature_ok("push-secret", body, None)
    assert not push_signature_ok("push-secret", body, "sha256=\xe9")  # not ASCII: a 401, not a 500


def test_a_threshold_change_is_proposed_with_its_examples_and_gated(repo, settings):
    from plugin.learning.plan import threshold_proposal
    from plugin.decision.rulebook import load_rules
    lesson = extract_offline(RESET)
    [shipped] = {c.value for r in load_rules(settings.rules_dir) if r.action == "answer"
                 for c in r.conditions if c.fact == "answer_confidence"}
    lowest = round(shipped - 0.14, 3)
    near = [(replace(lesson, case=case(str(200 + i), f"question {i}", "answer")), score)
            for i, score in enumerate((lowest, round(shipped - 0.12, 3), round(shipped - 0.09, 3)))]  # just under
    assert threshold_proposal(near[:2], settings.rules_dir, repo) == []  # two cases are not enough
    far = round(shipped - 0.3, 3)  # too far under to count
    [rule] = threshold_proposal(near + [(near[0][0], far)], settings.rules_dir, repo)
    assert (rule.kind, rule.path, rule.tickets) == ("rule", "rules/answer.yml", ("zendesk:200", "zendesk:201", "zendesk:202"))
    proposed_value = math.floor(lowest / 0.025) * 0.025
    assert f"answer_confidence >= {proposed_value:g}\n" in rule.content
    assert f"answer_confidence >= {shipped:g}\n" not in rule.content
    assert rule.content.count("# learned from zendesk:") == 3
    passed, refused = gate([rule], repo, settings.knowledge_dir, settings.rules_dir)
    assert refused == [] and passed == [rule], refused  # rules check and rules test pass on the proposed file
    proposed = repo / "proposed"
    proposed.mkdir()
    (proposed / "answer.yml").write_text(rule.content)
    assert {c.value for r in load_rules(proposed) for c in r.conditions if c.fact == "answer_confidence"} == {
        float(f"{proposed_value:g}")}


def test_lessons_by_model_go_through_the_real_client_redacted_and_are_judged():
    """The model path of extraction: a loopback chat-completions server, the real openai client."""
    from tests.fakehttp import FakeServer, Reply

    from plugin.learning.extract import Skipped, extract

    def completion(answer: dict | str) -> Reply:
        content = answer if isinstance(answer, str) else json.dumps(answer)
        return Reply(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop", "message": {
                               "role": "assistant", "content": content}}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
    doc = "https://help.acme.com/gift-wrap"
    linked = case("107", "Hi, I'm Ann Lee (ann@example.com). Can I add gift wrapping? See https://evil.example/x",
                  f"Hi Ann! Open the order page and choose Add gift wrap, as {doc} shows. ^CG")
    good = {"question": "Can I add gift wrapping to an order?", "cause": "", "links": [doc],
            "steps": ["Open the order page.", "Choose Add gift wrap."], "skip": ""}
    refused = [dict(good, steps=["Write to ann@example.com about it."]),  # personal data
               dict(good, links=["https://evil.example/x"]),  # the customer's link
               dict(good, steps=["Thanks for reaching out!", "Open the order page."]),  # a greeting
               dict(good, steps=["Please contact us for this."]),  # contact us
               "not json", {"question": "x"}]  # malformed
    with FakeServer() as model:
        model.script("POST", "/v1/chat/completions", completion(good), *map(completion, refused),
                     completion(dict(good, skip="a status chase about one order")))
        settings = Settings(openai_base_url=f"{model.url}/v1", openai_api_key="k", llm_model="m",
                            learn_help_domains="help.acme.com=Acme")
        lesson = extract(linked, settings)
        assert (lesson.question, lesson.steps, lesson.links, lesson.extractor, lesson.product) == (
            "Can I add gift wrapping to an order?", ("Open the order page.", "Choose Add gift wrap."), (doc,),
            "model:m", "Acme")
        sent = model.received("POST", "/v1/chat/completions")[0].json()
        data = json.loads(sent["messages"][1]["content"])
        assert data["TICKET"][0]["role"] == "customer" and "ann@example.com" not in json.dumps(data["TICKET"])
        assert data["HELP_LINKS"] == [doc]  # the analyst's help documents, never the customer's link
        # Whatever the judge refuses is extracted offline instead.
        for _ in refused:
            assert extract(linked, settings).extractor == "offline"
        skipped = extract(linked, settings)
        assert isinstance(skipped, Skipped) and "status chase" in skipped.reason


def test_a_failing_batch_leaves_the_batches_published_before_it_off_the_queue(repo, settings):
    """Defect 9: batch N keeps failing; batches 1..N-1 are not published again at the next run."""
    from connectors.events import Event
    from plugin.learning.publish import LocalGit, PublishError

    class FailsFromSecond(LocalGit):
        def __init__(self, repo):
            super().__init__(repo)
            self.branches: list[str] = []

        def publish(self, batch):
            if self.branches:
                raise PublishError("the git host is down")
            self.branches.append(batch.branch)
            return super().publish(batch)

    settings = settings.replace(learn_batch="ticket")  # one pull request per ticket: two batches
    settings.home.mkdir(parents=True)
    store = Store(f"sqlite:///{settings.home}/v.db")
    for c in (GIFT, RESET):
        store.learning.queue_learning(store.tickets.upsert_ticket(Event("zendesk", c.ticket_id, "status_changed",
                                                                        NOW, status="solved")), NOW)
    publisher = FailsFromSecond(repo)
    with pytest.raises(PublishError):
        learn([GIFT, RESET], settings, repo, store, NOW, publisher)
    [published] = publisher.branches
    [(left, _)] = store.learning.queued_for_learning()  # the published batch's ticket is off the queue
    assert left.ticket_id in {"101", "102"}
    [row] = store.learning.list_proposals()
    assert row["branch"] == published and f"zendesk:{left.ticket_id}" not in row["tickets"]


def test_push_signature_accepts_upper_case_hex_as_the_jira_route_does():
    """Issue 11 defect 15: /webhooks/git refused the upper-case hex that /webhooks/jira accepts."""
    import hashlib
    import hmac

    from plugin.learning.sync import push_signature_ok
    body = b'{"ref": "refs/heads/main"}'
    digest = hmac.new(b"push-secret", body, hashlib.sha256).hexdigest()
    assert push_signature_ok("push-secret", body, "sha256=" + digest.upper())
    assert not push_signature_ok("push-secret", body, "sha256=" + digest.upper()[:-1] + "0")
