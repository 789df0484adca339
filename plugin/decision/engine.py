"""The only module that imports durable-rules: compile loaded rules, decide per event.

durable-rules keeps global state (a C engine with named rulesets and, in its Host,
polling timer threads). Confining it here means the rest of the plugin sees a plain
function, facts in, decisions out. We assert each event's facts, collect every rule that
fired, and retract the fact straight away, so no per-ticket state accumulates. (Not
delete_state: in 2.0.28 it corrupts the heap when the fact matched no rule.)
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import durable.engine
import durable_rules_engine

from plugin.model import Decision
from plugin.decision.rulebook import ACTIONS, Condition, Rule

_names = itertools.count(1)


class _QuietHost(durable.engine.Host):
    """A Host without the background dispatch threads: we never use durable's timers,
    and a second thread touching the C engine while we assert facts is a race."""

    def _run(self) -> None:
        pass


def _compile(condition: Condition, derived: dict[str, Condition]) -> dict[str, Any]:
    fact, op, value = condition.fact, condition.op, condition.value
    if op == "not contains":
        # durable-rules cannot say that a list lacks an item: `$iall` of `$neq` is false on an
        # empty list. The adapter works it out in Python and gives the engine the answer as a
        # fact of its own (`fired` adds it), so the rule files need not know.
        name = f"_derived_{len(derived)}"
        derived[name] = condition
        return {name: True}
    if op == "==":
        return {fact: value}
    if op == "contains":
        return {"$iany": {fact: {"$i": value}}}
    if op == "in":
        return {"$or": [{fact: v} for v in value]}
    return {{"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}[op]: {fact: value}}


def engine_view(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts as the C engine can read them: its JSON parser fails (error 204) on
    exponents such as json's 2e-05, which a comment a second old gives as minutes_waiting.
    Floats are rounded to 4 decimals and kept within +-1e12, so none prints an exponent;
    the decision and its explanation both use this view, so they never disagree."""
    return {name: round(max(-1e12, min(1e12, v)), 4) if isinstance(v, float) else v
            for name, v in facts.items()}


class RuleEngine:
    """Decide what to do about one event's facts, with the reason for every rule."""

    def __init__(self, rules: list[Rule]):
        self.rules = sorted(rules, key=lambda r: (-r.priority, r.name))
        self._by_name = {r.name: r for r in self.rules}
        self._ruleset = f"vigil_{next(_names)}"  # names are global in the C engine
        self._fired: list[str] = []
        self._lock = threading.Lock()
        self._derived: dict[str, Condition] = {}
        definition = {
            rule.name: {"all": [{"m": {"$and": [_compile(c, self._derived) for c in rule.conditions]}}],
                        "run": self._recorder(rule.name)}
            for rule in self.rules
        }
        self._host = _QuietHost({self._ruleset: definition})

    def _recorder(self, name: str):
        def run(_closure: Any) -> None:
            self._fired.append(name)
        return run

    def fired(self, facts: dict[str, Any]) -> list[str]:
        """Names of the rules whose conditions all hold, highest priority first."""
        fact = dict(engine_view(facts), sid="event")
        fact.update((name, condition.holds(facts)) for name, condition in self._derived.items())
        with self._lock:
            self._fired = []
            for step in (self._host.assert_fact, self._host.retract_fact):
                try:
                    step(self._ruleset, fact)
                except durable.engine.MessageNotHandledException:
                    pass  # no rule matched: a normal, silent outcome, and nothing to retract
            fired = set(self._fired)
        return [r.name for r in self.rules if r.name in fired]

    def decide(self, facts: dict[str, Any]) -> list[Decision]:
        """One Decision per action to take, or a single silent Decision saying why.

        The Decisions keep the facts as given; the reasons are worked out on the engine's view.
        """
        given, facts = facts, engine_view(facts)
        fired = set(self.fired(facts))
        considered = tuple(self._consider(rule, facts, rule.name in fired) for rule in self.rules)
        # Guards on what a note says wait for the note (`recheck`): before drafting, their facts
        # hold placeholders.
        guards = [r for r in self.rules if r.name in fired and r.action == "silent" and not r.after_drafting]
        chosen: dict[str, Rule] = {}
        for rule in self.rules:  # priority order: the first rule per action wins
            if rule.name in fired and rule.action != "silent":
                chosen.setdefault(rule.action, rule)
        silenced = {a: g for a in list(chosen) for g in guards if a in g.suppresses}
        for action in silenced:
            del chosen[action]
        if chosen:
            return [Decision(rule.action, rule.name, f"{rule.why} [{self._because(rule, facts)}]",
                             considered, given)
                    for rule in chosen.values()]
        if silenced:
            action, guard = next(iter(silenced.items()))
            reason = f"{guard.why} [{self._because(guard, facts)}]; it silenced {action}"
            return [Decision("silent", guard.name, reason, considered, given)]
        # A guard that silences every action (the plugin's own note, an opted-out ticket) is the
        # reason for silence even when no intervention came close: it names itself.
        total = next((g for g in guards if set(g.suppresses) >= set(ACTIONS[:-1])), None)
        if total:
            return [Decision("silent", total.name, f"{total.why} [{self._because(total, facts)}]",
                             considered, given)]
        return [Decision("silent", None, self._nearest_miss(facts), considered, given)]

    def recheck(self, decision: Decision, facts: dict[str, Any]) -> Decision:
        """Take a decision again once its note is drafted, on facts that include what the note
        says (rulebook.AFTER_DRAFTING): it stands, with the new facts and trace, or the guard
        that now holds silences it and the silent decision names that guard.

        Only guards may test those facts, so the rule that chose the action still holds.
        """
        given, facts = facts, engine_view(facts)
        fired = set(self.fired(facts))
        considered = tuple(self._consider(rule, facts, rule.name in fired) for rule in self.rules)
        guard = next((r for r in self.rules if r.name in fired and r.action == "silent"
                      and decision.action in r.suppresses), None)
        if guard is None:
            return Decision(decision.action, decision.rule, decision.reason, considered, given)
        reason = f"{guard.why} [{self._because(guard, facts)}]; it silenced {decision.action}"
        return Decision("silent", guard.name, reason, considered, given)

    @staticmethod
    def _because(rule: Rule, facts: dict[str, Any]) -> str:
        return "; ".join(c.describe(facts) for c in rule.conditions)

    @staticmethod
    def _consider(rule: Rule, facts: dict[str, Any], fired: bool) -> dict[str, Any]:
        failed = None if fired else rule.first_failure(facts)
        return {"rule": rule.name, "action": rule.action, "fired": fired,
                "failed": failed.describe(facts) if failed else None}

    def _nearest_miss(self, facts: dict[str, Any]) -> str:
        """Explain silence by the intervention that came closest to firing."""
        candidates = [r for r in self.rules if r.action != "silent"]
        if not candidates:
            return "no intervention rules are loaded"
        # The most conditions met, not the largest share: a short rule for analysts' commands
        # should not pass for the nearest miss on every analyst reply.
        best = max(candidates, key=lambda r: sum(c.holds(facts) for c in r.conditions))
        failed = best.first_failure(facts)
        return f"no rule fired; nearest was {best.name}, which failed on " + (
            failed.describe(facts) if failed else "nothing")

    def close(self) -> None:
        """Free the C engine's ruleset (tests and reloads create many engines)."""
        ruleset = self._host.get_ruleset(self._ruleset)
        durable_rules_engine.delete_ruleset(ruleset._handle)
