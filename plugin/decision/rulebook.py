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

Conditions are `<fact> <op> <value>`, with op one of == != < <= > >= contains, not contains, in.
Facts are the fixed vocabulary in FACTS; actions the fixed vocabulary in ACTIONS. A fact in
AFTER_DRAFTING is known only once a note is drafted: only guards test it, in a second pass.
This module does not import durable-rules: engine.py compiles what is loaded here.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

# What signals.risks finds in a message; each kind has its flag rule in rules/risk.yml.
RISK_KINDS = ("security", "business_impact", "widespread", "negative_emotion", "vip")
NEVER = 1e6  # minutes since something that never happened (the engine reads no infinity)

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
    "answer_confidence": (float, "probability that the best knowledge entry answers the message, 0..1 "
                                 "(plugin/decision/answerability.py)"),
    "answer_repeats": (bool, "the best entry was already cited in a note on this ticket"),
    "answered_in_thread": (bool, "an analyst's public reply already covers the best entry"),
    "risks": (list, "risk kinds in this message: business_impact, widespread, security, "
                    "negative_emotion, vip"),
    # One per kind: a flag rule's window is its own condition (minutes_since_security_flag > 360).
    **{f"minutes_since_{kind}_flag": (float, f"minutes since this ticket was last flagged for {kind} "
                                              "(1e6 if never)") for kind in RISK_KINDS},
    "flagged_kinds": (list, "risk kinds this ticket has ever been flagged for"),
    "test_environment": (bool, "the conversation says it is a test or staging environment"),
    "notes_on_ticket": (int, "notes the plugin has written on this ticket"),
    "minutes_since_last_note": (float, "minutes since the plugin's last note (1e6 if none)"),
    "command": (str, "what an analyst asked the plugin with @vigil: summary, useful, wrong, or ''"),
    "minutes_waiting": (float, "minutes the customer has waited for an analyst's reply"),
    "minutes_silent": (float, "minutes since anyone last wrote publicly on the ticket"),
    "promised_update": (bool, "the last public word is an analyst's promise of an update"),
    "already_nudged": (bool, "the plugin nudged about this ticket since its last message"),
    "messages_on_ticket": (int, "comments on the ticket so far"),
    "note_similarity": (float, "word overlap of the drafted note with the closest earlier note on this "
                               "ticket, 0..1 (0 until a note is drafted)"),
}
# Known only after a note is drafted (drafting may call a model, so it is not done before
# deciding). The pipeline decides on the other facts, drafts, then asks the rules again with
# these: only guards may test them, so that second pass can silence a note but never choose one.
AFTER_DRAFTING = frozenset({"note_similarity"})

BASELINE: dict[str, Any] = {
    "event": "message", "role": "customer", "public": True, "status": "open", "tags": [],
    "is_question": False, "in_scope": False, "small_talk": False, "retrieval_score": 0.0, "answer_confidence": 0.0,
    "answer_repeats": False, "answered_in_thread": False, "risks": [], "flagged_kinds": [],
    **{f"minutes_since_{kind}_flag": NEVER for kind in RISK_KINDS}, "note_similarity": 0.0,
    "test_environment": False, "notes_on_ticket": 0, "minutes_since_last_note": 1e6,
    "command": "", "minutes_waiting": 0.0, "minutes_silent": 0.0, "promised_update": False,
    "already_nudged": False, "messages_on_ticket": 1,
}

# The fixed vocabulary of actions, listed here and nowhere else: the decision core owns it,
# and plugin/notes/actions.py gives each action that writes a note its behaviour.
NOTE_ACTIONS = ("answer", "flag", "nudge", "brief", "summarize")  # each writes an internal note
# record_feedback stores an analyst's verdict on the last note; "silent" rules are guards
# that suppress the others (ACTIONS[:-1] are the actions a guard can suppress).
ACTIONS = (*NOTE_ACTIONS, "record_feedback", "silent")
OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "contains", "not contains", "in")
_CONDITION = re.compile(r"^\s*([a-z_]+)\s+(==|!=|<=|>=|<|>|contains|not\s+contains|in)\s+(.+?)\s*$")
# What constructing a YAML value can raise besides YAMLError: !!int abc (ValueError), a
# timestamp out of range (OverflowError), nesting deeper than Python's stack (RecursionError).
_UNREADABLE = (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError)
_show = reprlib.Repr()  # quotes a value in a message, shortened: never the whole file back
_show.maxstring = _show.maxother = 60
_show.maxlevel, _show.maxlist, _show.maxdict = 2, 4, 4


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
        if self.op == "not contains":
            return self.value not in actual
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

    @property
    def after_drafting(self) -> bool:
        """A guard that tests what a drafted note says: the second pass applies it."""
        return any(c.fact in AFTER_DRAFTING for c in self.conditions)


