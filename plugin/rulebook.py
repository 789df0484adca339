"""Rule files: load, validate (with file and line), and evaluate conditions for explanations.

A rule file (rules/*.yml) is data an engineer reads and changes by pull request:

    rules:
      - name: answer-customer-question
        action: answer
        priority: 50
        why: A customer asked an in-scope question the knowledge base answers.
        when:
          - role == customer
          - retrieval_score >= 0.45
        examples:
          fire:   [{role: customer, retrieval_score: 0.8}]
          silent: [{role: analyst, retrieval_score: 0.8}]

Conditions are `<fact> <op> <value>`, with op one of == != < <= > >= contains in.
Facts are the fixed vocabulary in FACTS; actions the fixed vocabulary in ACTIONS.
This module does not import durable-rules: engine.py compiles what is loaded here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# name -> (type, meaning). The pipeline computes every one of these for every event.
FACTS: dict[str, tuple[type, str]] = {
    "event": (str, "message, created, status_changed, assigned, handover (a new owner after "
                   "another), reopened, or sweep (the periodic check of waiting tickets)"),
    "role": (str, "who wrote the message: customer, analyst, plugin, or none"),
    "public": (bool, "the customer can see the message"),
    "status": (str, "ticket status: new, open, pending, solved, closed"),
    "tags": (list, "ticket tags, lower case"),
    "is_question": (bool, "the message asks something"),
    "in_scope": (bool, "the question is how-to, an error, or troubleshooting"),
    "small_talk": (bool, "greeting, thanks or acknowledgement with nothing else"),
    "retrieval_score": (float, "evidence that the best knowledge entry answers the question, 0..1"),
    "answer_repeats": (bool, "the best entry was already cited in a note on this ticket"),
    "answered_in_thread": (bool, "an analyst's public reply already covers the best entry"),
    "risks": (list, "risk kinds in this message: business_impact, widespread, security, "
                    "negative_emotion, vip"),
    "new_risks": (list, "risk kinds not yet flagged on this ticket inside the suppression window"),
    "test_environment": (bool, "the conversation says it is a test or staging environment"),
    "notes_on_ticket": (int, "notes the plugin has written on this ticket"),
    "minutes_since_last_note": (float, "minutes since the plugin's last note (1e6 if none)"),
    "command": (str, "what an analyst asked the plugin with @vigil: summary, useful, wrong, or ''"),
    "minutes_waiting": (float, "minutes the customer has waited for an analyst's reply"),
    "minutes_silent": (float, "minutes since anyone last wrote publicly on the ticket"),
    "promised_update": (bool, "the last public word is an analyst's promise of an update"),
    "already_nudged": (bool, "the plugin nudged about this ticket since its last message"),
    "messages_on_ticket": (int, "comments on the ticket so far"),
}

BASELINE: dict[str, Any] = {
    "event": "message", "role": "customer", "public": True, "status": "open", "tags": [],
    "is_question": False, "in_scope": False, "small_talk": False, "retrieval_score": 0.0,
    "answer_repeats": False, "answered_in_thread": False, "risks": [], "new_risks": [],
    "test_environment": False, "notes_on_ticket": 0, "minutes_since_last_note": 1e6,
    "command": "", "minutes_waiting": 0.0, "minutes_silent": 0.0, "promised_update": False,
    "already_nudged": False, "messages_on_ticket": 1,
}

# The fixed vocabulary of actions; "silent" rules are guards that suppress the others.
ACTIONS = ("answer", "flag", "nudge", "brief", "summarize", "record_feedback", "silent")
OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "contains", "in")
_CONDITION = re.compile(r"^\s*([a-z_]+)\s+(==|!=|<=|>=|<|>|contains|in)\s+(.+?)\s*$")


@dataclass(frozen=True)
class Condition:
    fact: str
    op: str
    value: Any
    text: str

    def holds(self, facts: dict[str, Any]) -> bool:
        """Evaluate in Python; used to explain why a rule did not fire."""
        actual = facts[self.fact]
        if self.op == "contains":
            return self.value in actual
        if self.op == "in":
            return actual in self.value
        return {"==": actual == self.value, "!=": actual != self.value,
                "<": actual < self.value, "<=": actual <= self.value,
                ">": actual > self.value, ">=": actual >= self.value}[self.op]

    def describe(self, facts: dict[str, Any]) -> str:
        """Say the condition with the actual value, e.g. 'retrieval_score >= 0.45 (is 0.21)'."""
        actual = facts[self.fact]
        if isinstance(actual, float):
            actual = round(actual, 3)
        return f"{self.text} (is {actual!r})"


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    priority: int
    why: str
    conditions: tuple[Condition, ...]
    params: dict[str, Any] = field(default_factory=dict)
    suppresses: tuple[str, ...] = ()  # for silent rules: the actions they silence
    file: str = ""
    line: int = 0
    fire_examples: tuple[dict[str, Any], ...] = ()
    silent_examples: tuple[dict[str, Any], ...] = ()

    def first_failure(self, facts: dict[str, Any]) -> Condition | None:
        return next((c for c in self.conditions if not c.holds(facts)), None)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.rule + ': ' if self.rule else ''}{self.message}"


class RuleFileError(ValueError):
    """The rule files are not valid; `problems` lists each with file and line."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def load_rules(rules_dir: Path) -> list[Rule]:
    """Load every rules/*.yml; raise RuleFileError listing all problems found."""
    rules, problems = check_rules(rules_dir)
    if problems:
        raise RuleFileError(problems)
    return rules


