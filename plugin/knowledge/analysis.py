"""Words as the knowledge index sees them: tokens, stop words, Snowball stems, typo repair.

Entries and questions go through the same analysis, so "refunds", "refunded" and "refund"
meet, and "E-402" meets "E402". Questions are cleaned first of what says nothing about the
problem (names, e-mail addresses, links, order numbers, dates, signatures).
"""

from __future__ import annotations

import re
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
    """The stems of a text, in order, repeats kept: what an entry's field is indexed as."""
    return stems(words(text))


def _clean(question: str) -> str:
    return _NOISE.sub(" ", searchable(question))


def query_terms(text: str) -> list[str]:
    """The distinct stems of a question, noise (ids, e-mails, names, links) removed."""
    return list(dict.fromkeys(analyse(_clean(text))))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits(word: str) -> set[str]:
    """Every string one deletion, transposition, replacement or insertion away."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
            | {a + c + b for a, b in splits for c in _LETTERS})


MIN_TYPO_LENGTH = 5  # shorter words have too many neighbours one edit away to guess


def repaired_terms(text: str, known: Callable[[str], int]) -> list[tuple[str, bool]]:
    """The question's stems, each misspelt word replaced by the knowledge base's own word.

    A word whose stem no entry has, of five letters or more, becomes the stem one edit away
    ("stikethrough" -> "strikethrough") that most entries have; `known(stem)` is how many
    entries have a stem. Returns (stem, repaired?) pairs, distinct stems, in order.
    """
    out: dict[str, bool] = {}
    for word in words(_clean(text)):
        stem = _STEMMER.stemWord(word)
        if stem not in out and not known(stem) and len(word) >= MIN_TYPO_LENGTH and word.isalpha():
            candidates = [(known(s), s) for s in set(_STEMMER.stemWords(list(_edits(word)))) if s != stem]
            count, best = max(candidates, default=(0, stem))
            if count:
                out.setdefault(best, True)
                continue
        out.setdefault(stem, False)
    return list(out.items())
