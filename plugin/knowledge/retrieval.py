"""Keyword search over knowledge/ with Whoosh (BM25F, title and tags boosted).

Whoosh's BM25 scores are unbounded and not comparable between queries, so a threshold
on them means nothing. Each hit therefore also gets an *evidence* score in 0..1: the idf
of the question's terms the entry contains, less a tenth of the idf of those it lacks,
where 1.0 is three words that each appear in just one entry. Measured on tests/eval, this separates
answerable questions better than the share of the query covered, which punishes the long,
chatty messages customers write (see README, "How the answer threshold was chosen").
"""

from __future__ import annotations

import logging
import math
import re
import fcntl
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from whoosh import index
from whoosh.analysis import STOP_WORDS, StemmingAnalyzer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema

from plugin.knowledge.entries import Entry, KnowledgeError, entry_id, entry_paths, load_entry, near_duplicates
from plugin.model import Hit
from plugin.knowledge.scoretable import ScoreTable

log = logging.getLogger(__name__)

# Whoosh's stop list keeps pronouns and question words ("my", "how", "i"), which every
# support message is full of; left in, they make any entry look like a partial match.
_STOP = STOP_WORDS | frozenset("""
    i me my mine myself our ours he him his she her they them their its am was were been being
    do does did doing done how what why where which who whom whose there here than then so
    but just also very too only own same other some any all no nor each few more most such
    hi hello hey dear thanks thank please help hope regards cheers ok okay yes yeah would could
    should shall might must get got want wanted need needed like know let make sure still
    again already now today yesterday tomorrow im ive id dont cant wont didnt doesnt isnt
    """.split())
_ANALYZER = StemmingAnalyzer(stoplist=_STOP)
_SEARCHED = ("title", "tags", "products", "body")
EVIDENCE_WORDS = 3.0  # distinctive words in common that make full evidence
MISSING_PENALTY = 0.1  # weight of the question's terms the entry does not contain
SCHEMA_VERSION = "4"  # bump when SCHEMA changes: an index of another version is rebuilt
SCHEMA = Schema(
    id=ID(unique=True, stored=True),
    stamp=STORED,  # mtime and size of the file when indexed: what incremental refresh compares
    title=TEXT(analyzer=_ANALYZER, field_boost=3.0),
    tags=TEXT(analyzer=_ANALYZER, field_boost=2.0),
    products=TEXT(analyzer=_ANALYZER, field_boost=2.0),
    body=TEXT(analyzer=_ANALYZER),
    every=TEXT(analyzer=_ANALYZER),  # all of the above, for document frequencies
    shown=STORED,  # (title, body) as written, for notes; the indexed text is normalised
    scope=KEYWORD(lowercase=True, commas=True),  # the entry's products, to search one product's entries
    sources=STORED,
    vocab=STORED,  # the entry's analysed words: which query words it has, without terms=True
)

# Error codes are what a question is about ("E1042", "E-402", "0x80070005"): written
# without a hyphen they stay one token, in the index and in queries alike.
_CODE = re.compile(r"\b([A-Za-z]{1,5})-(\d{2,6})\b")
# Things in a message that say nothing about the problem: e-mail addresses, links, masked
# names, who is writing ("my name is Ann Lee"), the signature after "regards,", and every
# token with a digit that is not an error code (order and ticket numbers, dates, times).
# Every branch that repeats a character class starts only where a run of that class starts
# (the look-behinds): started inside a run, it would rescan the rest of the run from every
# position, and one long word of a comment would take quadratic time (issue 11).
_NOISE = re.compile(
    r"(?<!\S)\S+@\S+|https?://\S+|\bph_\w+\b|\bmy name is(?: [A-Z][\w'-]+){1,3}"
    r"|(?<!\s)[^\S\n]*\n\s*(?:(?:kind|best|warm|many)\s+)?(?:regards|wishes|thanks|cheers|sincerely|best)"
    r"[\s,.!]*(?:\n[^\n]*){0,4}$"
    r"|(?<![\w-])-*\b(?![A-Za-z]{1,5}\d{2,6}\b|0x[0-9a-fA-F]{4,}\b)[\w-]*\d[\w-]*\b", re.I)


def searchable(text: str) -> str:
    """Text as the index sees it: error codes joined into one token."""
    return _CODE.sub(r"\1\2", text)


def query_terms(text: str) -> list[str]:
    """The distinct analysed terms of a question, noise (ids, e-mails, names, links) removed."""
    seen: dict[str, None] = {}
    for token in _ANALYZER(_NOISE.sub(" ", searchable(text))):
        seen.setdefault(token.text, None)
    return list(seen)


