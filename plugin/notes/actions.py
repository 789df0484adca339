"""The fixed vocabulary of interventions: each turns a decision into an internal note.

Rules choose an action by name; the Python here is the only place an action's behaviour
lives. An action returns None when, on reflection, there is nothing worth saying.
`record_feedback` writes no note: the pipeline stores the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from plugin.decision import thread
from plugin.notes.drafting import draft_answer, render
from connectors.events import Message
from plugin.model import Decision, Hit, Note
from plugin.decision.rulebook import Rule
from plugin.settings import Settings

SIMILAR_CASE_SCORE = 0.45  # a resolved case is worth citing in a brief from this evidence up


@dataclass(frozen=True)
class Context:
    """What an action may look at: the decision, the ticket's conversation, retrieval's hits."""

    decision: Decision
    rule: Rule | None
    subject: str
    conversation: list[Message]
    hits: list[Hit]
    settings: Settings
    use_model: bool = True  # False once the ticket's or the hour's model budget is spent

    @property
    def why(self) -> str:
        return f"rule `{self.decision.rule}`: {self.rule.why if self.rule else self.decision.reason}"


def _quote(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return f"\u201c{text if len(text) <= limit else text[:limit - 3] + '...'}\u201d"


def _hours(minutes: float) -> str:
    return f"{minutes / 60:.1f} h" if minutes >= 90 else f"{minutes:.0f} min"


def answer(ctx: Context) -> Note | None:
    if not ctx.hits:
        return None
    best = ctx.hits[0]
    why = f"rule `{ctx.decision.rule}`: the question matches \u201c{best.title}\u201d (evidence {best.score:.2f})."
    return draft_answer(ctx.conversation, ctx.hits, why, ctx.settings, ctx.use_model)


def flag(ctx: Context) -> Note:
    severity = (ctx.rule.params if ctx.rule else {}).get("severity", "P2")
    kinds = ", ".join(k.replace("_", " ") for k in ctx.decision.facts.get("new_risks", ())) or "risk"
    latest = ctx.conversation[-1].body if ctx.conversation else ""
    body = render(f"{severity} risk on this ticket: {kinds}.", [f"The latest message says: {_quote(latest)}"],
                  [], f"rule `{ctx.decision.rule}`: {ctx.decision.reason}")
    return Note(body, (), "rules")


def nudge(ctx: Context) -> Note | None:
    facts = ctx.decision.facts
    if facts.get("promised_update"):
        headline = f"An update was promised {_hours(facts['minutes_silent'])} ago and has not come."
        steps = [f"The promise: {_quote(thread.last_promise(ctx.conversation))}"]
    else:
        headline = f"The customer has waited {_hours(facts['minutes_waiting'])} for a reply."
        steps = [f"Still open: {_quote(q)}" for q in thread.open_questions(ctx.conversation)[-2:]]
    return Note(render(headline, steps, [], ctx.why), (), "rules")


def brief(ctx: Context) -> Note:
    steps = [f"Problem: {_quote(thread.problem(ctx.conversation, ctx.subject))}"]
    steps += [f"Done so far: {_quote(s, 160)}" for s in thread.done(ctx.conversation)[-3:]]
    steps += [f"Still open: {_quote(q, 160)}" for q in thread.open_questions(ctx.conversation)[-2:]]
    similar = [h for h in ctx.hits[:1] if h.score >= SIMILAR_CASE_SCORE]
    event = ctx.decision.facts.get("event")
    headline = "Hand-over brief: this ticket was reopened." if event == "reopened" else \
        "Hand-over brief: this ticket has a new owner."
    return Note(render(headline, steps, similar, ctx.why), tuple(h.entry_id for h in similar), "rules")


def summarize(ctx: Context) -> Note:
    steps = [f"Problem: {_quote(thread.problem(ctx.conversation, ctx.subject))}"]
    steps += [f"Decided/done: {_quote(s, 160)}" for s in thread.done(ctx.conversation)[-3:]]
    steps += [f"Open question: {_quote(q, 160)}" for q in thread.open_questions(ctx.conversation)[-2:]]
    steps += [f"Next step ({owner}): {_quote(s, 160)}" for owner, s in thread.next_steps(ctx.conversation)[-3:]]
    return Note(render("Summary of this ticket, as asked.", steps, [], ctx.why), (), "rules")


ACTIONS: dict[str, Callable[[Context], Note | None]] = {
    "answer": answer,
    "flag": flag,
    "nudge": nudge,
    "brief": brief,
    "summarize": summarize,
}


def perform(ctx: Context) -> Note | None:
    """Run the decision's action; actions without a note (record_feedback) return None."""
    action = ACTIONS.get(ctx.decision.action)
    return action(ctx) if action else None
