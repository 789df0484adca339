"""Run the examples that every rule file carries: `vigil rules test` and the test suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugin.decision.engine import RuleEngine
from plugin.decision.rulebook import BASELINE, Rule


@dataclass(frozen=True)
class ExampleResult:
    rule: str
    file: str
    expect: str  # "fire" or "silent"
    facts: dict[str, Any]
    passed: bool
    detail: str

    def changes(self) -> str:
        """The facts this example sets, apart from the baseline."""
        return ", ".join(f"{k}={v!r}" for k, v in self.facts.items() if BASELINE.get(k) != v) or "baseline"


def run_examples(rules: list[Rule]) -> list[ExampleResult]:
    """Check every example against the real engine with all rules loaded."""
    engine = RuleEngine(rules)
    results = []
    try:
        for rule in engine.rules:
            for expect, examples in (("fire", rule.fire_examples), ("silent", rule.silent_examples)):
                for facts in examples:
                    fired = rule.name in engine.fired(facts)
                    failed = rule.first_failure(facts)
                    passed = fired == (expect == "fire")
                    detail = "fired" if fired else f"did not fire: {failed.describe(facts) if failed else '?'}"
                    results.append(ExampleResult(rule.name, rule.file, expect, facts, passed, detail))
    finally:
        engine.close()
    return results
