"""Remove personal data and secrets from text before it leaves for a model or a proposal."""

from __future__ import annotations

import re

# Order matters: card numbers before phone numbers, so a card is not half-matched as a phone.
_PATTERNS = (
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("card", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    ("token", re.compile(r"\b(?:sk|pk|rk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}\b|\b[A-Za-z0-9_-]{32,}\b")),
    ("ip", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b", re.I)),
    ("phone", re.compile(r"(?<!\w)\+?\d[\d ()./-]{7,}\d\b")),
)


def redact(text: str) -> str:
    """Replace e-mails, card-like numbers, tokens, IP addresses and phone numbers with [kind]."""
    for kind, pattern in _PATTERNS:
        text = pattern.sub(f"[{kind}]", text)
    return text


def findings(text: str) -> list[str]:
    """The kinds of personal data or secrets present in text (empty when clean)."""
    return [kind for kind, pattern in _PATTERNS if pattern.search(text)]
