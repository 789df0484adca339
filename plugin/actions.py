"""The fixed vocabulary of interventions: each turns a decision into an internal note.

Rules choose an action by name; the Python here is the only place an action's behaviour
lives. An action returns None when, on reflection, there is nothing worth saying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from plugin.drafting import draft_answer, render
from plugin.model import Decision, Hit, Message, Note
from plugin.rulebook import Rule
from plugin.settings import Settings


@dataclass(frozen=True)
class Context:
    """What an action may look at: the decision, the conversation, and what retrieval found."""

    decision: Decision
    rule: Rule | None
    conversation: list[Message]
    hits: list[Hit]
    settings: Settings


def answer(ctx: Context) -> Note | None:
    if not ctx.hits:
        return None
    best = ctx.hits[0]
    why = (f"rule `{ctx.decision.rule}`: the question matches \u201c{best.title}\u201d "
           f"(evidence {best.score:.2f}).")
    return draft_answer(ctx.conversation, ctx.hits, why, ctx.settings)


def flag(ctx: Context) -> Note:
    severity = (ctx.rule.params if ctx.rule else {}).get("severity", "P2")
    kinds = ", ".join(k.replace("_", " ") for k in ctx.decision.facts.get("new_risks", ())) or "risk"
    latest = ctx.conversation[-1].body if ctx.conversation else ""
    excerpt = latest if len(latest) <= 280 else latest[:277] + "..."
    body = render(f"{severity} risk on this ticket: {kinds}.",
                  [f"The latest message says: \u201c{excerpt}\u201d"], [],
                  f"rule `{ctx.decision.rule}`: {ctx.decision.reason}")
    return Note(body, (), "rules")


ACTIONS: dict[str, Callable[[Context], Note | None]] = {
    "answer": answer,
    "flag": flag,
}


def perform(ctx: Context) -> Note | None:
    """Run the decision's action; actions without an implementation write nothing."""
    action = ACTIONS.get(ctx.decision.action)
    return action(ctx) if action else None
