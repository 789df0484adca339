"""Keyword search over knowledge/: BM25F over title, tags, products and body, stemmed.

Each hit carries two scores. `relevance` is the BM25F score that ranks it: unbounded and
not comparable between questions. `score` is the *evidence* in 0..1 the rules threshold
on: the idf of the question's words the entry contains, less a tenth of the idf of those
it lacks, where 1.0 is three words that each appear in just one entry. Measured on
tests/eval, this separates answerable questions better than the share of the query
covered, which punishes the long, chatty messages customers write (see README, "How the
answer threshold was chosen").

The index is the entries' analysed words, kept in one file beside the knowledge folder
(`entries.pickle`, rewritten whole on a change, replaced atomically) and turned into a
score table (scoretable.py) once per change. Several processes share one index: one
writes, the others reread the file when it changes.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import pickle
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from plugin.knowledge.analysis import Speller, query_terms, repaired_terms, searchable, stem_counts
from plugin.knowledge.embeddings import DEPTH, EntryVectors, fuse, passage_text
from plugin.knowledge.entries import Entry, KnowledgeError, entry_id, entry_paths, load_entry, near_duplicates
from plugin.knowledge.scoretable import FIELDS, ScoreTable
from plugin.model import Hit

__all__ = ["KnowledgeIndex", "query_terms", "searchable"]

log = logging.getLogger(__name__)

EVIDENCE_WORDS = 3.0  # distinctive words in common that make full evidence
MISSING_PENALTY = 0.1  # weight of the question's terms the entry does not contain
REPAIRED_WEIGHT = 0.8  # a misspelt word's repair ranks a little less than a word as written
SCHEMA_VERSION = "5"  # bump when the stored form changes: an index of another version is rebuilt
_FILE = "entries.pickle"


@dataclass(frozen=True)
class _Indexed:
    """One entry as the index keeps it: its words as (field, word id, count) rows, and what notes show."""

    stamp: str  # mtime and size of the file when indexed: what incremental refresh compares
    title: str
    body: str
    sources: tuple[str, ...]
    scope: tuple[str, ...]  # its products, lower case: to search one product's entries
    terms: bytes  # int32 rows (field, word id, count)

    def word_ids(self) -> set[int]:
        """The ids of the words the entry has, in any field: which of a question's it holds."""
        return set(np.frombuffer(self.terms, dtype=np.int32)[1::3].tolist())


