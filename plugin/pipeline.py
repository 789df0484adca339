"""handle(event): update the ticket, gather facts, decide, act. One event at a time.

The data flow never turns back: event -> store -> facts -> rules -> action -> note (stored,
delivered later by the worker). The pipeline posts nothing itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from plugin import signals
from plugin.actions import Context, perform
from plugin.engine import RuleEngine
from plugin.model import Decision, Event, Hit, Message, Note
from plugin.retrieval import KnowledgeIndex, query_terms
from plugin.settings import Settings
from plugin.store import Store, TicketRow

RISK_WINDOW = timedelta(hours=6)  # one flag per kind per ticket inside this window (Vigil's)
_PROMISE = re.compile(r"\b(?:i|we)(?:'ll| will) (?:get back|update|follow up|let you know|check|look into)"
                      r"|\bwill (?:get back|update you|follow up)", re.I)


@dataclass(frozen=True)
class Outcome:
    """A decision as stored, with the note it produced (if any)."""

    decision: Decision
    decision_pk: int
    message_index: int | None
    note: Note | None


class Pipeline:
    def __init__(self, settings: Settings, store: Store, engine: RuleEngine, index: KnowledgeIndex):
        self.settings = settings
        self.store = store
        self.engine = engine
        self.index = index

    def handle(self, event: Event, shadow: bool | None = None) -> list[Outcome]:
        """Process one event; return the decisions taken (none for a repeated comment)."""
        ticket = self.store.upsert_ticket(event)
        position = None
        if event.message:
            position = self.store.add_message(ticket, event.message)
            if position is None:
                return []  # this comment was seen already (a retry, or Jira's double event)
        if event.message and event.message.author_role == "plugin":
            decision = Decision("silent", None, "the plugin's own note: never acted on (loop guard)")
            return [Outcome(decision, self.store.record_decision(ticket, event, position, decision),
                            position, None)]
        conversation = self.store.conversation(ticket)
        facts, hits = self.gather_facts(event, ticket, conversation)
        outcomes = []
        for decision in self.engine.decide(facts):
            pk = self.store.record_decision(ticket, event, position, decision)
            note = None
            if decision.action != "silent":
                rule = next((r for r in self.engine.rules if r.name == decision.rule), None)
                note = perform(Context(decision, rule, conversation, hits, self.settings))
            if note:
                status = "shadow" if (self.settings.shadow if shadow is None else shadow) else "drafted"
                self.store.add_note(pk, ticket, decision.action, decision.rule, note.body,
                                    note.sources, note.drafter, status, at=event.occurred_at)
            outcomes.append(Outcome(decision, pk, position, note))
        return outcomes

    def gather_facts(self, event: Event, ticket: TicketRow,
                     conversation: list[Message]) -> tuple[dict[str, Any], list[Hit]]:
        """Every fact the rules may test, computed once per event."""
        now = event.occurred_at
        message = event.message
        text = message.body if message else ""
        notes, last_note_at, cited = self.store.ticket_note_stats(ticket)
        asks = bool(message) and signals.is_question(text)
        hits = self._search(event, text, conversation) if asks else []
        best = hits[0] if hits else None
        risks = signals.risks(text, ticket.tags) if message and message.author_role == "customer" else []
        thread_text = " ".join(m.body for m in conversation) + " " + ticket.subject
        facts = {
            "event": event.kind,
            "role": message.author_role if message else "none",
            "public": message.public if message else False,
            "status": ticket.status,
            "tags": [t.lower() for t in ticket.tags],
            "is_question": asks,
            "in_scope": asks and signals.in_scope(text),
            "small_talk": bool(message) and signals.is_small_talk(text),
            "retrieval_score": best.score if best else 0.0,
            "answer_repeats": bool(best) and best.entry_id in cited,
            "answered_in_thread": bool(best) and _answered_in_thread(best, conversation[:-1]),
            "risks": risks,
            "new_risks": [k for k in risks if k not in self._recent_flags(ticket, now)],
            "test_environment": signals.is_test_environment(thread_text, ticket.tags),
            "notes_on_ticket": notes,
            "minutes_since_last_note": (now - last_note_at).total_seconds() / 60 if last_note_at else 1e6,
            "command": signals.command(text) if message and message.author_role == "analyst" else "",
            "minutes_waiting": _minutes_waiting(conversation, now),
            "promised_update": _promised_update(conversation),
        }
        return facts, hits

    def _search(self, event: Event, text: str, conversation: list[Message]) -> list[Hit]:
        """Search with the whole message and with each question in it; keep the best.

        A long message buries its question in context (names, order details, a story);
        the question sentence alone is the sharper query (Vigil's sub-queries).
        """
        best: list[Hit] = []
        for query in _queries(event, text, conversation):
            hits = self.index.search(query)
            if hits and (not best or hits[0].score > best[0].score):
                best = hits
        return best

    def _recent_flags(self, ticket: TicketRow, now: datetime) -> set[str]:
        """Risk kinds already flagged on this ticket inside the suppression window."""
        return {kind for facts in self.store.recent_facts(ticket, "flag", now - RISK_WINDOW)
                for kind in facts.get("new_risks", ())}


_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+|\s(?=\d\)\s)")


def _queries(event: Event, text: str, conversation: list[Message]) -> list[str]:
    """The whole message, each question in it, and a follow-up read with what came before."""
    queries = [text]
    questions = [s for s in _SENTENCES.split(text) if signals.is_question(s) and len(query_terms(s)) >= 2]
    if len(questions) > 1 or (questions and questions[0].strip() != text.strip()):
        queries += questions
    # A short follow-up ("can I check that myself?") leans on the subject and on the
    # customer's previous message for what "that" is (Vigil's rewrite step).
    if event.kind == "created" or len(query_terms(text)) < 6:
        earlier = [m.body for m in conversation[:-1] if m.author_role == "customer"][-1:]
        queries.append(" ".join([event.subject, *earlier, text]))
    return queries


def _answered_in_thread(hit: Hit, earlier: list[Message]) -> bool:
    """An analyst's public reply already used the words of this entry's title."""
    title = set(query_terms(hit.title))
    return bool(title) and any(
        m.author_role == "analyst" and m.public and title <= set(query_terms(m.body))
        for m in earlier)


def _minutes_waiting(conversation: list[Message], now: datetime) -> float:
    public = [m for m in conversation if m.public and m.author_role in ("customer", "analyst")]
    if not public or public[-1].author_role != "customer":
        return 0.0
    return max(0.0, (now - public[-1].created_at).total_seconds() / 60)


def _promised_update(conversation: list[Message]) -> bool:
    public = [m for m in conversation if m.public and m.author_role in ("customer", "analyst")]
    return bool(public) and public[-1].author_role == "analyst" and bool(_PROMISE.search(public[-1].body))
