"""Whoosh over knowledge/: coverage scores, incremental refresh, bad files skipped."""

import os
import time

import pytest

from plugin.retrieval import KnowledgeIndex, query_terms

from .conftest import write_entry


@pytest.fixture
def index(knowledge_dir, tmp_path):
    ix = KnowledgeIndex(knowledge_dir, tmp_path / "index")
    ix.rebuild()
    yield ix
    ix.close()


def test_query_terms_drop_noise():
    terms = query_terms("Hi, my order 12345 for bob@example.com https://x.io/a can't ship?")
    assert terms == ["order", "ship"]


def test_best_entry_first_with_evidence_score(index):
    hits = index.search("How do I reset my password?")
    assert hits[0].entry_id == "account/reset-password"
    # Two words that only this entry has, of the three that make full evidence.
    assert hits[0].score == pytest.approx(2 / 3, abs=0.01)
    assert index.search("password reset link expired")[0].score == 1.0
    # "forgot" is not "forgotten" to the stemmer: the unmatched word costs a little.
    assert 0.45 < index.search("I forgot my password, how do I reset it?")[0].score < hits[0].score
    assert hits[0].sources == ("test:account/reset-password",)


def test_unrelated_question_scores_low(index):
    hits = index.search("Does the store sell gift wrapping for birthday presents?")
    assert not hits or hits[0].score < 0.3


def test_one_generic_word_is_not_enough(index):
    hits = index.search("order?")
    assert not hits or hits[0].score < 0.45


def test_refresh_adds_changes_and_removes(index, knowledge_dir):
    assert index.refresh() == 3
    write_entry(knowledge_dir, "gifts/wrapping", "Gift wrapping", ["gift"], "Gift wrapping costs 5 dollars.")
    assert index.refresh() == 4
    assert index.search("gift wrapping price")[0].entry_id == "gifts/wrapping"
    path = knowledge_dir / "account/reset-password.md"
    path.write_text(path.read_text().replace("Reset a forgotten password", "Unlock a locked account"))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    index.refresh()
    assert index.search("unlock locked account")[0].entry_id == "account/reset-password"
    (knowledge_dir / "gifts/wrapping.md").unlink()
    assert index.refresh() == 3
    assert all(h.entry_id != "gifts/wrapping" for h in index.search("gift wrapping"))


def test_bad_file_is_skipped_and_reported(index, knowledge_dir):
    (knowledge_dir / "broken.md").write_text("no front matter here")
    (knowledge_dir / "README.md").write_text("# about this folder")  # documentation, not an entry
    assert index.refresh() == 3
    assert len(index.errors) == 1 and "broken: missing YAML front matter" in index.errors[0]


def test_index_survives_reopen(index, knowledge_dir, tmp_path):
    reopened = KnowledgeIndex(knowledge_dir, tmp_path / "index")
    try:
        assert reopened.search("refund how long")[0].entry_id == "orders/refund-timing"
    finally:
        reopened.close()
