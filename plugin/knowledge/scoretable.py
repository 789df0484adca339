"""BM25F scores precomputed per (word, entry) in numpy arrays, so a question is ranked in a millisecond.

A word's score in an entry does not depend on the question, so it is computed once per
change of the knowledge base, for every (word, entry) pair at once; a question then sums
its words' slices with numpy. The formula is BM25F as Whoosh computes it: a BM25 score per
field (the count times the field's weight, that field's length norm and idf, log(N / (df +
1)) + 1), summed over the fields. A word in the title thus adds a score of its own rather
than saturating with the body's; measured against pooling the fields before saturating
(BM25F as Robertson and Zaragoza write it), it ranks as well on the development sets and
keeps the evidence scores the answer threshold was calibrated on (benchmarks/ranking.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIELDS = ("title", "tags", "products", "body")


@dataclass(frozen=True)
class Weights:
    """How much a word counts in each field, and BM25's saturation (k1) and length norm (b).

    Fitted on the tuning parts of two real sets (benchmarks/ranking.py --fit), not guessed.
    """
    title: float = 2.0
    tags: float = 2.0
    products: float = 2.0
    body: float = 1.5
    k1: float = 1.6
    b: float = 0.5

    @property
    def fields(self) -> np.ndarray:
        return np.array([self.title, self.tags, self.products, self.body])


WEIGHTS = Weights()
FEW = 8  # up to this many best entries, picking them one by one beats partitioning the scores


class ScoreTable:
    """Scores of every (word, entry) pair: row `word` holds the entries that have it, sorted.

    `terms` is one int32 array (field, word id, count) per entry; `scopes` each entry's products.
    """

    def __init__(self, terms: list[np.ndarray], scopes: list[tuple[str, ...]], words: int,
                 weights: Weights | None = None):
        weights = weights or WEIGHTS
        self.size = size = len(terms)
        rows = np.concatenate(terms) if terms else np.empty((0, 3), dtype=np.int32)
        doc = np.repeat(np.arange(size, dtype=np.int64), [len(t) for t in terms])
        field, word, count = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2].astype(float)
        lengths = np.bincount(doc * len(FIELDS) + field, weights=count,
                              minlength=size * len(FIELDS)).reshape(size, len(FIELDS))
        average = np.maximum(lengths.mean(axis=0), 1.0) if size else np.ones(len(FIELDS))
        norm = weights.k1 * ((1 - weights.b) + weights.b * lengths / average)
        in_field = np.bincount(field * words + word, minlength=len(FIELDS) * words)  # df per (field, word)
        idf = np.log(max(size, 1) / (in_field[field * words + word] + 1)) + 1
        weighted = weights.fields[field] * count
        scores = idf * weighted * (weights.k1 + 1) / (weighted + norm[doc, field])
        pair, where = np.unique(word * max(size, 1) + doc, return_inverse=True)
        self._docs = pair % max(size, 1)
        pair_word = pair // max(size, 1)
        self._scores = np.bincount(where, weights=scores, minlength=len(pair))  # summed over fields
        self.df = np.bincount(pair_word, minlength=words)  # entries that have each word, in any field
        # Where each word's row starts in _docs and _scores, as Python ints: a question looks up
        # a few of them, and indexing a numpy array one item at a time costs more than a list.
        self._bounds: list[int] = np.searchsorted(pair_word, np.arange(words + 1)).tolist()
        self._scopes: dict[str, list[int]] = {}
        for d, products in enumerate(scopes):
            for product in products:
                self._scopes.setdefault(product, []).append(d)
        self.products = frozenset(self._scopes)  # every product an entry names, lower case

    def allowed(self, scope: tuple[str, ...]) -> np.ndarray:
        """Which entries name one of these products."""
        allowed = np.zeros(self.size, dtype=bool)
        for product in scope:
            allowed[self._scopes.get(product.lower(), [])] = True
        return allowed

    def top(self, words: list[tuple[int, float]], limit: int,
            scope: tuple[str, ...] = ()) -> list[tuple[int, float]]:
        """(entry number, score) of the best `limit` entries for (word id, weight) pairs, best first.

        Ties go to the lower entry number, so the order does not depend on numpy's partition.
        """
        bounds, all_docs, all_scores = self._bounds, self._docs, self._scores
        docs, scores = [], []
        for word, weight in words:
            if 0 <= word < len(bounds) - 1 and bounds[word + 1] > bounds[word]:
                start, end = bounds[word], bounds[word + 1]
                docs.append(all_docs[start:end])
                scores.append(all_scores[start:end] if weight == 1.0 else all_scores[start:end] * weight)
        if not docs:
            return []
        total = np.bincount(np.concatenate(docs), weights=np.concatenate(scores), minlength=self.size)
        if scope:
            total[~self.allowed(scope)] = 0.0
        candidates = np.flatnonzero(total > 0)
        k = min(limit, len(candidates))
        if k == 0:
            return []
        values = total[candidates]
        if k <= FEW:  # argmax finds the first of equal scores, the lowest entry number
            best: list[tuple[int, float]] = []
            for _ in range(k):
                i = int(values.argmax())
                best.append((int(candidates[i]), float(values[i])))
                values[i] = -np.inf
            return best
        kth = np.partition(values, len(candidates) - k)[len(candidates) - k]
        chosen = candidates[values >= kth]
        order = chosen[np.lexsort((chosen, -total[chosen]))][:k]
        return list(zip(order.tolist(), total[order].tolist()))