class KnowledgeIndex:
    """The knowledge folder's entries, analysed, kept in step with the files."""

    def __init__(self, knowledge_dir: Path, index_dir: Path, vectors: EntryVectors | None = None):
        self.knowledge_dir = Path(knowledge_dir)
        self.index_dir = Path(index_dir)
        self.vectors = vectors  # with an embeddings endpoint: meaning is fused with BM25F
        self._aligned: tuple = (None, np.empty((0, 0)), np.empty(0, dtype=np.int64))  # (version, matrix, rows)
        self._lock = threading.Lock()
        self._skipped: dict[str, tuple[str, str]] = {}  # entry id -> (stamp, why) of files that cannot be read
        self._entries: dict[str, _Indexed] = {}
        self._words: dict[str, int] = {}
        self._seen: tuple | None = None  # identity of the file last read: another process may replace it
        with self._across_processes():
            version = self.index_dir / "schema-version"
            if not (version.exists() and version.read_text() == SCHEMA_VERSION):
                self._create()
            self._load()

    @property
    def errors(self) -> list[str]:
        """The knowledge files left out of the index, and why."""
        return [why for _, why in self._skipped.values()]

    def rebuild(self) -> int:
        """Index every entry from scratch; return how many are indexed."""
        with self._lock, self._across_processes():
            self._create()
            self._skipped.clear()
            self._load()
        return self.refresh()

    def refresh(self, write: bool = True) -> int:
        """Add, update and remove entries whose files changed; return the number indexed.

        Several processes share one index: one writes (write=True), the others only reread
        what it wrote; a file lock keeps two writers (two processes starting) apart.
        """
        with self._lock:
            if not write:
                if self._identity() != self._seen:  # the writer changed it
                    self._load()
                return len(self._entries)
            with self._across_processes():
                if self._identity() != self._seen:  # another process wrote it, maybe while we waited
                    self._load()
                on_disk = {}
                for path in entry_paths(self.knowledge_dir):
                    stat = path.stat()
                    on_disk[entry_id(self.knowledge_dir, path)] = (path, f"{stat.st_mtime_ns}:{stat.st_size}")
                # A file that could not be read is tried again when it changes, not at every refresh.
                seen = {**{i: e.stamp for i, e in self._entries.items()},
                        **{i: stamp for i, (stamp, _) in self._skipped.items()}}
                changed = [i for i, (_, stamp) in on_disk.items() if seen.get(i) != stamp]
                removed = [i for i in self._entries if i not in on_disk]
                for gone in [i for i in self._skipped if i not in on_disk]:
                    del self._skipped[gone]
                if changed or removed:
                    self._write(on_disk, changed, removed)
                return len(self._entries)

    @contextmanager
    def _across_processes(self) -> Iterator[None]:
        """An exclusive lock on a file beside the index, held by one process at a time."""
        self.index_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir.parent / f"{self.index_dir.name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _create(self) -> None:
        if self.index_dir.exists():
            shutil.rmtree(self.index_dir)
        self.index_dir.mkdir(parents=True)
        self._save({}, {})
        (self.index_dir / "schema-version").write_text(SCHEMA_VERSION)

    def _identity(self) -> tuple | None:
        try:
            stat = (self.index_dir / _FILE).stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _save(self, entries: dict[str, _Indexed], words: dict[str, int]) -> None:
        temporary = self.index_dir / f"{_FILE}.{os.getpid()}"
        with open(temporary, "wb") as out:
            pickle.dump({"entries": entries, "words": list(words)}, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, self.index_dir / _FILE)  # readers see the old file or the new one, whole

    def _load(self) -> None:
        identity = self._identity()
        with open(self.index_dir / _FILE, "rb") as stored:
            data = pickle.load(stored)
        self._entries, self._words = data["entries"], {w: i for i, w in enumerate(data["words"])}
        self._seen = identity
        self._build_table()

    def _build_table(self) -> None:
        self._ids = list(self._entries)
        indexed = self._entries.values()
        self._table = ScoreTable([np.frombuffer(e.terms, dtype=np.int32).reshape(-1, 3) for e in indexed],
                                 [e.scope for e in indexed], len(self._words))
        if self.vectors:
            texts = [passage_text(e.title, e.body) for e in indexed]
            self._hashes = [self.vectors.hash(t) for t in texts]
            self.vectors.want(dict(zip(self._hashes, texts)))

    def _write(self, on_disk: dict, changed: list[str], removed: list[str]) -> None:
        entries, words = dict(self._entries), dict(self._words)
        skipped = {}
        stems: dict[str, str | None] = {}  # each word's stem, worked out once for this build
        for entry_id_ in removed:
            del entries[entry_id_]
        for entry_id_ in changed:
            path, stamp = on_disk[entry_id_]
            entries.pop(entry_id_, None)
            try:
                entries[entry_id_] = _indexed(load_entry(self.knowledge_dir, path), stamp, words, stems)
            except KnowledgeError as exc:
                log.warning("skipping knowledge file: %s", exc)
                skipped[entry_id_] = (stamp, str(exc))
        self._save(entries, words)
        self._entries, self._words, self._seen = entries, words, self._identity()
        for entry_id_ in changed:
            self._skipped.pop(entry_id_, None)
        self._skipped.update(skipped)
        self._build_table()

    def products(self) -> frozenset[str]:
        """The products the entries name (lower case): a ticket tagged with one is scoped to it."""
        return self._table.products

    def search(self, text: str, limit: int = 3, scope: tuple[str, ...] = ()) -> list[Hit]:
        """The best entries for a question, best first, each with its relevance and evidence.

        With a scope (products), only entries of those products are searched: a desk that
        serves several brands must not answer one brand's customer from another's guide.
        """
        with self._lock:  # a refresh may be replacing the table
            table, ids, entries, words = self._table, self._ids, self._entries, self._words
            hashes = self._hashes if self.vectors else []
        size = table.size
        if not size:
            return []
        known = lambda stem: int(table.df[words[stem]]) if stem in words else 0  # noqa: E731
        terms = repaired_terms(text, known, lambda stem: self._speller(table, words).correct(stem))
        if not terms and not self.vectors:
            return []
        keywords = [(words.get(t, -1), weight * (REPAIRED_WEIGHT if repaired else 1.0))
                    for t, repaired, weight in terms]
        similarity = self._similarity(text, hashes, scope, table)
        if similarity is None:
            ranked = table.top(keywords, limit, scope)
        else:  # the keyword ranking fused with the ranking by meaning
            by_words = table.top(keywords, DEPTH, scope)
            bm25 = dict(by_words)
            ranked = [(d, bm25.get(d, 0.0)) for d, _ in fuse(by_words, similarity)[:limit]]
        # Whoosh's idf, log(N / (df + 1)) + 1, which the evidence threshold was calibrated on.
        # Evidence counts the words as written: a repair ranks, it is not proof (counted as
        # found, repairs let loosely related questions through the answer threshold).
        weights = {t: math.log(size / (known(t) + 1)) + 1 for t in query_terms(text)}
        total = sum(weights.values())
        enough = EVIDENCE_WORDS * (math.log(max(size, 2) / 2) + 1)  # three words only one entry has
        hits: list[Hit] = []
        for doc, relevance in ranked:
            entry = entries[ids[doc]]
            held = entry.word_ids()
            matched = sum(w for t, w in weights.items() if words.get(t, -1) in held)
            evidence = max(0.0, min(1.0, (matched - MISSING_PENALTY * (total - matched)) / enough))
            cosine = None if similarity is None or not np.isfinite(similarity[doc]) else float(similarity[doc])
            hit = Hit(ids[doc], entry.title, entry.body, round(evidence, 4), entry.sources, round(relevance, 4),
                      None if cosine is None else round(cosine, 4))
            # Near-duplicate entries would fill the sources with one answer twice: keep the first.
            if not any(near_duplicates(hit.title, hit.body, k.title, k.body) for k in hits):
                hits.append(hit)
        return hits

    def _speller(self, table: ScoreTable, words: dict[str, int]) -> Speller:
        """The speller of this version of the index, built the first time a question needs it."""
        with self._lock:
            if getattr(self, "_spelling", (None,))[0] is not table:
                self._spelling = (table, Speller({w: int(table.df[i]) for w, i in words.items()
                                                  if i < len(table.df) and table.df[i]}))
            return self._spelling[1]

    def _similarity(self, text: str, hashes: list[str], scope: tuple[str, ...],
                    table: ScoreTable) -> np.ndarray | None:
        """Cosine of each entry with the question (-inf: no vector yet, or out of scope); None when off or down."""
        if not self.vectors:
            return None
        with self._lock:  # the entries' matrix is rebuilt only when vectors were added or entries changed
            version, matrix, rows = self._aligned
            if version != (self.vectors.version, id(hashes)):
                matrix, rows = self.vectors.aligned(hashes)
                self._aligned = ((self.vectors.version, id(hashes)), matrix, rows)
        if not len(rows):
            return None
        question = self.vectors.embedder.question(text)  # a short timeout; None when the server fails
        if question is None or len(question) != matrix.shape[1]:
            return None
        similarity = np.full(table.size, -np.inf)
        similarity[rows] = matrix @ question
        if scope:
            similarity[~table.allowed(scope)] = -np.inf
        return similarity

    def frequencies(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """(entries in the base, {analysed term: entries holding it}): what the answer confidence weighs words by."""
        with self._lock:  # a refresh may be replacing the table
            table, words = self._table, self._words
        return table.size, {t: int(table.df[words[t]]) if words.get(t, len(table.df)) < len(table.df) else 0
                            for t in terms}

    def close(self) -> None:
        """Nothing to release: the index is read whole into memory."""


def _indexed(entry: Entry, stamp: str, words: dict[str, int], stems: dict[str, str | None]) -> _Indexed:
    """An entry's analysed fields as (field, word id, count) rows; new words get the next ids.

    `stems` is the stem of each word seen so far in this build (stem_counts).
    """
    fields = (entry.title, " ".join(entry.tags), " ".join(entry.products), entry.body)
    assert len(fields) == len(FIELDS)
    numbers: list[int] = []  # the rows, flat: one array is built from them, not one per row
    for f, text in enumerate(fields):
        for word, n in stem_counts(text, stems).items():
            numbers += (f, words.setdefault(word, len(words)), n)
    return _Indexed(stamp, entry.title, entry.body, entry.sources,
                    tuple(p.strip().lower() for p in entry.products),
                    np.array(numbers, dtype=np.int32).tobytes())
