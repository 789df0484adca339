"""The answer confidence: how likely the best knowledge entry answers the message, 0..1.

BM25 scores grow with the knowledge base and are not comparable between questions, so a
threshold on them (or on anything scaled by the base's size) means one thing on 20 entries
and another on 100,000. The confidence is computed instead from features that are shares
or counts of words, the same at any size (a word's weight is BM25's smoothed idf, used only
inside shares):

- coverage: the share of the question's word weight that the entry contains;
- title_coverage: the share of the entry's title words the question contains;
- question_in_title: the share of the question's word weight that the entry's title contains:
  an entry on the same product but about another question shares the product's words, in
  its body, more than the title's (StackFAQ's questions nothing answers are such);
- phrases: the share of the question's adjacent word pairs that the entry has side by side
  ("forward email" against "email ... forwarded to a team");
- margin: how much more of the question the best entry covers than the next one;
- runner_up: the next entry's BM25F score as a share of the best one's (0.5..1, left out
  without a rival, see runner_up()): near 1 when two entries fit the question as well (a
  ratio of two scores of one query on one base, so the base's size cancels out);
- matched (log): how many of the question's words the entry contains: two words in common
  out of two is weaker evidence than six out of six;
- question, interrogative: a question mark; a sentence opening as a question does;
- similarity, similarity_margin: the embedding cosine of question and entry, and its lead
  over the next entry's, when an embeddings endpoint ranks (a model fitted with them is used
  only for hits that carry them).

The entry's past feedback then moves the odds: analysts' `@vigil useful` / `@vigil wrong` on
answers that rested on it (feedback()). No labelled set carries verdicts to fit that on, so
it is a fixed, stated prior instead: neutral with none, and a few verdicts move the odds a
little (three `wrong` and none `useful`: 0.5 becomes 0.29).

A logistic regression over them, fitted by `vigil eval --calibrate` on labelled questions
(plugin/evaluation/calibration.py), turns them into a probability. Its coefficients are a
data file beside this module, `answerability.yml`, with where they come from; the threshold
stays in the rules (`answer_confidence >= ...`, rules/answer.yml). Deterministic, no model call.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import yaml

from plugin.knowledge.analysis import analyse

MODEL_FILE = Path(__file__).resolve().with_name("answerability.yml")
EMBEDDINGS_MODEL_FILE = MODEL_FILE.with_name("answerability.embeddings.yml")  # written when fitted with embeddings
FEATURES = ("coverage", "title_coverage", "question_in_title", "phrases", "margin", "runner_up", "matched",
            "question", "interrogative")
EMBEDDING_FEATURES = ("similarity", "similarity_margin")  # only when hits carry a cosine
_OPENS = re.compile(r"(?:^|[.!?\n]\s*)(?:how|what|why|where|when|which|who|is|are|can|could|do|does|did|will|"
                    r"would|should|has|have)\b", re.I)


def idf(df: int, n: int) -> float:
    """BM25's smoothed idf: positive even for a word every entry has, highest for one none has."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Evidence:
    """What the features are computed from, for one query and its hits."""

    message: str
    query: list[str]  # the analysed words of the query that found the hits
    entries: list[frozenset[str]]  # the analysed words of the first two hits, best first
    title: list[str]  # the analysed words of the best hit's title
    frequencies: dict[str, int]  # how many entries hold each query word
    size: int  # entries in the base
    similarity: float | None = None  # embedding cosine of the best hit, when embeddings rank
    relevance: tuple[float, ...] = ()  # BM25F scores of the first two hits
    similarities: tuple[float | None, ...] = ()  # embedding cosines of the first two hits
    pairs: frozenset[tuple[str, str]] = frozenset()  # the best hit's adjacent (analysed) words


def runner_up(relevance: tuple[float, ...]) -> float | None:
    """The next hit's BM25F score as a share of the best one's, in 0.5..1; None without a rival.

    Below half, the best entry is clear of the next, and how far clear says no more (the
    labelled rows hardly go lower: a fit there would be an extrapolation). A lone hit says
    nothing either way (on a small base an entry sharing two words with a question is often
    the only one sharing any), nor does a best hit found by meaning alone (BM25F 0): the
    feature is left out, which the model reads as its average.
    """
    if len(relevance) < 2 or relevance[0] <= 0:
        return None
    return max(0.5, min(1.0, relevance[1] / relevance[0]))


def features(e: Evidence) -> dict[str, float]:
    n = max(e.size, 1)
    weights = {t: idf(e.frequencies.get(t, 0), n) for t in e.query}
    total = sum(weights.values()) or 1.0

    def covered(words: frozenset[str] | set[str]) -> float:
        return sum(w for t, w in weights.items() if t in words) / total
    best = e.entries[0] if e.entries else frozenset()
    coverage = covered(best)
    title = set(e.title)
    adjacent = list(zip(e.query, e.query[1:]))
    values = {"coverage": coverage,
              "title_coverage": len(title & set(e.query)) / len(title) if title else 0.0,
              "question_in_title": covered(title),
              "phrases": sum(p in e.pairs for p in adjacent) / len(adjacent) if adjacent else 0.0,
              "margin": coverage - (covered(e.entries[1]) if len(e.entries) > 1 else 0.0),
              "matched": math.log1p(sum(t in best for t in e.query)),
              "question": float("?" in e.message),
              "interrogative": float(bool(_OPENS.search(e.message)))}
    rival = runner_up(e.relevance)
    if rival is not None:
        values["runner_up"] = rival
    if e.similarity is not None:
        values["similarity"] = e.similarity
        following = e.similarities[1] if len(e.similarities) > 1 else None
        values["similarity_margin"] = e.similarity - following if following is not None else 0.0
    return values


