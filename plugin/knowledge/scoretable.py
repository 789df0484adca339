"""Whoosh's BM25F scores, precomputed per (word, entry), so a question is ranked in milliseconds.

Whoosh walks the postings of every query word in every field in pure Python: seconds per
question at 100,000 entries. But a word's score in an entry does not depend on the question,
so it is computed once per index version from Whoosh's own postings, idf and field lengths,
with the BM25F formula Whoosh applies; a question then sums its words' arrays with numpy.
Ranking equals Whoosh's search (benchmarks/README.md), at a few milliseconds.
"""

from __future__ import annotations

import numpy as np

K1, B = 1.2, 0.75  # Whoosh's BM25F defaults, which the index is searched with


class ScoreTable:
    def __init__(self, searcher, fields: tuple[str, ...]):
        reader = searcher.reader()
        self.size = size = searcher.doc_count_all()
        live = np.array([not reader.is_deleted(d) for d in range(size)], dtype=bool) \
            if reader.has_deletions() else np.ones(size, dtype=bool)
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for field in fields:
            average = searcher.avg_field_length(field) or 1.0
            lengths = np.array([reader.doc_field_length(d, field, 0) for d in range(size)], dtype=float)
            norm = K1 * ((1 - B) + B * lengths / average)
            for word in _words(reader.lexicon(field)):
                matcher = reader.postings(field, word)
                ids, weights = [], []
                while matcher.is_active():
                    ids.append(matcher.id())
                    weights.append(matcher.weight())  # frequency x the field's boost
                    matcher.next()
                docs, freq = np.array(ids, dtype=np.int64), np.array(weights, dtype=float)
                idf = searcher.idf(field, word)  # Whoosh's own, deletions accounted as it does
                keep = live[docs]
                scores = idf * freq * (K1 + 1) / (freq + norm[docs])
                parts.setdefault(word, []).append((docs[keep], scores[keep]))
        self._postings = {w: (np.concatenate([p[0] for p in v]), np.concatenate([p[1] for p in v]))
                          for w, v in parts.items()}
        self._scopes = {p: np.array(list(reader.postings("scope", p).all_ids()), dtype=np.int64)
                        for p in _words(reader.lexicon("scope"))}
        self.products = frozenset(self._scopes)  # every product an entry names, lower case

    def top(self, words: list[str], limit: int, scope: tuple[str, ...] = ()) -> list[int]:
        """Document numbers of the best `limit` entries, best first (ties: Whoosh's order)."""
        found = [self._postings[w] for w in words if w in self._postings]
        if not found:
            return []
        total = np.bincount(np.concatenate([f[0] for f in found]), minlength=self.size,
                            weights=np.concatenate([f[1] for f in found]))
        if scope:
            allowed = np.zeros(self.size, dtype=bool)
            for product in scope:
                allowed[self._scopes.get(product.lower(), np.empty(0, dtype=np.int64))] = True
            total[~allowed] = 0.0
        candidates = np.flatnonzero(total > 0)
        k = min(limit, len(candidates))
        if k == 0:
            return []
        # Everything scoring at least the k-th score, so that ties at the cut go, as in Whoosh,
        # to the lower document number rather than to whichever argpartition happened to keep.
        kth = np.partition(total[candidates], len(candidates) - k)[len(candidates) - k]
        best = candidates[total[candidates] >= kth]
        return [int(d) for d in best[np.lexsort((best, -total[best]))][:k]]


def _words(lexicon) -> list[str]:
    return [w.decode() if isinstance(w, bytes) else w for w in lexicon]
