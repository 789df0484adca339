"""The knowledge index: BM25F ranking, evidence scores, incremental refresh, bad files skipped."""

import os
import time
from collections import Counter

import pytest
from hypothesis import example, given, strategies as st

from plugin.knowledge.analysis import analyse, stem_counts
from plugin.knowledge.retrieval import KnowledgeIndex, query_terms

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


def test_query_terms_keep_error_codes_and_drop_names_dates_and_signatures():
    text = ("Hello, my name is Priya Raman. Order #4471923055 fails with E-402 at 10am on 2026-03-02 "
            "(0x80070005).\nKind regards,\nPriya Raman\nAcme Ltd")
    assert query_terms(text) == ["order", "fail", "e402", "0x80070005"]


def test_error_code_written_two_ways_finds_the_entry(index, knowledge_dir):
    write_entry(knowledge_dir, "errors/e402", "What error E402 means", ["checkout"], "E402: the card was declined.")
    index.refresh()
    assert index.search("I get E-402 when paying")[0].entry_id == "errors/e402"
    assert "E402: the card was declined." in index.search("E-402")[0].body  # shown as written


def test_an_index_of_another_schema_version_is_rebuilt(index, knowledge_dir, tmp_path):
    (tmp_path / "index" / "schema-version").write_text("0")
    rebuilt = KnowledgeIndex(knowledge_dir, tmp_path / "index")
    try:
        assert rebuilt.refresh() == 3 and (tmp_path / "index" / "schema-version").read_text() != "0"
    finally:
        rebuilt.close()


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


def test_a_bad_file_is_read_again_only_when_it_changes(index, knowledge_dir, monkeypatch):
    import plugin.knowledge.retrieval
    from plugin.knowledge.entries import load_entry
    broken = knowledge_dir / "broken.md"
    broken.write_text("no front matter here")
    index.refresh()
    read = []
    monkeypatch.setattr(plugin.knowledge.retrieval, "load_entry", lambda root, path: read.append(path) or load_entry(root, path))
    assert index.refresh() == 3 and read == [] and len(index.errors) == 1  # not parsed again every refresh
    broken.write_text("---\ntitle: Gift wrapping\nsources: [x]\n---\nGift wrapping costs 5 dollars.\n")
    assert index.refresh() == 4 and read == [broken] and index.errors == []
    broken.write_text("broken again")
    assert index.refresh() == 3 and len(index.errors) == 1
    broken.unlink()
    assert index.refresh() == 3 and index.errors == []  # its error goes with the file


def test_index_survives_reopen(index, knowledge_dir, tmp_path):
    reopened = KnowledgeIndex(knowledge_dir, tmp_path / "index")
    try:
        assert reopened.search("refund how long")[0].entry_id == "orders/refund-timing"
    finally:
        reopened.close()


def test_near_duplicate_entries_are_collapsed_in_results(index, knowledge_dir):
    body = (knowledge_dir / "account/reset-password.md").read_text().split("---\n", 2)[2] + "\nSee also the FAQ."
    write_entry(knowledge_dir, "copies/reset-password", "Reset a forgotten password (copy)", ["password"], body)
    index.refresh()
    ids = [h.entry_id for h in index.search("reset password link")]
    assert sum(i in ("account/reset-password", "copies/reset-password") for i in ids) == 1


