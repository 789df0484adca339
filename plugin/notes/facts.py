"""The facts an analyst needs from a conversation, said once: money, deadlines, who is hit.

A note that quotes the customer back makes the analyst read the message again (and copies
their card number and phone into the helpdesk and our database). Instead, pick out what
matters: amounts, deadlines, how many people or sites are affected, error codes and the
products named. Every fact is a short span, redacted like text sent to a model.

Every pattern is linear: bounded repeats only, and each ticket text is capped before it is
read (a 64,000-character comment without spaces must not stall the worker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from plugin.redaction import redact

MAX_TEXT = 4000  # characters read per message: facts are stated early and plainly
MAX_EACH = 3  # of each kind: more is a list to read, not a fact

_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]{0,6}\.?"
_WHEN = (rf"(?:today|tonight|tomorrow(?: morning| evening| night)?|this (?:morning|afternoon|evening|week|weekend|month|{_DAY})"
         rf"|next (?:week|month|{_DAY})|(?:on |this |next )?{_DAY}(?: morning| evening| night)?"
         rf"|end of (?:the |this |next )?(?:day|week|month|quarter)|eod|eow"
         rf"|in (?:\d{{1,3}}|a|an|two|three|a few) (?:hours?|days?|weeks?)"
         rf"|(?:on )?{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?|(?:on )?\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}"
         rf"|(?:on )?\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|(?:at )?\d{{1,2}}(?::\d\d)? ?(?:am|pm))")
_EVENT = (r"(?:launch|go[- ]live|deadline|release|opening|event|wedding|demo|presentation|meeting|conference|"
          r"flight|trip|campaign|audit|cutover|migration|exam|interview)")
_PATTERNS = {
    "amount": re.compile(
        r"[$€£¥]\s?\d{1,3}(?:[,.]\d{3}){0,4}(?:\.\d{1,2})?(?:\s?(?:k|m|bn|million|thousand|billion)\b)?"
        r"|\b\d{1,3}(?:[,.]\d{3}){0,4}(?:\.\d{1,2})?\s?(?:k\s)?(?:usd|eur|gbp|dollars|euros|pounds|bucks)\b",
        re.I),
    "deadline": re.compile(
        rf"\b{_EVENT}s?\b(?:[ ,]+[\w']{{1,20}}){{0,4}}?[ ,]+{_WHEN}\b"
        rf"|\b(?:by|before|until|due|no later than|deadline(?: is)?)\s+{_WHEN}\b", re.I),
    "affected": re.compile(
        r"\b(?:\d{1,3}(?:,\d{3}){0,3}(?: of (?:our|my|the))?|two|three|four|five|six|seven|eight|nine|ten|dozens of|hundreds of|"
        r"thousands of|all(?: of)?(?: our| my| the)?|several|multiple|many|most of(?: our| my| the)?)"
        r" (?:[a-z]{1,20} )?(?:users|customers|clients|stores|sites|branches|offices|locations|employees|staff|"
        r"people|members|regions|agents|devices|accounts|teams|shops|restaurants|warehouses|servers|"
        r"colleagues|coworkers|participants|students|guests)\b", re.I),
    "error": re.compile(
        r"\b(?:error|code|status)(?: code)?\s?[:#]?\s?[A-Z]{0,5}[-_]?\d{2,6}[A-Z]?\b"
        r"|\bHTTP ?[1-5]\d\d\b|\b[45]\d\d (?:error|bad gateway|service unavailable|internal server error|"
        r"not found|forbidden|unauthori[sz]ed|gateway timeout)\b|\bERR_[A-Z_]{3,40}\b|\b0x[0-9A-F]{8}\b",
        re.I),
}
_NON_WORD = re.compile(r"[^a-z0-9]+")
LABELS = {"amount": "Money at stake", "deadline": "Deadline", "affected": "Affected",
          "error": "Error", "product": "Product"}


@dataclass(frozen=True)
class Fact:
    kind: str  # amount, deadline, affected, error, product
    text: str

    def __str__(self) -> str:
        return f"{LABELS[self.kind]}: {self.text}"


def key_facts(texts: list[str], products: frozenset[str] | set[str] = frozenset()) -> list[Fact]:
    """The facts stated in these texts (latest first), each kind in a fixed order, deduplicated."""
    found: dict[str, dict[str, None]] = {kind: {} for kind in LABELS}
    for text in texts:
        text = " ".join(text[:MAX_TEXT].split())
        for kind, pattern in _PATTERNS.items():
            for match in pattern.finditer(text):
                span = redact(match.group(0).strip(" ,"))
                if "[" not in span:  # a redacted span says nothing an analyst can use
                    found[kind].setdefault(span, None)
        lowered = f" {_NON_WORD.sub(' ', text.lower())} "
        for product in sorted(products):  # one-word names ("orders", "shipping") are everyday words
            if " " in product.strip() and f" {product} " in lowered:
                found["product"].setdefault(product, None)
    return [Fact(kind, span) for kind, spans in found.items() for span in _distinct(spans)[:MAX_EACH]]


def _distinct(spans: dict[str, None]) -> list[str]:
    """Drop a span contained in a longer one of the same kind ("Friday" in "launch on Friday")."""
    ordered = list(spans)
    return [s for s in ordered if not any(s != o and s.lower() in o.lower() for o in ordered)]