def flagged_by(considered: Iterable[Mapping[str, Any]], rules: Mapping[str, Rule]) -> set[str]:
    """The risk kinds a decision flagged: the `kind` of each flag rule that fired (a flag note
    names every one). Read from a decision's trace, so a stored decision says it too."""
    fired = (rules.get(str(c.get("rule"))) for c in considered if c.get("fired") and c.get("action") == "flag")
    return {str(rule.params["kind"]) for rule in fired if rule and rule.params.get("kind")}


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
    except RecursionError:
        return [], [Problem(name, 0, "", "not valid YAML: nested too deeply to read")]
    except OSError as exc:
        return [], [Problem(name, 0, "", f"cannot read the file: {exc.strerror}")]
    if not isinstance(root, yaml.MappingNode):
        return [], [Problem(name, 1, "", "expected a mapping with a `rules:` list")]
    for node in _scalars(root):
        why = _bad_text(node.value)
        if why:
            return [], [Problem(name, _line(node), "", f"{_show.repr(node.value)} {why}")]
    top = _entries(root)
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


def _scalars(root: yaml.Node):
    """Every scalar node, once each (aliases can make the graph cyclic), without recursion."""
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            yield node
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
        elif isinstance(node, yaml.MappingNode):
            stack += [n for pair in node.value for n in pair]


def _bad_text(text: Any) -> str:
    """Why a text cannot be stored or given to the engine, or '' if it can.

    Double-quoted YAML can write any code point as an escape: "\\0" (PostgreSQL refuses NUL
    in text) and "\\ud800" (a lone surrogate is not UTF-8: no database or engine takes it).
    """
    for item in text if isinstance(text, list) else [text]:
        if not isinstance(item, str):
            continue
        if "\x00" in item:
            return "contains a NUL character (\\0), which cannot be stored"
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (a lone surrogate such as \\ud800)"
    return ""


def _entries(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    """A mapping's value nodes by key; a key that is not plain text shows as `<sequence>` etc."""
    return {k.value if isinstance(k, yaml.ScalarNode) else f"<{k.id}>": v for k, v in node.value}


_RULE_KEYS = {"name", "action", "priority", "why", "when", "params", "suppresses", "examples"}


def _load_rule(file: str, node: yaml.Node) -> tuple[Rule | None, list[Problem]]:
    if not isinstance(node, yaml.MappingNode):
        return None, [Problem(file, _line(node), "", "each rule must be a mapping")]
    nodes = _entries(node)
    line = _line(node)
    try:
        data = yaml.safe_load(yaml.serialize(node))
    except _UNREADABLE as exc:
        why = getattr(exc, "problem", None) or str(exc) or type(exc).__name__
        return None, [Problem(file, line, "", f"cannot read this rule's values: {why}")]
    if not isinstance(data, dict):  # a mapping tagged !!set, say
        return None, [Problem(file, line, "", "each rule must be a mapping")]
    name = data["name"] if isinstance(data.get("name"), str) else ""
    problems: list[Problem] = []

    def problem(message: str, at: yaml.Node | None = None) -> None:
        problems.append(Problem(file, _line(at) if at is not None else line, name, message))

    for key in sorted(set(nodes) - _RULE_KEYS):
        problem(f"unknown key `{key}` (allowed: {', '.join(sorted(_RULE_KEYS))})", nodes[key])
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name or ""):
        problem("`name` is required: lower case letters, digits, - and _")
    action = data.get("action")
    if action not in ACTIONS:
        problem(f"`action` must be one of {', '.join(ACTIONS)}, got {_show.repr(action)}",
                nodes.get("action"))
    priority = data.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        problem(f"`priority` must be a whole number, got {_show.repr(priority)}",
                nodes.get("priority"))
    why = data.get("why")
    if not isinstance(why, str) or not why.strip():
        problem("`why` is required: one sentence an analyst can read", nodes.get("why"))
    params = data.get("params", {})
    if not isinstance(params, dict):
        problem("`params` must be a mapping", nodes.get("params"))
    suppresses = data.get("suppresses", [a for a in ACTIONS if a != "silent"])
    if action != "silent" and "suppresses" in data:
        problem("`suppresses` is only for rules whose action is silent", nodes.get("suppresses"))
    elif not isinstance(suppresses, list) or not all(a in ACTIONS[:-1] for a in suppresses):
        problem(f"`suppresses` must list actions from {', '.join(ACTIONS[:-1])}",
                nodes.get("suppresses"))

    conditions: list[Condition] = []
    when = nodes.get("when")
    if not isinstance(when, yaml.SequenceNode) or not when.value:
        problem("`when` must be a non-empty list of conditions", when)
    else:
        for cond_node in when.value:
            cond, message = parse_condition(cond_node.value if isinstance(cond_node, yaml.ScalarNode) else None)
            if cond is None:
                problem(message, cond_node)
            elif cond.fact in AFTER_DRAFTING and action != "silent":
                problem(f"`{cond.fact}` is known only after the note is drafted: only a guard "
                        "(action: silent) can test it", cond_node)
            else:
                conditions.append(cond)

    fire, silent = _examples(data.get("examples"), nodes.get("examples"), problem)
    if problems:
        return None, problems
    return Rule(name, str(action), priority, str(why).strip(), tuple(conditions), params,
                tuple(suppresses) if action == "silent" else (), file, line,
                fire, silent), []