def test_knowledge_check_finds_every_kind_of_problem(knowledge_dir):
    from plugin.knowledge.entries import check_knowledge
    (knowledge_dir / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody")
    (knowledge_dir / "nosource.md").write_text("---\ntitle: No source here\n---\nSome words about returns.")
    write_entry(knowledge_dir, "copies/refund-timing", "How long a refund takes", ["refund"], "Other words.")
    body = (knowledge_dir / "shipping/change-address.md").read_text().split("---\n", 2)[2]
    write_entry(knowledge_dir, "copies/address", "Change the shipping address of an order now", ["x"], body)
    count, findings = check_knowledge(knowledge_dir)
    text = "\n".join(map(str, findings))
    assert count == 6
    assert "broken: front matter is not valid YAML" in text
    assert "nosource: no `sources`" in text
    assert "same title as orders/refund-timing" in text
    assert "near-duplicate of shipping/change-address" in text


def test_shipped_knowledge_base_is_clean():
    from plugin.knowledge.entries import check_knowledge

    from .conftest import REPO
    count, findings = check_knowledge(REPO / "knowledge")
    assert count >= 40 and findings == []


def test_a_product_scope_searches_that_products_entries_only(index, knowledge_dir):
    for brand in ("acme", "globex"):
        path = knowledge_dir / f"{brand}/reset-password.md"
        path.parent.mkdir(parents=True)
        path.write_text(f"---\ntitle: Reset a {brand} password\nproducts: [{brand.title()}]\n"
                        f"sources: [x]\n---\nUse the {brand} reset page and its password reset link.\n")
    index.refresh()
    assert index.products() == {"acme", "globex"}
    assert {h.entry_id for h in index.search("reset password link", scope=("globex",))} == {"globex/reset-password"}
    assert len(index.search("reset password link")) == 3  # unscoped: every product's entries


def test_the_score_table_gives_bm25f_computed_by_hand(index, knowledge_dir):
    """Every (word, entry) score equals BM25F (per field, summed) written out plainly, after a deletion."""
    import math
    from collections import Counter

    from plugin.knowledge.analysis import analyse
    from plugin.knowledge.entries import entry_paths, load_entry
    from plugin.knowledge.scoretable import WEIGHTS

    for i in range(30):
        write_entry(knowledge_dir, f"gen/e{i}", f"Topic {i % 7} refund password shipping {i}",
                    ["refund" if i % 2 else "password"], f"Steps for case {i}: " + "reset link refund card " * (i % 5))
    index.refresh()
    (knowledge_dir / "gen/e3.md").unlink()
    index.refresh()
    entries = [load_entry(knowledge_dir, p) for p in entry_paths(knowledge_dir)]
    fields = {e.id: [Counter(analyse(t)) for t in (e.title, " ".join(e.tags), " ".join(e.products), e.body)]
              for e in entries}
    n = len(entries)
    average = [max(sum(sum(f[k].values()) for f in fields.values()) / n, 1.0) for k in range(4)]
    weight = [WEIGHTS.title, WEIGHTS.tags, WEIGHTS.products, WEIGHTS.body]

    def bm25f(word: str, entry: str) -> float:  # a BM25 score per field, summed
        score = 0.0
        for k, f in enumerate(fields[entry]):
            df = sum(word in fs[k] for fs in fields.values())
            tf = weight[k] * f[word]
            norm = WEIGHTS.k1 * ((1 - WEIGHTS.b) + WEIGHTS.b * sum(f.values()) / average[k])
            score += (math.log(n / (df + 1)) + 1) * tf * (WEIGHTS.k1 + 1) / (tf + norm)
        return score

    for question in ["reset password link", "refund to my card", "shipping address change", "topic refund steps"]:
        expected = {e: sum(bm25f(w, e) for w in query_terms(question)) for e in fields}
        words = [(index._words[w], 1.0) for w in query_terms(question) if w in index._words]
        top = [(index._ids[d], score) for d, score in index._table.top(words, 8)]
        assert "gen/e3" not in dict(top)
        assert [s for _, s in top] == pytest.approx(sorted(expected.values(), reverse=True)[:8], rel=1e-9)
        assert all(s == pytest.approx(expected[e], rel=1e-9) for e, s in top)


def test_inflections_meet_by_their_stem(index):
    assert index.search("refunds taking long, how many days?")[0].entry_id == "orders/refund-timing"
    assert index.search("resetting passwords")[0].entry_id == "account/reset-password"


def test_a_misspelt_word_is_read_as_the_knowledge_bases_own_word(index):
    misspelt = index.search("pasword resett linkk")
    assert misspelt and misspelt[0].entry_id == "account/reset-password"
    assert misspelt[0].relevance > 0 and misspelt[0].score == 0  # evidence counts the words as written


def test_a_word_the_question_repeats_weighs_more_with_bm25s_saturation():
    from plugin.knowledge.analysis import QUERY_SATURATION, repaired_terms
    terms = repaired_terms("Router light blinks. I reset the router, the router still blinks",
                           known=lambda stem: 1, correct=lambda stem: None)
    weights = {stem: weight for stem, _, weight in terms}
    k3 = QUERY_SATURATION
    assert weights["router"] == pytest.approx((k3 + 1) * 3 / (k3 + 3)) and weights["light"] == 1.0
    assert weights["blink"] == pytest.approx((k3 + 1) * 2 / (k3 + 2))  # "blinks" twice, one stem
    assert 2 < weights["router"] < 3  # more than once, less than three times


def test_the_subject_a_story_repeats_decides_between_entries(index, knowledge_dir):
    write_entry(knowledge_dir, "devices/router", "Router keeps dropping", ["network"],
                "Restart the router and check the cable.")
    write_entry(knowledge_dir, "devices/printer", "Printer offline", ["network"],
                "Check the printer's cable and restart it.")
    index.refresh()
    story = "The router is in the office next to the printer. Since Monday the router drops, the router light is red."
    assert index.search(story)[0].entry_id == "devices/router"


# Words that stem alike, stop words, codes, apostrophes, one-letter words and underscores:
# what the index's counting takes shortcuts around.
TEXT = st.lists(st.sampled_from(["Refund", "refunds", "refunded", "the", "can't", "o\u2019clock", "o'clock", "E-402",
                                 "e402", "a", "_", "x_y", "Éclair", "ÉCLAIRS", "-", "'", "\n", "42"])
                | st.text(max_size=12), max_size=40).map(" ".join)


@given(texts=st.lists(TEXT, min_size=1, max_size=3))
@example(texts=["Refunds refunded, o\u2019clock E-402 refund", "refund E402 o'clock"])
def test_an_entrys_words_are_counted_as_the_question_analysis_reads_them(texts):
    known: dict[str, str | None] = {}  # shared across texts, as across the entries of one build
    for text in texts:
        assert list(stem_counts(text, known).items()) == list(Counter(analyse(text)).items())


def test_model_names_with_digits_are_kept_and_numbers_dropped():
    assert query_terms("My PS4 and iOS11 phone, order 12345 on the 3rd at 10am") == ["ps4", "ios11", "phone", "order"]


def test_one_process_writes_the_index_and_the_others_reread_it(tmp_path, knowledge_dir):
    from plugin.knowledge.retrieval import KnowledgeIndex
    writer = KnowledgeIndex(knowledge_dir, tmp_path / "index")
    reader = KnowledgeIndex(knowledge_dir, tmp_path / "index")  # another process, same folder
    before = writer.refresh(write=True)
    assert before > 0 and reader.refresh(write=False) == before
    write_entry(knowledge_dir, "shipping/gift-wrap", "Add gift wrapping", ["gift"],
                "Gift wrapping can be added until the order ships.")
    assert reader.refresh(write=False) == before  # a reader never writes, even seeing a change
    assert writer.refresh(write=True) == before + 1
    assert reader.refresh(write=False) == before + 1  # it rereads what the writer wrote
    assert reader.search("can I add gift wrapping?")[0].entry_id == "shipping/gift-wrap"
    writer.close()
    reader.close()
