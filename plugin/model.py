"""The plugin's own vocabulary past the events (connectors/events.py): decisions, hits, notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Decision:
    """What the rules decided for one event, and why. action "silent" is a decision too."""

    action: str
    rule: str | None
    reason: str
    considered: tuple[dict[str, Any], ...] = ()  # every rule with fired / failed condition
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A knowledge entry found for a query."""

    entry_id: str
    title: str
    body: str
    score: float  # evidence: idf-weighted share of the query the entry covers, 0..1
    sources: tuple[str, ...] = ()
    relevance: float = 0.0  # its BM25F score: unbounded, not comparable between queries; 0 if only meaning found it
    similarity: float | None = None  # cosine of its embedding with the question's; None: embeddings off or down


@dataclass(frozen=True)
class ModelCall:
    """One call to the model, for the cost ledger and the budgets."""

    model: str
    prompt_version: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    outcome: str  # "used", "refusal", "invalid" (fell back) or "failed" (no answer at all)


@dataclass(frozen=True)
class Note:
    """An internal note for the analyst. There is no `public` field: notes are never public."""

    body: str
    sources: tuple[str, ...]
    drafter: str  # "model", "extractive" or "rules"
    model_call: ModelCall | None = None
