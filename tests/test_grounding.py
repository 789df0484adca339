"""The grounding evaluation on real customer-care conversations (data/twitter_care/dev.json).

The slice: the last 40 conversations of three companies, in time order (28 become knowledge,
12 are replayed; 7 of those link a document the knowledge base has, 5 do not).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from plugin.evaluation import grounding
from plugin.evaluation.grounding import (
    clean, entries_by_doc, evaluate_grounding, hits_at, knowledge_from, load_cases, split_cases, title_for,
)
from plugin.knowledge.entries import entry_paths, load_entry
from plugin.knowledge.retrieval import KnowledgeIndex
from plugin.settings import Settings

from .conftest import REPO

DATA = REPO / "data" / "twitter_care" / "dev.json"
COMPANIES = ("RockstarSupport", "MojangSupport", "TeamYouTube")


@pytest.fixture(scope="module")
def slice_path(tmp_path_factory) -> Path:
    items = json.loads(DATA.read_text(encoding="utf-8"))
    items.sort(key=lambda i: (i["dialogHeader"]["conversationDateTime"], i["dialogHeader"]["sessionID"]))
    chosen = [i for i in items if i["dialogHeader"]["company"] in COMPANIES][-40:]
    path = tmp_path_factory.mktemp("twcs") / "slice.json"
    path.write_text(json.dumps(chosen), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(rules_dir=REPO / "rules")


@pytest.fixture(scope="module")
def report(slice_path, settings):
    return evaluate_grounding(slice_path, settings)


def test_cases_are_read_in_time_order_without_the_company_tweets():
    cases = load_cases(DATA)
    assert len(cases) == 525
    assert [c.time for c in cases] == sorted(c.time for c in cases)
    agent_tweets = {m["message"] for i in json.loads(DATA.read_text(encoding="utf-8"))
                    for m in i["dialogContent"] if "agent" in m}
    assert agent_tweets and not agent_tweets & {text for c in cases for _, text in c.messages}
    first = next(c for c in cases if c.session_id == "LgwAXtbbEm0mBvDrGmjk")
    assert (first.company, first.doc_id, len(first.messages)) == ("TeamYouTube", "1770", 1)
    assert first.url.endswith("support.google.com/youtube/answer/185111")


def test_entries_have_valid_front_matter_and_the_right_ids(slice_path, tmp_path):
    earlier, _ = split_cases(load_cases(slice_path))
    written = knowledge_from(earlier, tmp_path)
    docs = {c.doc_id for c in earlier}
    assert written == len(docs)
    entries = [load_entry(tmp_path, p) for p in entry_paths(tmp_path)]  # raises on bad front matter
    assert len(entries) == written
    by_doc = entries_by_doc(tmp_path)
    assert set(by_doc) == docs
    for entry in entries:
        doc_id = entry.id.rsplit("/doc-", 1)[1]
        linked = [c for c in earlier if c.doc_id == doc_id]
        company = linked[0].company
        assert entry.id == f"{company.lower()}/doc-{doc_id}" == by_doc[doc_id]
        assert entry.title.startswith(f"{company}: ") and len(entry.title) > len(company) + 5
        assert entry.tags[0] == company and entry.sources == (linked[0].url,)
        assert "Agent answers that linked this document:" in entry.body
        assert "Customer questions that led to them:" in entry.body
        assert not re.search(r"https?://|(?<![\w.])@\w", entry.body), entry.id
        for case in linked:
            assert clean(case.answer) in entry.body
    index = KnowledgeIndex(tmp_path, tmp_path.parent / "index")
    try:
        assert index.refresh() == written and not index.errors
    finally:
        index.close()


def test_titles_come_from_the_url_or_else_the_answer():
    assert title_for("DropboxSupport", "https://web.archive.org/web/20200401212817/https://help.dropbox.com/"
                     "accounts-billing/cancellations-refunds/cancel-subscription", "") == \
        "DropboxSupport: cancel subscription"
    answer = ("@CinVakas Thanks for the tag \u2013 if you believe the suspension was done in error, you can "
              "appeal. Here's how: https://support.google.com/youtube/answer/185111")
    title = title_for("TeamYouTube", "https://support.google.com/youtube/answer/185111", answer)
    assert title.startswith("TeamYouTube: if you believe the suspension"), title


def test_nothing_after_the_split_reaches_the_knowledge_base(slice_path, settings, monkeypatch):
    learned, texts = [], []

    def spy(cases, root):
        learned.extend(cases)
        n = knowledge_from(cases, root)
        texts.extend(p.read_text(encoding="utf-8") for p in Path(root).rglob("*.md"))
        return n

    monkeypatch.setattr(grounding, "knowledge_from", spy)
    result = evaluate_grounding(slice_path, settings)
    cases = load_cases(slice_path)
    tested = cases[len(learned):]
    assert len(learned) == result["knowledge_cases"] == 28 and len(tested) == result["test_cases"] == 12
    assert max(c.time for c in learned) <= min(c.time for c in tested)
    assert not {c.session_id for c in learned} & {c.session_id for c in tested}
    kb = "\n".join(texts)
    for case in tested:
        for _, text in case.messages:
            assert clean(text) not in kb, text
    # Every answer and question in an entry is an earlier case's (agents reuse canned answers,
    # so a later answer's words may be there: they must have been said before the split too).
    bodies = "\n".join(text.split("\n---\n", 1)[1] for text in texts)
    lines = {line[2:] for line in bodies.splitlines() if line.startswith(("- ", "> "))}
    said_before = {clean(c.answer) for c in learned} | {
        " / ".join(clean(t) for _, t in c.messages if clean(t)) for c in learned}
    assert lines and lines <= said_before
    # An entry exists for a test case's document only if an earlier case linked it.
    in_kb = {r["doc_id"] for r in result["rows"] if r["in_kb"]}
    assert in_kb and in_kb <= {c.doc_id for c in learned}


def test_a_smaller_knowledge_fraction_learns_less(slice_path, settings, report):
    curve = evaluate_grounding(slice_path, settings, knowledge=0.35)
    assert curve["knowledge_cases"] == 14 and curve["test_cases"] == report["test_cases"]
    assert curve["in_kb"] <= report["in_kb"]
    with pytest.raises(ValueError):
        evaluate_grounding(slice_path, settings, knowledge=0.8)  # would learn from test cases


@pytest.mark.parametrize("answers, expected", [
    ([], (False, False)),
    ([("r",)], (True, True)),
    ([("a", "r")], (False, True)),
    ([("a",), ("r",)], (False, True)),              # a later answer cites it
    ([("a", "b"), ("c", "r")], (False, False)),     # the fourth distinct source is too late
    ([("a", "b"), ("a", "r")], (False, True)),      # a repeated source is counted once
])
def test_hits_at(answers, expected):
    assert hits_at("r", answers) == expected


def _conversation(session, company, day, message, answer, doc_id, url):
    at = f"2020-03-{day:02d}T10:00:00.000Z"
    return {"dialogHeader": {"company": company, "conversationDateTime": at, "sessionID": session},
            "dialogContent": [{"client": "someone", "datetime": at, "message": message, "tweet_ID": "1"}],
            "agentURL": {"doc_id": doc_id, "url": url, "turn": "2", "tweet_ID": "2", "url_utterance": answer}}


def test_hit_at_k_on_a_hand_built_case(tmp_path, settings):
    """Three known documents; then a question the first answers, a question labelled with a
    document other than the one it matches, and thanks with an unknown document."""
    appeal, licences = "https://support.google.com/youtube/answer/185111", "https://support.example/Restore-Licenses"
    mute = "https://support.zoom.us/hc/en-us/articles/203435537-Mute-All-And-Unmute-All"
    data = [
        _conversation("s1", "TeamYouTube", 1, "@TeamYouTube my channel was suspended for no reason, how do I "
                      "appeal the suspension?", f"@someone If you believe it was a mistake, you can appeal "
                      f"the channel suspension here: {appeal}", "1770", appeal),
        _conversation("s2", "AskPlayStation", 2, "@AskPlayStation my downloaded games say the licence is "
                      "missing. What do I do?", f"@someone Go to Settings > Restore Licenses: {licences}",
                      "0813", licences),
        _conversation("s3", "zoom_us", 3, "@zoom_us how can I mute all participants in a meeting as host?",
                      f"@someone You can mute everyone at once as the host: {mute}", "1768", mute),
        _conversation("s4", "TeamYouTube", 4, "@TeamYouTube hi, my channel got suspended yesterday. How can "
                      "I appeal this suspension?", f"@someone You can appeal: {appeal}", "1770", appeal),
        _conversation("s5", "zoom_us", 5, "@zoom_us how do I mute all the participants in my meeting?",
                      f"@someone Restore your licences: {licences}", "0813", licences),
        _conversation("s6", "zoom_us", 6, "@zoom_us thanks, you are great!", "@someone Thank you!",
                      "9999", "https://zoom.us/"),
    ]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = evaluate_grounding(path, settings, split=0.5)
    rows = {r["session_id"]: r for r in result["rows"]}
    assert rows["s4"]["answers"][0][0] == "teamyoutube/doc-1770" and rows["s4"]["hit_at_1"]
    assert rows["s5"]["answers"][0][0] == "zoom-us/doc-1768" and not rows["s5"]["hit_at_3"]
    assert not rows["s6"]["in_kb"] and rows["s6"]["answers"] == []
    assert (result["in_kb"], result["hit_at_1"], result["hit_at_3"], result["answered"]) == (2, 0.5, 0.5, 1.0)
    assert (result["not_in_kb"], result["correct_silence"]) == (1, 1.0)


def test_the_figures_are_fractions_with_consistent_counts(report):
    rows = report["rows"]
    assert report["in_kb"] + report["not_in_kb"] == report["test_cases"] == len(rows) == 12
    assert (report["in_kb"], report["not_in_kb"], report["knowledge_entries"]) == (7, 5, 16)
    groups = [report, *report["by_company"].values()]
    for g in groups:
        for key in ("hit_at_1", "hit_at_3", "answered", "correct_silence"):
            assert g[key] is None or 0.0 <= g[key] <= 1.0, (key, g)
        if g["in_kb"]:
            assert g["hit_at_1"] <= g["hit_at_3"] <= g["answered"]
    assert set(report["by_company"]) <= set(COMPANIES)
    assert sum(g["in_kb"] for g in report["by_company"].values()) == report["in_kb"]
    assert sum(g["not_in_kb"] for g in report["by_company"].values()) == report["not_in_kb"]
    known = [r for r in rows if r["in_kb"]]
    assert report["hit_at_3"] == round(sum(r["hit_at_3"] for r in known) / len(known), 3)
    assert all(not r["hit_at_3"] for r in rows if not r["in_kb"])
    assert all(r["entry"] is None or r["entry"].endswith(f"/doc-{r['doc_id']}") for r in rows)


def test_the_evaluation_is_deterministic(report, slice_path, settings):
    assert evaluate_grounding(slice_path, settings) == report
