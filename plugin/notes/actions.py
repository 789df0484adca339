"""What each action of the vocabulary writes: each turns a decision into an internal note.

Rules choose an action by name from the vocabulary the decision core owns
(`plugin.decision.rulebook.NOTE_ACTIONS`); the Python here is the only place an action's
behaviour lives. An action returns None when, on reflection, there is nothing worth saying.
`record_feedback` writes no note: the pipeline stores the verdict.

Every note says what happened, the facts that matter (amounts, deadlines, who is affected,
errors), a next step taken from the rule's `params` (data, reviewed like the rules), and
why the analyst sees it in plain words. It never quotes the customer's message back whole:
excerpts are short and redacted, and the condition trace stays in `vigil explain`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from plugin.decision import signals, thread
from plugin.decision.rulebook import NOTE_ACTIONS, Rule, flagged_by
from connectors.events import Message
from plugin.model import Decision, Hit, Note
from plugin.notes import digest
from plugin.notes.digest import excerpt
from plugin.notes.drafting import draft_answer
from plugin.notes.facts import key_facts
from plugin.notes.layout import render, source_of, titled_list
from plugin.settings import Settings

SIMILAR_CASE_SCORE = 0.45  # a resolved case is worth citing in a brief from this evidence up
RECENT_MESSAGES = 6  # the customer messages whose facts a note states
MAX_CUE_TEXT = 20_000  # characters searched for the words that showed a risk (as the signals read)


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
    rules: Mapping[str, Rule] = field(default_factory=dict)  # all rules: next steps of other risk kinds
    products: frozenset[str] = frozenset()  # the products the knowledge base names

    @property
    def params(self) -> dict[str, Any]:
        return self.rule.params if self.rule else {}

    def why(self, because: str = "") -> str:
        """The rule's own why, then the decisive facts in plain words (never engine syntax)."""
        said = self.rule.why if self.rule else "A rule chose this note."
        name = f" (Rule: {self.decision.rule}.)" if self.decision.rule else ""
        return f"{said} {because}".strip() + name

    def facts_block(self, subject: bool = True) -> str:
        customer = [m.body for m in reversed(self.conversation) if m.author_role == "customer"]
        facts = [str(f) for f in key_facts(customer[:RECENT_MESSAGES], self.products)]
        if subject and self.subject.strip():  # what the ticket is about, in the customer's own short words
            facts.insert(0, f"Subject: {excerpt(self.subject, 120)}")
        return titled_list("Key facts from the conversation:", facts)

    def standing(self) -> str:
        """Where the ticket stands: who wrote last in public, how long ago, and what."""
        public = thread.public_exchange(self.conversation)
        if not public:
            return ""
        last, ago = public[-1], _hours(float(self.decision.facts.get("minutes_silent", 0.0)))
        who = "the customer" if last.author_role == "customer" else "an analyst"
        if any(q in last.body for q in thread.open_questions(self.conversation)):
            return f"Last public message: {who}, {ago} ago, asking what is still open above."
        if any(s in last.body for s in thread.done(self.conversation)[-3:]):
            return f"Last public message: {who}, {ago} ago, saying what was done above."
        return f"Last public message: {who}, {ago} ago: {excerpt(last.body)}"

    def next_step(self, *extra: Rule | None) -> str:
        steps = [r.params.get("next_step", "") for r in (self.rule, *extra) if r]
        steps = [s.strip() for s in dict.fromkeys(steps) if s and s.strip()]
        if len(steps) == 1:
            return f"Next step: {steps[0]}"
        return titled_list("Next steps:", steps)


def _hours(minutes: float) -> str:
    if minutes >= 48 * 60:
        return f"{minutes / 1440:.1f} days"
    return f"{minutes / 60:.1f} h" if minutes >= 90 else f"{minutes:.0f} min"


def _limit(rule: Rule | None, fact: str) -> float | None:
    """The threshold a rule sets on a fact (minutes_waiting >= 240 gives 240)."""
    for c in rule.conditions if rule else ():
        if c.fact == fact and c.op in (">=", ">") and isinstance(c.value, (int, float)):
            return float(c.value)
    return None


def answer(ctx: Context) -> Note | None:
    if not ctx.hits:
        return None
    best = ctx.hits[0]
    why = ctx.why(f"The question matches \u201c{best.title}\u201d (evidence {best.score:.2f}).")
    return draft_answer(ctx.conversation, ctx.hits, why, ctx.settings, ctx.use_model)


