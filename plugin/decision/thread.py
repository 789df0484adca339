"""Reading a ticket's conversation: who waits for whom, what was promised, what is open.

Pure functions over the messages, shared by the facts (stalled tickets) and by the notes
that restate a ticket (nudge, hand-over brief, summary). Extractive on purpose: every line
they produce is a sentence someone on the ticket actually wrote.
"""

from __future__ import annotations

import re
from datetime import datetime

from plugin.decision import signals
from connectors.events import Message

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_PROMISE = re.compile(r"\b(?:i|we)(?:'ll| will| am going to| are going to) (?:then |also )?(?:get back|update|"
                      r"follow up|let you know|check|look into|send|escalate|call|email|arrange|ship|process|"
                      r"refund|replace|contact|fix|sort)|\bwill (?:get back|update you|follow up)", re.I)
_DONE = re.compile(r"\b(?:i|we)(?:'ve| have) (?:\w+ )?(?:sent|refunded|added|changed|updated|reset|locked|"
                   r"cancelled|canceled|removed|processed|issued|escalated|applied|fixed|reported|stopped|"
                   r"put|created|asked)\b|\b(?:has|have) been (?:\w+ )?(?:refunded|sent|fixed|updated|"
                   r"cancelled|canceled|processed|shipped|reset)\b", re.I)
ASKS_CUSTOMER = re.compile(r"\b(?:could|can|would) you (?:please )?(?:send|confirm|check|tell|share|try|"
                            r"give|provide|look)|\bplease (?:send|confirm|check|try|reply|share|let me know)", re.I)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def public_exchange(conversation: list[Message]) -> list[Message]:
    """The messages between customer and analyst that the customer can see."""
    return [m for m in conversation if m.public and m.author_role in ("customer", "analyst")]


def minutes_waiting(conversation: list[Message], now: datetime) -> float:
    """How long the customer has waited, when the last public word was theirs."""
    public = public_exchange(conversation)
    if not public or public[-1].author_role != "customer":
        return 0.0
    return max(0.0, (now - public[-1].created_at).total_seconds() / 60)


def minutes_silent(conversation: list[Message], now: datetime) -> float:
    """Minutes since anyone last wrote publicly on the ticket."""
    public = public_exchange(conversation)
    return max(0.0, (now - public[-1].created_at).total_seconds() / 60) if public else 0.0


def promised_update(conversation: list[Message]) -> bool:
    """The last public word is an analyst's promise ("I'll get back to you")."""
    public = public_exchange(conversation)
    return bool(public) and public[-1].author_role == "analyst" and bool(_PROMISE.search(public[-1].body))


def last_promise(conversation: list[Message]) -> str:
    for m in reversed(public_exchange(conversation)):
        if m.author_role == "analyst":
            return next((s for s in sentences(m.body) if _PROMISE.search(s)), "")
    return ""


def open_questions(conversation: list[Message]) -> list[str]:
    """Customer questions that no analyst reply has followed yet."""
    open_: list[str] = []
    for m in public_exchange(conversation):
        if m.author_role == "analyst":
            open_ = []
        elif signals.is_question(m.body):
            open_ += [s for s in sentences(m.body) if signals.is_question(s)] or [m.body]
    return open_


def problem(conversation: list[Message], subject: str) -> str:
    """The ticket's problem: its subject and the customer's first question or sentence."""
    first = next((m for m in conversation if m.author_role == "customer"), None)
    if not first:
        return subject
    parts = sentences(first.body)
    asked = next((s for s in parts if signals.is_question(s)), "")
    said = " ".join(dict.fromkeys(p for p in parts[:1] + [asked] if p))  # the opening, then the ask
    return f"{subject}: {said}" if subject else said


def done(conversation: list[Message]) -> list[str]:
    """What analysts say they did: decisions and steps already taken."""
    return [s for m in conversation if m.author_role == "analyst"
            for s in sentences(m.body) if _DONE.search(s)]


def next_steps(conversation: list[Message]) -> list[tuple[str, str]]:
    """Open commitments with their owner: analysts' promises, and what the customer was asked."""
    steps: list[tuple[str, str]] = []
    for m in public_exchange(conversation):
        if m.author_role == "customer":
            steps = [(owner, s) for owner, s in steps if owner != "customer"]  # they answered
            continue
        for s in sentences(m.body):
            if _PROMISE.search(s):
                steps.append(("analyst", s))
            elif ASKS_CUSTOMER.search(s):
                steps.append(("customer", s))
    return steps
