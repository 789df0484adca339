"""Remove personal data and secrets from text before it leaves for a model or a proposal."""

from __future__ import annotations

import re

# Order matters: card numbers before phone numbers, so a card is not half-matched as a phone.
# A branch that repeats a class starts only where a run of that class starts (the look-behinds):
# tried from every position of one long run, it would take quadratic time (issue 11).
_PATTERNS = (
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("card", re.compile(r"\b(?:\d[ -]?){13,19}\b")),
    # A known key prefix, or 32+ characters mixing letters and digits ("answer-analyst-internal-
    # question" is long but is no secret: a token has digits).
    ("token", re.compile(r"\b(?:sk|pk|rk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}\b"
                         r"|(?<![A-Za-z0-9_-])-*\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{32,}\b")),
    ("ip", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b", re.I)),
    ("phone", re.compile(r"(?<!\w)\+?\d[\d ()./-]{7,}\d\b")),
)
_LINK = re.compile(r"(https?://[^\s<>\"')\]]+)")
# In a link, only these say something about a person; its digits are dates and article ids.
_IN_LINKS = ("email", "token")
_KNOWN_TOKEN = re.compile(r"\b(?:sk|pk|rk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}\b")


def redact(text: str, keep_links: bool = False) -> str:
    """Replace e-mails, card-like numbers, tokens, IP addresses and phone numbers with [kind].

    With keep_links, links to documents stay whole unless they carry an e-mail address or a
    known token (a reset link with a secret in it is still redacted).
    """
    if keep_links:
        return "".join(_link_or_redacted(part) if _LINK.fullmatch(part) else redact(part)
                       for part in _LINK.split(text))
    for kind, pattern in _PATTERNS:
        text = pattern.sub(f"[{kind}]", text)
    return text


def findings(text: str, keep_links: bool = False) -> list[str]:
    """The kinds of personal data or secrets present in text (empty when clean)."""
    if keep_links:
        parts = _LINK.split(text)
        found = {k for part in parts if not _LINK.fullmatch(part) for k in findings(part)}
        found |= {k for part in parts if _LINK.fullmatch(part) for k in _link_findings(part)}
        return [kind for kind, _ in _PATTERNS if kind in found]
    return [kind for kind, pattern in _PATTERNS if pattern.search(text)]


def _link_findings(link: str) -> list[str]:
    return (["email"] if _PATTERNS[0][1].search(link) else []) + (["token"] if _KNOWN_TOKEN.search(link) else [])


def _link_or_redacted(link: str) -> str:
    return "[link]" if _link_findings(link) else link