def _kind_label(rule: Rule | None, kind: str) -> str:
    return str((rule.params if rule else {}).get("label") or kind.replace("_", " "))


def flag(ctx: Context) -> Note:
    severity = ctx.params.get("severity", "P2")
    fired = flagged_by(ctx.decision.considered, ctx.rules)  # every kind whose flag rule fired
    kinds = [k for k in ctx.decision.facts.get("risks", ()) if k in fired] or [ctx.params.get("kind", "risk")]
    by_kind = {r.params.get("kind"): r for r in ctx.rules.values() if r.action == "flag"}
    if ctx.rule:
        by_kind[ctx.rule.params.get("kind")] = ctx.rule
    labels = [_kind_label(by_kind.get(k), k) for k in kinds]
    others = [by_kind.get(k) for k in kinds if by_kind.get(k) is not ctx.rule]
    blocks = [ctx.facts_block(), ctx.next_step(*others)]
    latest = ctx.conversation[-1].body[:MAX_CUE_TEXT] if ctx.conversation else ""
    seen = [f"{label} ({excerpt(cue, 40)})" if (cue := signals.risk_cue(k, latest)) else label
            for k, label in zip(kinds, labels)]
    why = ctx.why(f"Seen in the customer's latest message: {', '.join(seen)}.")
    return Note(render(f"{severity} risk on this ticket: {', '.join(labels)}.", blocks, [], why), (), "rules")


def nudge(ctx: Context) -> Note | None:
    facts = ctx.decision.facts
    if facts.get("promised_update"):
        waited, limit = facts["minutes_silent"], _limit(ctx.rule, "minutes_silent")
        headline = f"An update was promised {_hours(waited)} ago and has not come."
        blocks = [f"The promise: {excerpt(thread.last_promise(ctx.conversation))}"]
        because = f"{_hours(waited)} since the promise"
    else:
        waited, limit = facts["minutes_waiting"], _limit(ctx.rule, "minutes_waiting")
        headline = f"The customer has waited {_hours(waited)} for a reply."
        blocks = [titled_list("Still open:", [excerpt(q) for q in thread.open_questions(ctx.conversation)[-2:]])]
        because = f"{_hours(waited)} since the customer's last message"
    because += f"; the rule waits {_hours(limit)}." if limit is not None else "."
    blocks += [ctx.facts_block(), ctx.next_step()]
    return Note(render(headline, blocks, [], ctx.why(because[0].upper() + because[1:])), (), "rules")


def brief(ctx: Context) -> Note:
    similar = [h for h in ctx.hits[:1] if h.score >= SIMILAR_CASE_SCORE]
    reopened = ctx.decision.facts.get("event") == "reopened"
    headline = "Hand-over brief: this ticket was reopened." if reopened else \
        "Hand-over brief: this ticket has a new owner."
    content, call = digest.digest(ctx.conversation, ctx.subject, ctx.settings, ctx.use_model)
    blocks = [*content.blocks(), ctx.standing(), ctx.facts_block(subject=False), ctx.next_step()]
    count = ctx.decision.facts.get("messages_on_ticket", len(ctx.conversation))
    why = ctx.why(f"{count} messages on the ticket so far.")
    sources = [source_of(h, ctx.settings.knowledge_url) for h in similar]
    return Note(render(headline, blocks, sources, why, "A similar case in the knowledge base:"),
                tuple(h.entry_id for h in similar),
                "model" if call and call.outcome == "used" else "rules", call)


def summarize(ctx: Context) -> Note:
    content, call = digest.digest(ctx.conversation, ctx.subject, ctx.settings, ctx.use_model)
    blocks = [*content.blocks(with_owners=True), ctx.standing(), ctx.facts_block(subject=False)]
    return Note(render("Summary of this ticket, as asked.", blocks, [], ctx.why()), (),
                "model" if call and call.outcome == "used" else "rules", call)


# One writer per action of NOTE_ACTIONS (tests/test_action_notes.py checks that they match).
WRITERS: dict[str, Callable[[Context], Note | None]] = {
    "answer": answer,
    "flag": flag,
    "nudge": nudge,
    "brief": brief,
    "summarize": summarize,
}


def perform(ctx: Context) -> Note | None:
    """Run the decision's action; actions that write no note (record_feedback, silent) give None."""
    if ctx.decision.action not in NOTE_ACTIONS:
        return None
    return WRITERS[ctx.decision.action](ctx)
