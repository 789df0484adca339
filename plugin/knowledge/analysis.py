"""Words as the knowledge index sees them: tokens, stop words, Snowball stems, typo repair.

Entries and questions go through the same analysis, so "refunds", "refunded" and "refund"
meet, and "E-402" meets "E402". Questions are cleaned first of what says nothing about the
problem (names, e-mail addresses, links, order numbers, dates, signatures).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Callable, Iterable

import Stemmer  # PyStemmer: Snowball's compiled stemmers, no data to download

_STEMMER = Stemmer.Stemmer("english")

# Support messages are full of pronouns, question words and politeness; left in, they make
# any entry look like a partial match. Content words ("account", "refund") are never here.
STOP_WORDS = frozenset("""
    a an and are as at be by can for from have if in is it may of on or that the this to us we
    not will with yet you your tbd when
    i me my mine myself our ours he him his she her they them their its am was were been being
    do does did doing done how what why where which who whom whose there here than then so
    but just also very too only own same other some any all no nor each few more most such
    hi hello hey dear thanks thank please help hope regards cheers ok okay yes yeah would could
    should shall might must get got want wanted need needed like know let make sure still
    again already now today yesterday tomorrow im ive id dont cant wont didnt doesnt isnt
    """.split())

_TOKEN = re.compile(r"\w+")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019](?=\w)")

# Error codes are what a question is about ("E1042", "E-402", "0x80070005"): written
# without a hyphen they stay one token, in the index and in queries alike.
_CODE = re.compile(r"\b([A-Za-z]{1,5})-(\d{2,6})\b")
# Things in a message that say nothing about the problem: e-mail addresses, links, masked
# names, who is writing ("my name is Ann Lee"), the signature after "regards,", and every
# token with a digit that is not a code or a model name ("E402", "0x8007", "ps4", "ios11"):
# order and ticket numbers, dates, times, amounts.
# Every branch that repeats a character class starts only where a run of that class starts
# (the look-behinds): started inside a run, it would rescan the rest of the run from every
# position, and one long word of a comment would take quadratic time (issue 11).
_NOISE = re.compile(
    r"(?<!\S)\S+@\S+|https?://\S+|\bph_\w+\b|\b[Mm]y name is(?: [A-Z][\w'-]+){1,3}"
    r"|(?<!\s)[^\S\n]*\n\s*(?:(?:kind|best|warm|many)\s+)?(?:regards|wishes|thanks|cheers|sincerely|best)"
    r"[\s,.!]*(?:\n[^\n]*){0,4}$"
    r"|(?<![\w-])-*\b(?![A-Za-z]{1,8}\d{1,6}\b|0x[0-9a-fA-F]{4,}\b)[\w-]*\d[\w-]*\b", re.I)


def searchable(text: str) -> str:
    """Text as the index sees it: error codes joined into one token."""
    return _CODE.sub(r"\1\2", text)


def words(text: str) -> list[str]:
    """Lower-case tokens of two characters or more that are not stop words, unstemmed."""
    text = _APOSTROPHE.sub("", searchable(text).lower())  # "can't" -> "cant", "user's" -> "users"
    return [w for w in _TOKEN.findall(text) if len(w) > 1 and w not in STOP_WORDS and w != "_"]


def stems(tokens: Iterable[str]) -> list[str]:
    return _STEMMER.stemWords(list(tokens))


def analyse(text: str) -> list[str]:
    """The stems of a text, in order, repeats kept."""
    return stems(words(text))


def stem_counts(text: str, known: dict[str, str | None] | None = None) -> dict[str, int]:
    """How often each stem occurs in a text, in the order the stems first occur: what an
    entry's field is indexed as.

    The same words as `words`, counted before they are filtered and stemmed: a text repeats
    most of its words, so each distinct word is looked at once. `known` remembers, across the
    texts of one build, each word's stem (None: a word left out), so a word is stemmed once
    per build rather than once per entry; together this is most of building an index.
    """
    known = {} if known is None else known
    if "-" in text:  # the substitutions cost more than looking for what they replace
        text = searchable(text)
    text = text.lower()
    if "'" in text or "\u2019" in text:
        text = _APOSTROPHE.sub("", text)
    counts = Counter(_TOKEN.findall(text))
    new = [w for w in counts if w not in known]
    for word, stem in zip(new, _STEMMER.stemWords(new)):
        known[word] = stem if len(word) > 1 and word not in STOP_WORDS and word != "_" else None
    stemmed: dict[str, int] = {}
    for stem, n in zip(map(known.__getitem__, counts), counts.values()):
        if stem is not None:
            stemmed[stem] = stemmed.get(stem, 0) + n
    return stemmed


def _clean(question: str) -> str:
    return _NOISE.sub(" ", searchable(question))


@lru_cache(maxsize=32)
def _question_words(text: str) -> tuple[str, ...]:
    # A search reads its question twice (repaired_terms to rank, query_terms for the evidence):
    # cleaning it is the costlier half of either, so it is done once.
    return tuple(words(_clean(text)))


def query_terms(text: str) -> list[str]:
    """The distinct stems of a question, noise (ids, e-mails, names, links) removed."""
    return list(dict.fromkeys(stems(_question_words(text))))


MIN_TYPO_LENGTH = 5  # shorter words have too many neighbours one edit away to guess


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


class Speller:
    """The knowledge base's stems by their one-letter deletions (SymSpell's trick): two words one
    edit apart share a deletion, so a misspelt word's neighbours are found by a few lookups."""

    def __init__(self, document_frequency: dict[str, int]):
        self._df = document_frequency
        self._by_deletion: dict[str, list[str]] = {}
        for stem in document_frequency:
            if len(stem) >= MIN_TYPO_LENGTH - 1 and stem.isalpha():
                for key in _deletes(stem) | {stem}:
                    self._by_deletion.setdefault(key, []).append(stem)

    def correct(self, stem: str) -> str | None:
        """The stem one edit away (two at most) that most entries have, or None."""
        near = {c for key in _deletes(stem) | {stem} for c in self._by_deletion.get(key, ())} - {stem}
        return max(near, key=lambda c: (self._df[c], c)) if near else None


QUERY_SATURATION = 8.0  # BM25's k3: a word said twice counts more, said ten times not ten times as much


def repaired_terms(text: str, known: Callable[[str], int],
                   correct: Callable[[str], str | None]) -> list[tuple[str, bool, float]]:
    """The question's stems, each misspelt word replaced by the knowledge base's own word.

    A word of five letters or more whose stem no entry has (`known(stem)` is how many do)
    becomes the stem `correct` finds ("stikethrough" -> "strikethrough"). Returns (stem,
    repaired?, weight) triples, distinct stems, in order. The weight is BM25's for a word the
    question repeats, (k3 + 1) n / (k3 + n): a long message names its subject more than once
    ("the router ... the router's light ... reset the router"), and plain BM25 counts that.
    """
    out: dict[str, list] = {}
    seen: dict[str, tuple[str, bool]] = {}  # word -> (stem, repaired?): each distinct word looked up once
    for word in _question_words(text):
        if word not in seen:
            stem, repaired = _STEMMER.stemWord(word), False
            if len(word) >= MIN_TYPO_LENGTH and word.isalpha() and not known(stem):
                fixed = correct(stem)
                if fixed:
                    stem, repaired = fixed, True
            seen[word] = (stem, repaired)
        stem, repaired = seen[word]
        found = out.setdefault(stem, [repaired, 0])
        found[1] += 1
    k3 = QUERY_SATURATION
    return [(stem, repaired, (k3 + 1) * n / (k3 + n)) for stem, (repaired, n) in out.items()]