def parse_condition(text: Any) -> tuple[Condition | None, str]:
    """Parse `fact op value`; return (condition, '') or (None, what is wrong)."""
    if not isinstance(text, str):
        return None, "a condition must be a string like `role == customer`"
    match = _CONDITION.match(text)
    if not match:
        return None, (f"cannot read condition {_show.repr(text)}: expected `<fact> <op> <value>` "
                      f"with op one of {' '.join(OPERATORS)}")
    fact, op, raw = match.groups()
    op = " ".join(op.split())  # "not  contains" is "not contains"
    if fact not in FACTS:
        close = [f for f in FACTS if f[:4] == fact[:4]]
        hint = f" (did you mean {close[0]}?)" if close else ""
        return None, f"unknown fact `{fact}`{hint}; known facts: {', '.join(FACTS)}"
    try:
        value = yaml.safe_load(raw)
    except _UNREADABLE:
        return None, f"cannot read the value {_show.repr(raw)} in {_show.repr(text)}"
    if _bad_text(value):
        return None, f"the value in {_show.repr(text)} {_bad_text(value)}"
    kind = FACTS[fact][0]
    numeric = kind in (int, float)
    if op in ("contains", "not contains"):
        ok = kind is list and isinstance(value, str)
        need = "a list fact and a text value"
    elif op == "in":
        ok = kind is str and isinstance(value, list) and all(isinstance(v, str) for v in value)
        need = "a text fact and a list of texts, e.g. [solved, closed]"
    elif op in ("==", "!="):
        ok = _number(value) if numeric else isinstance(value, kind) and kind is not list
        need = f"a {kind.__name__} value"
    else:
        ok = numeric and _number(value)
        need = "a number fact and a number"
    if not ok:
        return None, f"`{op}` on `{fact}` ({kind.__name__}) needs {need}, got {_show.repr(value)}"
    if numeric and not _engine_reads(value):
        return None, f"`{op}` on `{fact}`: {_show.repr(value)} is out of range; {_NUMBERS}"
    return Condition(fact, op, value, text.strip()), ""


_KIND_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a text",
               list: "a list of texts"}
_NUMBERS = ("the rule engine reads 0, numbers from 0.0001 to 1e16 in size, and whole numbers "
            "below 2**63")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _engine_reads(value: int | float) -> bool:
    """Whether durable-rules can read the number: its JSON parser refuses 1e-05 and 1e+16
    (what Python writes below 0.0001 and from 1e16 on), infinity, NaN and ints past 64 bits."""
    if isinstance(value, int):
        return abs(value) < 2**63
    return value == 0 or 1e-4 <= abs(value) < 1e16  # False for NaN


def _misfit(fact: str, value: Any) -> str:
    """Why an example's value cannot stand for what the pipeline computes ('' if it can)."""
    kind, meaning = FACTS[fact]
    if kind is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind in (int, float):
        ok = _number(value) and (kind is float or isinstance(value, int))
        if ok and not _engine_reads(value):
            return _NUMBERS
    else:
        ok = isinstance(value, kind)
    return "" if ok else f"it is {_KIND_WORDS[kind]} ({meaning})"


def _examples(data: Any, node: yaml.Node | None, problem) -> tuple[tuple, tuple]:
    if data is None:
        problem("`examples` with `fire` and `silent` lists is required: a rule ships with proof")
        return (), ()
    if not isinstance(data, dict) or set(data) - {"fire", "silent"}:
        problem("`examples` must be a mapping with `fire` and `silent` lists", node)
        return (), ()
    kind_nodes = _entries(node) if isinstance(node, yaml.MappingNode) else {}  # None: merged in
    out = []
    for kind in ("fire", "silent"):
        items, at = data.get(kind) or [], kind_nodes.get(kind, node)
        if not isinstance(items, list) or not items:
            problem(f"`examples.{kind}` must be a non-empty list of fact mappings", at)
            items = []
        item_nodes = at.value if isinstance(at, yaml.SequenceNode) else [at] * len(items)
        valid = []
        for item, item_node in zip(items, item_nodes):
            if not isinstance(item, dict):
                problem(f"each `examples.{kind}` item must be a mapping of facts", item_node)
                continue
            unknown = sorted(str(k) for k in item if k not in FACTS)
            if unknown:
                problem(f"example uses unknown fact(s): {', '.join(unknown)}", item_node)
                continue
            wrong = [(f, v, _misfit(f, v)) for f, v in item.items() if _misfit(f, v)]
            if wrong:
                fact, value, why = wrong[0]
                problem(f"example sets `{fact}` to {_show.repr(value)}: {why}", item_node)
                continue
            valid.append(dict(BASELINE, **item))
        out.append(tuple(valid))
    return out[0], out[1]