def check_rules(rules_dir: Path) -> tuple[list[Rule], list[Problem]]:
    """Load and validate; return the valid rules and every problem (never raises)."""
    rules_dir = Path(rules_dir)
    files = sorted(rules_dir.glob("*.yml")) + sorted(rules_dir.glob("*.yaml"))
    if not files:
        return [], [Problem(str(rules_dir), 0, "", "no rule files (*.yml) found")]
    rules: list[Rule] = []
    problems: list[Problem] = []
    for path in files:
        file_rules, file_problems = _load_file(path)
        rules += file_rules
        problems += file_problems
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.name in seen:
            problems.append(Problem(rule.file, rule.line, rule.name,
                                    f"duplicate rule name (also {seen[rule.name].file}:"
                                    f"{seen[rule.name].line})"))
        seen[rule.name] = rule
    return rules, problems


def _load_file(path: Path) -> tuple[list[Rule], list[Problem]]:
    name = str(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        return [], [Problem(name, line, "", f"not valid YAML: {exc}")]
    if not isinstance(root, yaml.MappingNode):
        return [], [Problem(name, 1, "", "expected a mapping with a `rules:` list")]
    top = {k.value: v for k, v in root.value}
    unknown = set(top) - {"rules"}
    if unknown:
        return [], [Problem(name, 1, "", f"unknown top-level key(s): {', '.join(sorted(unknown))}")]
    rules_node = top.get("rules")
    if not isinstance(rules_node, yaml.SequenceNode) or not rules_node.value:
        return [], [Problem(name, _line(rules_node or root), "", "`rules:` must be a non-empty list")]
    rules, problems = [], []
    for node in rules_node.value:
        rule, rule_problems = _load_rule(name, node)
        problems += rule_problems
        if rule and not rule_problems:
            rules.append(rule)
    return rules, problems


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


_RULE_KEYS = {"name", "action", "priority", "why", "when", "params", "suppresses", "examples"}


def _load_rule(file: str, node: yaml.Node) -> tuple[Rule | None, list[Problem]]:
    if not isinstance(node, yaml.MappingNode):
        return None, [Problem(file, _line(node), "", "each rule must be a mapping")]
    nodes = {k.value: v for k, v in node.value}
    data = yaml.safe_load(yaml.serialize(node))
    name = data.get("name") if isinstance(data.get("name"), str) else ""
    line = _line(node)
    problems: list[Problem] = []

    def problem(message: str, at: yaml.Node | None = None) -> None:
        problems.append(Problem(file, _line(at) if at is not None else line, name, message))

    for key in sorted(set(nodes) - _RULE_KEYS):
        problem(f"unknown key `{key}` (allowed: {', '.join(sorted(_RULE_KEYS))})", nodes[key])
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name or ""):
        problem("`name` is required: lower case letters, digits, - and _")
    action = data.get("action")
    if action not in ACTIONS:
        problem(f"`action` must be one of {', '.join(ACTIONS)}, got {action!r}", nodes.get("action"))
    priority = data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        problem(f"`priority` must be a whole number, got {priority!r}", nodes.get("priority"))
    why = data.get("why")
    if not isinstance(why, str) or not why.strip():
        problem("`why` is required: one sentence an analyst can read", nodes.get("why"))
    params = data.get("params", {})
    if not isinstance(params, dict):
        problem("`params` must be a mapping", nodes.get("params"))
    suppresses = data.get("suppresses", [a for a in ACTIONS if a != "silent"])
    if action != "silent" and "suppresses" in data:
        problem("`suppresses` is only for rules whose action is silent", nodes["suppresses"])
    elif not isinstance(suppresses, list) or not set(suppresses) <= set(ACTIONS) - {"silent"}:
        problem(f"`suppresses` must list actions from {', '.join(ACTIONS[:-1])}",
                nodes.get("suppresses"))

    conditions: list[Condition] = []
    when = nodes.get("when")
    if not isinstance(when, yaml.SequenceNode) or not when.value:
        problem("`when` must be a non-empty list of conditions", when)
    else:
        for cond_node in when.value:
            cond, message = parse_condition(cond_node.value if isinstance(cond_node, yaml.ScalarNode) else None)
            if message:
                problem(message, cond_node)
            else:
                conditions.append(cond)

    fire, silent = _examples(data.get("examples"), nodes.get("examples"), problem)
    if problems:
        return None, problems
    return Rule(name, action, priority, why.strip(), tuple(conditions), params,
                tuple(suppresses) if action == "silent" else (), file, line,
                fire, silent), []


