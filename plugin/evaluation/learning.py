"""Measure the learning loop on real resolved conversations (`vigil eval --learning`).

1. What it proposes from the 360 help-desk tickets and the 525 customer-care conversations,
   against the shipped knowledge base: proposals by kind, how many were merged into an
   existing entry instead of duplicating it, and personal-data findings (must be 0).
2. Whether the loop closes: knowledge learned from the first 70 % of the customer-care
   conversations (by time), merged into an empty base, against no knowledge at all, scored
   by the grounding evaluation's hit@3 on the later conversations.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from plugin.evaluation import grounding
from plugin.learning.cases import Case
from plugin.learning.extract import extract_offline
from plugin.learning.gates import personal_data
from plugin.learning.loop import plan_and_gate
from plugin.learning.plan import Proposal
from connectors.events import Message
from plugin.settings import Settings

HELPDESK = grounding.REPO / "data" / "helpdesk" / "helpdesk_tickets_utterances.csv"
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)  # fixed: the figures must not depend on the day


def helpdesk_cases(path: Path = HELPDESK) -> list[Case]:
    """The real IT tickets: a comment is the rows sharing `id`, joined in `utr_seq` order."""
    comments: dict[tuple[str, str], list[tuple[int, dict]]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            comments[(row["issueid"], row["id"])].append((int(float(row["utr_seq"])), row))
    tickets: dict[str, list[Message]] = defaultdict(list)
    for (issue, _), parts in comments.items():
        parts.sort(key=lambda p: p[0])
        first = parts[0][1]
        tickets[issue].append(Message(
            "customer" if first["author_role"] == "reporter" else "analyst", first["is_private"] in ("0", "0.0"),
            " ".join(p[1]["actionbody"] for p in parts), datetime.fromisoformat(first["created"])))
    return [Case("jira", f"hd-{int(float(issue))}", "", tuple(sorted(messages, key=lambda m: m.created_at)))
            for issue, messages in sorted(tickets.items())]


def twitter_cases(cases: list[grounding.Case]) -> list[Case]:
    """Customer-care conversations: the customer's tweets, then the agent's answer and link."""
    return [Case("zendesk", f"twcs-{c.session_id}", "", tuple(
        [Message("customer", True, text, at) for at, text in c.messages]
        + [Message("analyst", True, c.answer, (c.messages[-1][0] if c.messages else c.time) + timedelta(minutes=1))]),
        product=c.company) for c in cases]


def propose(cases: list[Case], knowledge_dir: Path) -> tuple[list[Proposal], list]:
    """What the loop would propose against a knowledge folder and the rules beside it (nothing is
    published): lessons extracted offline, then the loop's own planning and gates."""
    lessons = [lesson for case in cases if (lesson := extract_offline(case))]
    with tempfile.TemporaryDirectory() as home:
        return plan_and_gate(lessons, cases, knowledge_dir, Path(home) / "index", knowledge_dir.parent,
                             knowledge_dir.parent / "rules", NOW)


def _figures(cases: list[Case], settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        shutil.copytree(settings.knowledge_dir, knowledge)
        shutil.copytree(settings.rules_dir, Path(tmp) / "rules")  # rule proposals need the rules too
        passed, refused = propose(cases, knowledge)
    personal = sum(bool(personal_data(p.content or "")) for p in passed)
    return {"cases": len(cases), "proposals": len(passed),
            "by_kind": {k: sum(p.kind == k for p in passed) for k in ("new", "update", "retire", "rule")},
            # Lessons that did not become a duplicate: folded into an existing entry, or into
            # another lesson's new entry because both asked the same thing.
            "lessons_merged_into_existing": sum(len(p.tickets) for p in passed if p.kind == "update"),
            "lessons_merged_together": sum(len(p.tickets) - 1 for p in passed if p.kind == "new"),
            "refused_by_gates": len(refused), "personal_data_findings": personal}


_LINK = re.compile(r"https?://\S+")


def _entries_by_link(root: Path, url_to_doc: dict[str, str]) -> dict[str, frozenset[str]]:
    """doc_id -> the learned entries under root that carry that document's link."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in Path(root).rglob("*.md"):
        for url in _LINK.findall(path.read_text(encoding="utf-8")):
            doc = url_to_doc.get(url.rstrip(".,)"))
            if doc:
                found[doc].add(path.relative_to(root).with_suffix("").as_posix())
    return {doc: frozenset(ids) for doc, ids in found.items()}


def loop_closes(settings: Settings, split: float = 0.7) -> dict[str, Any]:
    """hit@3 on the later conversations: before (no knowledge) and after merging what was learned."""
    all_cases = grounding.load_cases(grounding.DATA)
    earlier, _ = grounding.split_cases(all_cases, split)
    url_to_doc = {c.url: c.doc_id for c in all_cases}
    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        knowledge.mkdir()
        empty = Path(tmp) / "empty"
        empty.mkdir()
        passed, _ = propose(twitter_cases(earlier), knowledge)
        for p in passed:  # "merge the pull request"
            target = Path(tmp) / p.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(p.content or "", encoding="utf-8")
        # Both runs score against what was learned: "before" has the same test cases in_kb.
        learned = _entries_by_link(knowledge, url_to_doc)
        after = grounding.evaluate_grounding(grounding.DATA, settings, split, knowledge=knowledge,
                                             entries_for=lambda _root: learned)
        before = grounding.evaluate_grounding(grounding.DATA, settings, split, knowledge=empty,
                                              entries_for=lambda _root: learned)
    keep = ("in_kb", "hit_at_1", "hit_at_3", "answered", "not_in_kb", "correct_silence")
    return {"learned_entries": len(passed), "before": {k: before[k] for k in keep},
            "after": {k: after[k] for k in keep}}


def measure_learning(settings: Settings) -> dict[str, Any]:
    return {"helpdesk": _figures(helpdesk_cases(), settings),
            "customer_care": _figures(twitter_cases(grounding.load_cases(grounding.DATA)), settings),
            "loop": loop_closes(settings)}
