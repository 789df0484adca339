"""handle(event): update the ticket, gather facts, decide, act. One event at a time.

The data flow never turns back: event -> store -> facts -> rules -> action -> note (stored,
delivered later by the worker). The pipeline posts nothing itself. `sweep_ticket` is the
time-based trigger: the housekeeper offers every waiting ticket to the rules as a "sweep"
event, and since it reads only the database, a restart loses no schedule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from plugin.decision import signals, thread
from plugin.decision.answerability import Answerability
from plugin.notes.actions import Context, perform
from plugin.decision.engine import RuleEngine
from plugin.decision.rulebook import NEVER, NOTE_ACTIONS, RISK_KINDS, flagged_by
from plugin.knowledge.entries import similarity
from connectors.events import RESOLVED_STATUSES, Event, Message
from plugin.model import Decision, Hit, Note
from plugin.knowledge.retrieval import KnowledgeIndex, query_terms
from plugin.settings import Settings
from plugin.store import Store, TicketRow


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
        self._rules = {r.name: r for r in engine.rules}
        # A message not read as a question is searched only when some answer rule can answer
        # it (the shipped ones want is_question; `vigil eval --real`'s ranking measure does not):
        # a search, and with embeddings a model call, per chat message no rule reads is waste.
        self._answers_statements = any(r.action == "answer" and all(c.fact != "is_question" for c in r.conditions)
                                       for r in engine.rules)
        # The actions a guard on the drafted note can silence (repeated-note: answer, brief,
        # summarize): only their notes are compared with the earlier ones and decided again.
        self._checked_after_drafting = {a for r in engine.rules if r.after_drafting for a in r.suppresses}
        self.answerability = Answerability(index, verdicts=store.notes.entry_verdicts)

    def handle(self, event: Event, shadow: bool | None = None,
               also: Callable[[], None] | None = None) -> list[Outcome]:
        """Process one event; return the decisions taken (none for a repeated comment).

        Everything is read and drafted first, then written in one transaction together with
        the caller's bookkeeping (`also`): a process killed mid-event leaves no trace, so the
        rerun decides the event once more, exactly once; and no lock is held while a model drafts.
        """
        stored = self.store.tickets.find_ticket(event.ticket)
        ticket = stored.after(event) if stored else TicketRow.new(event)
        conversation = self.store.tickets.conversation(stored) if stored else []
        message = event.message
        known = next((m for m in conversation if message and message.message_id is not None
                      and m.message_id == message.message_id), None)
        if known is not None:  # seen already: a retry, Jira's double event, or an edit
            if stored and message and known.body != message.body:
                self.store.tickets.edit_message(stored, message)  # the edit is kept, not decided again
            return self._commit(also)
        # Deciding reads a bounded part of each comment; the whole one is stored (in _commit).
        limit = self.settings.decide_max_chars
        conversation = [readable(m, limit) for m in conversation]
        read = replace(event, message=readable(message, limit)) if message else event
        if read.message:
            conversation.append(read.message)
        # The plugin's own note is read like any message and silenced by a guard rule
        # (own-note in rules/guards.yml: role == plugin), so `vigil explain` shows why.
        facts, hits = self.gather_facts(read, ticket, conversation, stored)
        planned: list[tuple[Decision, Note | None]] = []
        for decision in self.engine.decide(facts):
            note = None
            if decision.action in NOTE_ACTIONS:
                note = perform(Context(decision, self._rules.get(decision.rule or ""), ticket.subject,
                                       conversation, hits, self.settings, self._model_allowed(ticket, event),
                                       self._rules, self.index.products()))
                decision = self._after_drafting(decision, note, ticket)
            planned.append((decision, note))
        if event.kind == "sweep":  # silence on a sweep is no news: no row (one per ticket per sweep flooded)
            planned = [(d, n) for d, n in planned if d.action != "silent"]
            if not planned:
                return self._commit(also)
        return self._commit(also, event, planned, facts, shadow)

    def _commit(self, also: Callable[[], None] | None, event: Event | None = None,
                planned: Sequence[tuple[Decision, Note | None]] = (), facts: dict[str, Any] | None = None,
                shadow: bool | None = None) -> list[Outcome]:
        """Write an event's ticket, comment, decisions and notes in one transaction."""
        shadow = self.settings.shadow if shadow is None else shadow
        outcomes = []
        with self.store.unit():
            if event is not None:
                ticket = self.store.tickets.upsert_ticket(event)
                position = self.store.tickets.add_message(ticket, event.message) if event.message else None
                if event.message and position is None:
                    planned = []  # stored by another writer since we looked: it decided this comment
                if self.settings.learn_on_resolve and event.kind == "status_changed" \
                        and ticket.status in RESOLVED_STATUSES:
                    self.store.learning.queue_learning(ticket, event.occurred_at)
                for decision, note in planned:
                    if note and note.model_call:
                        self.store.notes.record_model_call(ticket, event.occurred_at, note.model_call)
                    pk = self.store.tickets.record_decision(ticket, event, position, decision)
                    if decision.action == "record_feedback":
                        self.store.notes.record_feedback(ticket, (facts or {})["command"], event.occurred_at)
                        self.answerability.forget()  # the entry's feedback weighs from the next question on
                    if note and decision.action != "silent":
                        self.store.notes.add_note(pk, ticket, decision.action, decision.rule, note.body, note.sources,
                                            note.drafter, "shadow" if shadow else "drafted", at=event.occurred_at)
                    else:
                        note = None
                    outcomes.append(Outcome(decision, pk, position, note))
            if also:
                also()
        return outcomes

    def _model_allowed(self, ticket: TicketRow, event: Event) -> bool:
        """Within the model budgets: calls per ticket, and calls per hour across tickets."""
        if not self.settings.model_configured:
            return False
        on_ticket, last_hour = self.store.notes.model_calls_made(ticket, event.occurred_at - timedelta(hours=1))
        return on_ticket < self.settings.llm_calls_per_ticket and last_hour < self.settings.llm_calls_per_hour

    def sweep_ticket(self, ticket: TicketRow, now: datetime, shadow: bool | None = None) -> list[Outcome]:
        """The time-based trigger for one ticket (the housekeeper's sweep): the actions taken."""
        event = Event(ticket.source, ticket.ticket_id, "sweep", now)  # type: ignore[arg-type]
        return self.handle(event, shadow)

    def _after_drafting(self, decision: Decision, note: Note | None, ticket: TicketRow) -> Decision:
        """Ask the rules again now that the note is drafted: a guard on what it says may silence it.

        The repeat guard (repeated-note in rules/guards.yml) needs the drafted text, which exists
        only after deciding, and drafting may call a model, so it cannot come before. A fact of the
        note (`note_similarity`, its overlap with the closest earlier note) is computed here and
        the rules evaluated a second time; only guards may test such facts, so this pass can
        silence a note, naming the guard, but never choose one. (A pre-draft proxy such as "the
        best entry was cited before" exists as answer_repeats, but says nothing of briefs and
        summaries, whose text is the repeat.)
        """
        if note is None:
            return replace(decision, action="silent", reason=f"{decision.reason}; nothing worth a note")
        if decision.action not in self._checked_after_drafting:
            return decision
        closest = max((similarity(note.body, earlier) for earlier in self.store.notes.note_bodies(ticket)),
                      default=0.0)
        return self.engine.recheck(decision, dict(decision.facts, note_similarity=closest))

    def gather_facts(self, event: Event, ticket: TicketRow, conversation: list[Message],
                     before: TicketRow | None = None) -> tuple[dict[str, Any], list[Hit]]:
        """Every fact the rules may test, computed once per event."""
        now = event.occurred_at
        message = event.message
        text = message.body if message else ""
        role = message.author_role if message else "none"
        notes, last_note_at, cited = self.store.notes.ticket_note_stats(ticket)
        asks = bool(message) and signals.is_question(text, problems_count=role == "customer")
        kind = _event_kind(event, before)
        confidence = 0.0
        if asks:
            hits, confidence = self._search(event, text, conversation)
        elif self._answers_statements and role == "customer" and kind in ("message", "created") and text.strip():
            hits, _ = self._search(event, text, conversation)
        elif kind in ("handover", "reopened") and conversation:
            hits = self.index.search(f"{ticket.subject} {conversation[0].body}")  # a similar case
        else:
            hits = []
        best = hits[0] if hits and asks else None
        risks = signals.risks(text, ticket.tags) if role == "customer" else []
        flagged = self._minutes_since_flags(ticket, now)
        last_message_at = conversation[-1].created_at if conversation else now
        facts = {
            "event": kind,
            "role": role,
            "public": message.public if message else False,
            "status": ticket.status,
            "tags": [t.lower() for t in ticket.tags],
            "is_question": asks,
            "in_scope": asks and signals.in_scope(text),
            "small_talk": bool(message) and signals.is_small_talk(text),
            "retrieval_score": best.score if best else 0.0,
            "answer_confidence": confidence,
            "answer_repeats": best is not None and best.entry_id in cited,
            "answered_in_thread": best is not None and _answered_in_thread(best, conversation[:-1]),
            "risks": risks,
            **{f"minutes_since_{kind}_flag": flagged.get(kind, NEVER) for kind in RISK_KINDS},
            "flagged_kinds": sorted(flagged),
            "test_environment": signals.is_test_environment(
                " ".join(m.body for m in conversation) + " " + ticket.subject, ticket.tags),
            "notes_on_ticket": notes,
            "minutes_since_last_note": (now - last_note_at).total_seconds() / 60 if last_note_at else 1e6,
            "command": signals.command(text) if role == "analyst" else "",
            "minutes_waiting": thread.minutes_waiting(conversation, now),
            "minutes_silent": thread.minutes_silent(conversation, now),
            "promised_update": thread.promised_update(conversation),
            # Only a sweep can follow a nudge without a message in between: skip the query otherwise.
            "already_nudged": kind == "sweep" and bool(self.store.tickets.recent_facts(ticket, "nudge", last_message_at)),
            "messages_on_ticket": len(conversation),
            "note_similarity": 0.0,  # known once a note is drafted (_after_drafting)
        }
        return facts, hits

    def _search(self, event: Event, text: str, conversation: list[Message]) -> tuple[list[Hit], float]:
        """Search with the whole message and with each question in it; keep the hits most
        likely to answer it, with that answer confidence.

        A long message buries its question in context (names, order details, a story);
        the question sentence alone is the sharper query (Vigil's sub-queries).
        """
        products = self.index.products()
        scope = tuple(t.lower() for t in event.tags if t.lower() in products)
        best: list[Hit] = []
        confidence = 0.0
        for query in _queries(event, text, conversation):
            hits = self.index.search(query, scope=scope)
            if hits:
                chance = self.answerability.assess(text, query, hits)[0]
                if not best or chance > confidence:
                    best, confidence = hits, chance
        return best, confidence

    def _minutes_since_flags(self, ticket: TicketRow, now: datetime) -> dict[str, float]:
        """Minutes since this ticket was last flagged for each risk kind it was ever flagged for.

        Only the measure: how long a kind stays quiet after its flag (six hours; a VIP tag once
        per ticket) is each flag rule's own condition in rules/risk.yml.
        """
        last: dict[str, datetime] = {}
        for at, considered in self.store.tickets.decided(ticket, "flag"):
            for kind in flagged_by(considered, self._rules):
                last[kind] = max(last.get(kind, at), at)
        return {kind: (now - at).total_seconds() / 60 for kind, at in last.items()}


def readable(message: Message, limit: int) -> Message:
    """The part of a comment deciding reads: its first and last limit/2 characters (a question
    often follows a pasted log). Bounds the time any one comment can take to decide."""
    if len(message.body) <= limit:
        return message
    half = limit // 2
    return replace(message, body=f"{message.body[:half]}\n[...]\n{message.body[-half:]}")


def _event_kind(event: Event, before: TicketRow | None) -> str:
    """Name what happened in the rules' terms: a reopening and a hand-over are their own events."""
    if event.kind == "status_changed" and event.previous_status in RESOLVED_STATUSES \
            and event.status not in RESOLVED_STATUSES:
        return "reopened"
    if event.kind == "assigned" and before is not None and before.assignee \
            and before.assignee != event.assignee:
        return "handover"
    return event.kind


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
