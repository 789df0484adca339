"""Score the decisions against a labelled set: precision and recall per action.

Each message of a labelled conversation carries `expect` (the actions a careful analyst
wants, [] for silence) and, for answers, `expect_sources`. The conversations run through
the real pipeline in a throwaway home, in shadow mode.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from plugin.replay import events_for, read_conversations
from plugin.decision.rulebook import Rule
from plugin.runtime import build_runtime
from plugin.settings import Settings

ACTIONS_SCORED = ("answer", "flag")


def evaluate(labelled: Path | list[dict[str, Any]], settings: Settings,
             rules: list[Rule] | None = None) -> dict[str, Any]:
    """Replay every labelled conversation; return counts, scores and the mistakes."""
    conversations = read_conversations(labelled) if isinstance(labelled, Path) else labelled
    rows: list[dict[str, Any]] = []
    mistakes: list[dict[str, Any]] = []
    for conversation, index, message, got in _replay(conversations, settings, rules):
        rows.append(_row(conversation, index, message, got))
        expected = set(message.get("expect", ()))
        for action in ACTIONS_SCORED:
            if (action in expected) != (action in got):
                mistakes.append({"ticket_id": conversation["ticket_id"], "message_index": index,
                                 "kind": "fn" if action in expected else "fp", "action": action,
                                 "body": message["body"][:160],
                                 "reason": got[action].decision.reason if action in got else None})
    return {"conversations": len(conversations), "messages": len(rows), "scores": scores_from_rows(rows),
            "answers_citing_an_expected_source": _citing(rows), "mistakes": mistakes}


def _replay(conversations: Iterable[dict[str, Any]], settings: Settings, rules: list[Rule] | None
            ) -> Iterator[tuple[dict[str, Any], int, dict[str, Any], dict[str, Any]]]:
    """(conversation, message index, message, {action: outcome} taken on it) for every message,
    the conversations run through the real pipeline in a throwaway home, in shadow mode."""
    with tempfile.TemporaryDirectory() as home:
        runtime = build_runtime(settings.replace(home=Path(home), shadow=True),
                                with_connectors=False, rules=rules)
        try:
            for conversation in conversations:
                taken: dict[int, dict[str, Any]] = {}
                for event in events_for(conversation):
                    for outcome in runtime.pipeline.handle(event):
                        if outcome.message_index is not None and outcome.decision.action != "silent":
                            taken.setdefault(outcome.message_index, {})[outcome.decision.action] = outcome
                for index, message in enumerate(conversation["messages"]):
                    yield conversation, index, message, taken.get(index, {})
        finally:
            runtime.close()


def _row(conversation: dict[str, Any], index: int, message: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    answer = got.get("answer")
    return {"ticket_id": conversation["ticket_id"], "message_index": index,
            "expected": sorted(set(message.get("expect", ()))), "taken": sorted(got),
            "cited": list(answer.note.sources) if answer and answer.note else [],
            "expect_sources": list(message.get("expect_sources", ()))}


def with_answer_threshold(rules: list[Rule], threshold: float) -> list[Rule]:
    """The same rules with every answer rule's answer_confidence threshold set to `threshold`."""
    out = []
    for rule in rules:
        if rule.action == "answer":
            rule = dataclasses.replace(rule, conditions=tuple(
                dataclasses.replace(c, value=threshold, text=f"answer_confidence >= {threshold}")
                if c.fact == "answer_confidence" and c.op == ">=" else c for c in rule.conditions))
        out.append(rule)
    return out


# --- per message: the confusion between actions (for the evaluation report) ---------------

SILENT = "silent"


def action_label(actions: set[str] | list[str] | tuple[str, ...]) -> str:
    """A message's scored actions as one label: "silent", "answer", "flag" or "answer+flag"."""
    return "+".join(a for a in ACTIONS_SCORED if a in set(actions)) or SILENT


CONFUSION_LABELS = (SILENT, *ACTIONS_SCORED, "+".join(ACTIONS_SCORED))


def evaluate_detailed(labelled: Path | list[dict[str, Any]], settings: Settings,
                      rules: list[Rule] | None = None,
                      progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None) -> dict[str, Any]:
    """What `evaluate` scores, plus one row per message and a confusion table between actions.

    A row: ticket_id, message_index, `expected` (the labels) and `taken` (every action the
    pipeline took on that message, the unscored ones such as `brief` included). The
    confusion table puts each message in exactly one cell: its expected label (rows) against
    the label of the scored actions taken (columns), so the cells add up to the messages.
    `progress` wraps the iteration over conversations (a progress bar).
    """
    conversations = read_conversations(labelled) if isinstance(labelled, Path) else labelled
    rows = [_row(*taken) for taken in _replay((progress or iter)(conversations), settings, rules)]
    return {"conversations": len(conversations), "messages": len(rows), "scores": scores_from_rows(rows),
            "confusion": confusion_table(rows), "other_actions": dict(sorted(Counter(
                a for r in rows for a in r["taken"] if a not in ACTIONS_SCORED).items())),
            "answers_citing_an_expected_source": _citing(rows), "rows": rows}


def scores_from_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """tp/fp/fn/tn, precision and recall per scored action, as `evaluate` computes them."""
    scores = {}
    for action in ACTIONS_SCORED:
        c = Counter(("tp" if action in r["taken"] else "fn") if action in r["expected"] else (
            "fp" if action in r["taken"] else "tn") for r in rows)
        predicted_n, actual_n = c["tp"] + c["fp"], c["tp"] + c["fn"]
        scores[action] = {**{k: c[k] for k in ("tp", "fp", "fn", "tn")},
                          "precision": round(c["tp"] / predicted_n, 3) if predicted_n else None,
                          "recall": round(c["tp"] / actual_n, 3) if actual_n else None}
    return scores


def confusion_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{"labels": [...], "counts": [[...]]}: counts[i][j] messages expected labels[i], taken labels[j]."""
    cells = Counter((action_label(r["expected"]), action_label(r["taken"])) for r in rows)
    return {"labels": list(CONFUSION_LABELS),
            "counts": [[cells[(e, t)] for t in CONFUSION_LABELS] for e in CONFUSION_LABELS]}


def _citing(rows: list[dict[str, Any]]) -> float | None:
    answered = [r for r in rows if "answer" in r["expected"] and "answer" in r["taken"]]
    right = sum(bool(set(r["cited"]) & set(r["expect_sources"])) for r in answered)
    return round(right / len(answered), 3) if answered else None
