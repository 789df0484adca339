"""Confidence calibrated on review outcomes, and a pull request a reviewer reads in minutes."""

from __future__ import annotations

import re

import pytest

from plugin.evaluation import grounding
from plugin.evaluation.learning import CARE_HELP_DOMAINS, twitter_cases
from plugin.learning.confidence import acceptance, calibrate, evidence_score
from plugin.learning.loop import batches, learn, refresh_states
from plugin.learning.plan import Proposal
from plugin.learning.review import CHECKLIST, description
from plugin.settings import Settings
from plugin.store import Store

from .conftest import NOW, git


@pytest.fixture
def settings(repo, tmp_path) -> Settings:
    (tmp_path / "home").mkdir()
    return Settings(home=tmp_path / "home", knowledge_dir=repo / "knowledge", rules_dir=repo / "rules",
                    zendesk_url="https://acme.zendesk.com", learn_help_domains=CARE_HELP_DOMAINS,
                    learn_max_entries=4)


@pytest.fixture(scope="module")
def care_cases():
    """80 real customer-care conversations from the earlier part of the time split."""
    earlier, _ = grounding.split_cases(grounding.load_cases(), 0.7)
    return twitter_cases(earlier[:80])


def test_the_prior_follows_the_evidence_and_outcomes_calibrate_it():
    weak = evidence_score(confirmed=False, help_links=0, shared_words=1, tickets=1, answer_words=7)
    strong = evidence_score(confirmed=True, help_links=1, shared_words=3, tickets=3, answer_words=30)
    assert 0 < weak < 0.5 < strong < 1
    closed = [(0.6, "closed")] * 12
    merged = [(0.6, "merged")] * 12
    assert calibrate(0.6, closed) < 0.2 < 0.85 < calibrate(0.6, merged)
    assert calibrate(0.6, [(0.1, "merged")] * 12) == 0.6  # outcomes of unlike scores say nothing here
    assert calibrate(0.6, [(0.6, "open")] * 12) == 0.6  # nor do undecided ones
    assert acceptance([(0.6, "merged"), (0.5, "edited"), (0.4, "closed"), (0.4, "open")]) == {
        "merged": 1, "edited": 1, "closed": 1, "decided": 3, "accepted": 0.667}


def test_every_case_is_accounted_for_and_the_pull_requests_are_ordered_and_capped(repo, settings, care_cases):
    store = Store(f"sqlite:///{settings.home}/v.db")
    report = learn(care_cases, settings, repo, store, NOW)
    proposed = {t for p in report.proposals for t in p.tickets}
    refused = {t for p, _ in report.refused for t in p.tickets}
    skipped = {ref for ref, _ in report.skipped}
    assert proposed | refused | skipped == {c.ref for c in care_cases}  # none left without a reason
    assert all(why for _, why in report.skipped)
    confidences = {p.confidence for p in report.proposals}
    assert len(confidences) > 2 and all(c >= settings.learn_min_confidence for c in confidences)
    assert len(report.published) == -(-len(report.proposals) // 4)  # at most learn_max_entries per request
    [first, *_] = report.published
    body = git(repo, "log", "-1", "--format=%B", first.branch)
    assert body.startswith("Learn from")
    for p in report.proposals:
        assert p.question.endswith("?") and p.product and p.links[0].startswith("https://acme.zendesk.com/")


def test_the_description_says_what_each_entry_says_and_why_it_is_new(repo, settings, care_cases):
    store = Store(f"sqlite:///{settings.home}/v.db")
    report = learn(care_cases, settings.replace(learn_max_entries=50), repo, store, NOW)
    text = description(report.proposals)
    brands = re.findall(r"^## (.+)$", text, re.M)
    assert brands and len(brands) == len(set(brands))  # grouped: each brand once
    news = [p for p in report.proposals if p.kind == "new"]
    for p in news:
        assert "### " in text and p.question in text and p.answer.splitlines()[0] in text
    assert text.count("**Why it is new**") == len(news)
    assert re.search(r"nearest existing entry `[\w/-]+` scores \d\.\d\d|no existing entry comes close", text)
    assert text.count(f"- [ ] {CHECKLIST[0]}") == len(report.proposals)
    assert "https://acme.zendesk.com/agent/tickets/twcs-" in text
    # Within a brand, the strongest first.
    for brand in brands:
        section = text.split(f"## {brand}\n", 1)[1].split("\n## ", 1)[0]
        found = [float(x) for x in re.findall(r"confidence (\d\.\d\d)", section)]
        assert found == sorted(found, reverse=True)


def test_batches_cut_by_policy_and_by_the_most_entries_a_reviewer_gets():
    proposals = [Proposal("new", f"k/{i}.md", "x", (f"t:{i % 3}",), (), "", product="AB"[i % 2],
                          confidence=i / 10) for i in range(9)]
    assert [len(b) for b in batches(proposals, "day", 4)] == [4, 4, 1]
    assert [len(b) for b in batches(proposals, "2", 4)] == [2] * 4 + [1]
    assert [len(b) for b in batches(proposals, "ticket", 0)] == [3, 3, 3]
    [first] = batches(proposals, "day", 0)  # brand A holds the strongest (0.8): A first, then B
    assert [(p.product, p.confidence) for p in first] == [("A", 0.8), ("A", 0.6), ("A", 0.4), ("A", 0.2), ("A", 0.0),
                                                          ("B", 0.7), ("B", 0.5), ("B", 0.3), ("B", 0.1)]


def test_merged_edited_and_closed_outcomes_are_recorded_and_calibrate_the_next_run(repo, settings, care_cases):
    store = Store(f"sqlite:///{settings.home}/v.db")
    report = learn(care_cases, settings, repo, store, NOW)
    first, second, third, *_ = report.published
    git(repo, "merge", "-q", "--no-edit", first.branch)  # merged as proposed
    edited_path = next(r["path"] for r in store.learning.list_proposals() if r["branch"] == second.branch)
    git(repo, "merge", "-q", "--no-edit", second.branch)
    (repo / edited_path).write_text((repo / edited_path).read_text() + "\nReviewer's note.\n")
    git(repo, "commit", "-qam", "edit one learned entry")
    git(repo, "branch", "-D", third.branch)  # closed without merging
    rows = refresh_states(store, settings, repo)
    states = {(r["branch"], r["path"]): r["state"] for r in rows}
    assert {s for (b, _), s in states.items() if b == first.branch} == {"merged"}
    assert states[(second.branch, edited_path)] == "edited"
    assert {s for (b, p), s in states.items() if b == second.branch and p != edited_path} <= {"merged"}
    assert {s for (b, _), s in states.items() if b == third.branch} == {"closed"}
    history = store.learning.proposal_history()
    assert all(c is not None for c, _ in history) and {"merged", "edited", "closed"} <= {s for _, s in history}


@pytest.mark.parametrize("name, value, said", [
    ("VIGIL_LEARN_HELP_DOMAINS", "help example com", "is not a domain"),
    ("VIGIL_LEARN_MAX_ENTRIES", "0", "at least 1 entry"),
    ("VIGIL_LEARN_MIN_CONFIDENCE", "1.5", "from 0 to below 1"),
])
def test_learning_settings_that_cannot_work_are_refused(tmp_path, name, value, said):
    from plugin.settings import SettingsError, load_settings
    with pytest.raises(SettingsError, match=said):
        load_settings(tmp_path / "none.toml", {name: value})
    assert load_settings(tmp_path / "none.toml", {"VIGIL_LEARN_HELP_DOMAINS": "help.example.com=Ex, example.org/help"})