@dataclass(frozen=True)
class Model:
    """A logistic regression on standardised features (as `vigil eval --calibrate` writes it)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    provenance: dict[str, Any] = field(default_factory=dict)

    def probability(self, values: dict[str, float]) -> float:
        """A feature left out (runner_up without a rival) counts as its mean: it moves nothing."""
        z = self.intercept + sum(w * (values.get(f, m) - m) / s for f, m, s, w in
                                 zip(self.features, self.mean, self.scale, self.weights))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))

    def to_yaml(self) -> str:
        data = {"features": {f: {"weight": round(w, 5), "mean": round(m, 5), "scale": round(s, 5)}
                             for f, m, s, w in zip(self.features, self.mean, self.scale, self.weights)},
                "intercept": round(self.intercept, 5), "provenance": self.provenance}
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


VERDICT_PRIOR = 2.0  # pseudo-verdicts of each kind an entry starts with: one verdict alone moves little
VERDICTS_FRESH = 60.0  # seconds the verdicts are reused (the pipeline drops them when it records one)


def feedback(useful: int, wrong: int) -> float:
    """The shift in log-odds from an entry's verdicts: 0 with none, as many useful as wrong, or equal."""
    return math.log((useful + VERDICT_PRIOR) / (wrong + VERDICT_PRIOR))


def _pairs(title: str, body: str) -> frozenset[tuple[str, str]]:
    """An entry's adjacent analysed words (stop words dropped, as in a query)."""
    words = analyse(f"{title}\n{body}")
    return frozenset(zip(words, words[1:]))


class AnswerabilityError(ValueError):
    """The answerability file cannot be read; the message says which file and why."""


def load_model(path: Path = MODEL_FILE) -> Model:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        given = data["features"]
        model = Model(tuple(given), tuple(float(v["mean"]) for v in given.values()),
                      tuple(float(v["scale"]) for v in given.values()),
                      tuple(float(v["weight"]) for v in given.values()), float(data["intercept"]),
                      data.get("provenance") or {})
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AnswerabilityError(f"{path}: not an answerability model ({type(exc).__name__}: {exc})") from None
    unknown = set(model.features) - {*FEATURES, *EMBEDDING_FEATURES}
    if unknown or not all(s > 0 for s in model.scale):
        raise AnswerabilityError(f"{path}: unknown features {sorted(unknown)} or a scale that is not positive")
    return model


class Answerability:
    """The answer confidence of a query's hits, against one knowledge index."""

    def __init__(self, index: Any, model: Model | None = None, with_embeddings: Model | None = None,
                 verdicts: Callable[[], dict[str, tuple[int, int]]] | None = None):
        from plugin.knowledge.retrieval import query_terms
        self.index = index
        self._verdicts = verdicts  # {entry id: (useful, wrong)} from the store; None: no feedback
        self._known: tuple[float, dict[str, tuple[int, int]]] | None = None
        self.model = model or load_model()
        if with_embeddings is None and EMBEDDINGS_MODEL_FILE.exists():
            with_embeddings = load_model(EMBEDDINGS_MODEL_FILE)
        self.with_embeddings = with_embeddings
        self._words: Callable[[str], list[str]] = query_terms
        # An entry's words, analysed once per version of its text (bodies run to hundreds of words).
        self._entry_words = lru_cache(maxsize=4096)(lambda title, body: frozenset(query_terms(f"{title}\n{body}")))
        self._entry_pairs = lru_cache(maxsize=4096)(_pairs)

    def evidence(self, message: str, query: str, hits: list[Any]) -> Evidence:
        terms = self._words(query)
        size, frequencies = self.index.frequencies(terms)
        return Evidence(message, terms, [self._entry_words(h.title, h.body) for h in hits[:2]],
                        self._words(hits[0].title) if hits else [], frequencies, size,
                        getattr(hits[0], "similarity", None) if hits else None,
                        tuple(h.relevance for h in hits[:2]), tuple(h.similarity for h in hits[:2]),
                        self._entry_pairs(hits[0].title, hits[0].body) if hits else frozenset())

    def assess(self, message: str, query: str, hits: list[Any]) -> tuple[float, dict[str, float]]:
        """(confidence, features) for the best hit of `query`; (0, {}) when there is none."""
        if not hits:
            return 0.0, {}
        values = features(self.evidence(message, query, hits))
        model = self.with_embeddings if self.with_embeddings and "similarity" in values else self.model
        probability = model.probability(values)
        useful, wrong = self.verdicts().get(hits[0].entry_id, (0, 0))
        if useful or wrong:  # probability is strictly inside 0..1 (Model clamps the log-odds)
            values["feedback"] = feedback(useful, wrong)
            probability = 1 / (1 + math.exp(-(math.log(probability / (1 - probability)) + values["feedback"])))
        return round(probability, 4), values

    def verdicts(self) -> dict[str, tuple[int, int]]:
        """The entries' verdicts, read again after VERDICTS_FRESH seconds or a forget()."""
        if self._verdicts is None:
            return {}
        now = time.monotonic()
        if self._known is None or now - self._known[0] > VERDICTS_FRESH:
            self._known = (now, self._verdicts())
        return self._known[1]

    def forget(self) -> None:
        """A verdict was recorded: read them again before the next assessment."""
        self._known = None