class KnowledgeIndex:
    """A Whoosh index kept in step with the knowledge folder."""

    def __init__(self, knowledge_dir: Path, index_dir: Path):
        self.knowledge_dir = Path(knowledge_dir)
        self.index_dir = Path(index_dir)
        self._lock = threading.Lock()
        self._skipped: dict[str, tuple[str, str]] = {}  # entry id -> (stamp, why) of files that cannot be read
        version = self.index_dir / "schema-version"
        with self._across_processes():  # two processes starting at once must not both create it
            if index.exists_in(self.index_dir) and version.exists() and version.read_text() == SCHEMA_VERSION:
                self._ix = index.open_dir(self.index_dir)
            else:
                self._ix = self._create()
        self._open()

    def _create(self):
        if self.index_dir.exists():
            shutil.rmtree(self.index_dir)
        self.index_dir.mkdir(parents=True)
        (self.index_dir / "schema-version").write_text(SCHEMA_VERSION)
        return index.create_in(self.index_dir, SCHEMA)

    @property
    def errors(self) -> list[str]:
        """The knowledge files left out of the index, and why."""
        return [why for _, why in self._skipped.values()]

    def rebuild(self) -> int:
        """Index every entry from scratch; return how many are indexed."""
        with self._lock, self._across_processes():
            self._ix = self._create()
            self._skipped.clear()
            self._reopen()
        return self.refresh()

    def refresh(self, write: bool = True) -> int:
        """Add, update and remove entries whose files changed; return the number indexed.

        Several processes share one index: one writes (write=True), the others only reread
        what it wrote; a file lock keeps two writers (two processes starting) apart.
        """
        with self._lock:
            if not write:
                if not self._searcher.up_to_date():  # the writer changed it
                    self._reopen()
                return self._searcher.doc_count()
            with self._across_processes():
                if not self._searcher.up_to_date():  # another process wrote it, maybe while we waited
                    self._reopen()
                on_disk = {}
                for path in entry_paths(self.knowledge_dir):
                    stat = path.stat()
                    on_disk[entry_id(self.knowledge_dir, path)] = (path, f"{stat.st_mtime_ns}:{stat.st_size}")
                if self._stamps is None:  # once per index version, not every refresh
                    self._stamps = {f["id"]: f["stamp"] for f in self._searcher.all_stored_fields()}
                # A file that could not be read is tried again when it changes, not at every refresh.
                seen = {**self._stamps, **{i: stamp for i, (stamp, _) in self._skipped.items()}}
                changed = [i for i, (_, stamp) in on_disk.items() if seen.get(i) != stamp]
                removed = [i for i in self._stamps if i not in on_disk]
                for gone in [i for i in self._skipped if i not in on_disk]:
                    del self._skipped[gone]
                if changed or removed:
                    self._write(on_disk, changed, removed)
                return self._searcher.doc_count()

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

    def _write(self, on_disk: dict, changed: list[str], removed: list[str]) -> None:
        skipped = {}
        writer = self._ix.writer(timeout=10.0)  # another process may hold the write lock briefly
        for entry_id_ in removed:
            writer.delete_by_term("id", entry_id_)
        for entry_id_ in changed:
            path, stamp = on_disk[entry_id_]
            try:
                entry = load_entry(self.knowledge_dir, path)
            except KnowledgeError as exc:
                log.warning("skipping knowledge file: %s", exc)
                skipped[entry_id_] = (stamp, str(exc))
                writer.delete_by_term("id", entry_id_)
                continue
            writer.update_document(**_document(entry, stamp))
        writer.commit()
        for entry_id_ in changed:
            self._skipped.pop(entry_id_, None)
        self._skipped.update(skipped)
        self._reopen()

    def _open(self) -> None:
        """A searcher on the index as it is now, and the scores precomputed from it (once per version)."""
        self._searcher = self._ix.searcher()
        self._table = ScoreTable(self._searcher, _SEARCHED)
        self._stamps: dict[str, str] | None = None  # id -> stamp of the indexed entries, read when a refresh writes

    def _reopen(self) -> None:
        self._searcher.close()  # searcher.refresh() fails on a searcher of an empty index
        self._open()

    def products(self) -> frozenset[str]:
        """The products the entries name (lower case): a ticket tagged with one is scoped to it.

        Asked on every event: read from the score table, which lists them once per index version.
        """
        return self._table.products

    def search(self, text: str, limit: int = 3, scope: tuple[str, ...] = ()) -> list[Hit]:
        """The best entries for a question, each with its evidence score.

        With a scope (products), only entries of those products are searched: a desk that
        serves several brands must not answer one brand's customer from another's guide.
        """
        terms = query_terms(text)
        if not terms:
            return []
        with self._lock:  # a refresh may be closing and replacing the searcher
            searcher = self._searcher
            if searcher.doc_count() == 0:  # Whoosh's idf is undefined on no documents
                return []
            weights = {t: searcher.idf("every", t) for t in terms}
            # Ranked by Whoosh's BM25F scores, precomputed (see scoretable.py): Whoosh's own
            # search walks every posting in Python, seconds per question at 100,000 entries.
            results = [searcher.stored_fields(d) for d in self._table.top(terms, limit, scope)]
            total = sum(weights.values())
            # Whoosh's BM25 idf is log(N / (df + 1)) + 1; a word that only one entry has:
            enough = EVIDENCE_WORDS * (math.log(max(searcher.doc_count(), 2) / 2) + 1)
            hits = []
            for hit in results:
                matched = set(hit["vocab"])
                found = sum(w for t, w in weights.items() if t in matched)
                score = max(0.0, min(1.0, (found - MISSING_PENALTY * (total - found)) / enough))
                title, body = hit["shown"]
                hits.append(Hit(hit["id"], title, body, round(score, 4),
                                tuple(hit["sources"] or ())))
        # Near-duplicate entries would fill the sources with one answer twice: keep the first.
        kept: list[Hit] = []
        for hit in hits:
            if not any(near_duplicates(hit.title, hit.body, k.title, k.body) for k in kept):
                kept.append(hit)
        return kept  # in BM25F order: the rules threshold on the first hit's score

    def close(self) -> None:
        self._searcher.close()


def _document(entry: Entry, stamp: str) -> dict:
    title, body = searchable(entry.title), searchable(entry.body)
    tags, products = searchable(" ".join(entry.tags)), searchable(" ".join(entry.products))
    every = " ".join((title, tags, products, body))
    return {"id": entry.id, "stamp": stamp, "title": title, "tags": tags, "products": products,
            "body": body, "every": every, "vocab": sorted({t.text for t in _ANALYZER(every)}),
            "shown": (entry.title, entry.body), "sources": list(entry.sources),
            "scope": ",".join(p.strip().lower() for p in entry.products)}