def parse_condition(text: Any) -> tuple[Condition | None, str]:
    """Parse `fact op value`; return (condition, '') or (None, what is wrong)."""
    if not isinstance(text, str):
        return None, "a condition must be a string like `role == customer`"
    match = _CONDITION.match(text)
    if not match:
        return None, (f"cannot read condition {text!r}: expected `<fact> <op> <value>` "
                      f"with op one of {' '.join(OPERATORS)}")
    fact, op, raw = match.groups()
    if fact not in FACTS:
        close = [f for f in FACTS if f[:4] == fact[:4]]
        hint = f" (did you mean {close[0]}?)" if close else ""
        return None, f"unknown fact `{fact}`{hint}; known facts: {', '.join(FACTS)}"
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return None, f"cannot read the value {raw!r} in {text!r}"
    kind = FACTS[fact][0]
    numeric = kind in (int, float)
    if op == "contains":
        ok = kind is list and isinstance(value, str)
        need = "a list fact and a text value"
    elif op == "in":
        ok = kind is str and isinstance(value, list) and all(isinstance(v, str) for v in value)
        need = "a text fact and a list of texts, e.g. [solved, closed]"
    elif op in ("==", "!="):
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if numeric \
            else isinstance(value, kind) and kind is not list
        need = f"a {kind.__name__} value"
    else:
        ok = numeric and isinstance(value, (int, float)) and not isinstance(value, bool)
        need = "a number fact and a number"
    if not ok:
        return None, f"`{op}` on `{fact}` ({kind.__name__}) needs {need}, got {value!r}"
    return Condition(fact, op, value, text.strip()), ""


def _examples(data: Any, node: yaml.Node | None, problem) -> tuple[tuple, tuple]:
    if data is None:
        problem("`examples` with `fire` and `silent` lists is required: a rule ships with proof")
        return (), ()
    if not isinstance(data, dict) or set(data) - {"fire", "silent"}:
        problem("`examples` must be a mapping with `fire` and `silent` lists", node)
        return (), ()
    kind_nodes = {k.value: v for k, v in node.value}
    out = []
    for kind in ("fire", "silent"):
        items, at = data.get(kind) or [], kind_nodes.get(kind, node)
        if not isinstance(items, list) or not items:
            problem(f"`examples.{kind}` must be a non-empty list of fact mappings", at)
            items = []
        item_nodes = at.value if isinstance(at, yaml.SequenceNode) else [at] * len(items)
        for item, item_node in zip(items, item_nodes):
            if not isinstance(item, dict):
                problem(f"each `examples.{kind}` item must be a mapping of facts", item_node)
                continue
            unknown = set(item) - set(FACTS)
            if unknown:
                problem(f"example uses unknown fact(s): {', '.join(sorted(unknown))}", item_node)
        out.append(tuple(dict(BASELINE, **i) for i in items if isinstance(i, dict)))
    return out[0], out[1]
