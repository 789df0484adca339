"""Quality gates: what must hold before a proposal may leave for review.

Schema-valid front matter, minimum substance, no personal data or secret, no duplicate of an
existing entry, and rule files that pass `vigil rules check` and `vigil rules test`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from plugin.knowledge.entries import KnowledgeError, entry_paths, load_entry, near_duplicates, parse_entry
from plugin.learning.plan import Proposal, repo_relative
from plugin.redaction import findings
from plugin.decision.rulebook import check_rules
from plugin.decision.ruletest import run_examples

MIN_WORDS = 12  # a new entry shorter than this is not knowledge yet...
MIN_WORDS_WITH_DOCUMENT = 6  # ...unless it points to a help document, which holds the substance
_LEARNED_BLOCK = re.compile(r"^learned:\n(?:  .*\n)+", re.M)  # our own provenance metadata


def gate(proposals: list[Proposal], repo: Path, knowledge_dir: Path,
         rules_dir: Path) -> tuple[list[Proposal], list[tuple[Proposal, str]]]:
    """Split proposals into those that pass and those refused, with the reason."""
    passed, refused = [], []
    existing = _readable(Path(knowledge_dir))
    for proposal in proposals:
        problem = _problem(proposal, existing, Path(knowledge_dir), repo)
        if problem:
            refused.append((proposal, problem))
        else:
            passed.append(proposal)
    rule_changes = [p for p in passed if p.kind == "rule"]
    if rule_changes:
        problem = _rules_problem(rule_changes, repo, rules_dir)
        if problem:
            passed = [p for p in passed if p not in rule_changes]
            refused += [(p, problem) for p in rule_changes]
    return passed, refused


def personal_data(content: str) -> list[str]:
    """The kinds of personal data or secrets in a proposed file, our own provenance block aside."""
    return findings(_LEARNED_BLOCK.sub("", content), keep_links=True)


def _problem(proposal: Proposal, existing: list, knowledge_dir: Path, repo: Path) -> str:
    if proposal.content is None:
        return ""  # a retirement: the reviewer sees the deleted file in the diff
    kinds = personal_data(proposal.content)
    if kinds:
        return f"looks like personal data or a secret ({', '.join(kinds)})"
    if not proposal.path.endswith(".md"):
        return ""
    entry_id = Path(proposal.path).relative_to(repo_relative(knowledge_dir, repo)).with_suffix("").as_posix()
    try:
        entry = parse_entry(entry_id, proposal.content)
    except KnowledgeError as exc:
        return f"invalid front matter: {exc}"
    if proposal.kind == "new":
        answer = entry.body.split("\nAsked as:\n")[0]  # the phrasings are not the substance
        least = MIN_WORDS_WITH_DOCUMENT if "https://" in answer else MIN_WORDS
        if len(answer.split()) < least:
            return f"too little substance ({len(answer.split())} words of answer, at least {least})"
        twin = next((e for e in existing if near_duplicates(entry.title, entry.body, e.title, e.body)), None)
        if twin:
            return f"near-duplicate of {twin.id}"
    return ""


def _rules_problem(changes: list[Proposal], repo: Path, rules_dir: Path) -> str:
    """Run rules check and rules test on a copy of the rules with the changes applied."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "rules"
        shutil.copytree(rules_dir, copy)
        for change in changes:
            target = copy / Path(change.path).name
            if change.content is None:
                target.unlink(missing_ok=True)
            else:
                target.write_text(change.content, encoding="utf-8")  # as rulebook reads it
        rules, problems = check_rules(copy)
        if problems:
            return "rules check fails: " + "; ".join(map(str, problems))[:500]
        failed = [r for r in run_examples(rules) if not r.passed]
        if failed:
            return "rules test fails: " + "; ".join(f"{r.rule} {r.expect}" for r in failed)[:500]
    return ""


def _readable(knowledge_dir: Path) -> list:
    """The entries that load (broken ones are `vigil knowledge check`'s business, not ours)."""
    entries = []
    for path in entry_paths(knowledge_dir):
        try:
            entries.append(load_entry(knowledge_dir, path))
        except KnowledgeError:
            continue
    return entries
