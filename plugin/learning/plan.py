"""Decide what to propose against the current knowledge base: new, update, or retire.

- A lesson whose question the base already answers (a strong hit on the same topic) becomes
  an *update* of that entry: one more phrasing and one more source ticket, not a duplicate.
- Lessons that ask the same new thing are merged into one *new* entry.
- A note that analysts marked wrong retires the entries it cited, or, when the case
  shows what did work, corrects them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import yaml

from plugin.knowledge.entries import parse_entry, similarity
from plugin.learning.cases import Case
from plugin.learning.confidence import calibrate, evidence_score
from plugin.learning.extract import Lesson, answer_terms
from plugin.learning.screening import shared
from plugin.knowledge.retrieval import KnowledgeIndex, query_terms
from plugin.decision.answerability import Answerability
from plugin.decision.rulebook import RuleFileError, load_rules

ANSWER_RULES = "answer.yml"
ANSWER_FACT = "answer_confidence"  # what the answer rules threshold (plugin/decision/answerability.py)
NEAR_MISS = 0.15  # how far under the answer threshold a question may score to count as a miss...
HUMANS_USED_IT = 0.2  # ...when the analysts' answer shares this much with the entry found
MIN_MISSES = 3  # resolved cases it takes before a threshold change is worth a reviewer's time
UPDATE_FROM = 0.6  # evidence from which the base already answers the lesson's question...
ANSWER_AGREES = 0.1  # ...if the humans' answer also shares words with the entry (same subject)
SAME_QUESTION = 0.5  # word overlap from which two new lessons ask the same thing...
SAME_ANSWER = 0.6  # ...or were given the same answer (one entry, several phrasings)
_LINK = re.compile(r"https?://[^\s)]+")
# Words that survive the stop list but say nothing about the subject: never a tag.
_NOT_TAGS = frozenset("""try tried trying because into out new gives give gave currently cannot anymore nothing seeing
    using when able keep keeps every always never since even really one thing things way lot time times day days
    someone something anyone anything said says told going seems seem wondering without anyway back
    """.split())
LEARNED_DIR = "learned"  # new entries go to knowledge/learned/, where reviewers expect them


@dataclass(frozen=True)
class Proposal:
    """One file change for the pull request, with what justifies it."""

    kind: str  # "new", "update", "retire" or "rule"
    path: str  # relative to the repository
    content: str | None  # the file's new text; None deletes it
    tickets: tuple[str, ...]
    evidence: tuple[str, ...]
    why: str
    # What the reviewer reads in the pull request (knowledge entries only):
    question: str = ""
    answer: str = ""
    product: str = ""
    nearest: tuple[str, float] | None = None  # the closest existing entry and its retrieval score
    confidence: float | None = None  # calibrated chance a reviewer accepts it (confidence.py)
    links: tuple[str, ...] = ()  # ticket links, for provenance a reviewer can open


@dataclass
class _Draft:
    """A knowledge file being assembled from one or more lessons."""

    meta: dict[str, Any]
    body: str  # the entry's text before any correction and phrasings
    also_asked: list[str] = field(default_factory=list)
    lessons: list[Lesson] = field(default_factory=list)
    correction: list[str] = field(default_factory=list)
    nearest: tuple[str, float] | None = None


def plan(lessons: list[Lesson], cases: list[Case], index: KnowledgeIndex, knowledge_dir: Path,
         repo: Path, now: datetime, ticket_link=lambda ref: ref, rules_dir: Path | None = None,
         history: Sequence[tuple[float | None, str]] = ()) -> list[Proposal]:
    """Turn lessons and analysts' verdicts into proposals, one per file touched; `history` holds
    past proposals' (confidence, outcome), which calibrate the new ones' confidence."""
    prefix = repo_relative(knowledge_dir, repo)
    updates: dict[str, _Draft] = {}
    new: list[_Draft] = []
    misses: list[tuple[Lesson, float]] = []
    answerability = Answerability(index)  # misses are measured as the answer rules measure them
    for lesson in lessons:
        hits = index.search(lesson.question)
        top = hits[0] if hits else None
        agrees = similarity(" ".join(lesson.steps), top.body) if top else 0.0
        if top and agrees >= HUMANS_USED_IT:
            misses.append((lesson, answerability.assess(lesson.question, lesson.question, hits)[0]))
        if top and top.score >= UPDATE_FROM and agrees >= ANSWER_AGREES and _same_brand(lesson, top.entry_id, knowledge_dir):
            draft = _update(updates, knowledge_dir, top.entry_id)
        else:
            same = next((d for d in new if _same(d.lessons[0], lesson)), None)
            if same is None:
                same = _Draft({"title": lesson.question, "tags": []}, _numbered(lesson.steps))
                new.append(same)
            draft = same
        if top and (draft.nearest is None or top.score > draft.nearest[1]):
            draft.nearest = (top.entry_id, round(top.score, 3))
        # Every phrasing goes in the body: the title is cut short, and future questions
        # are found by the words customers actually used.
        draft.also_asked.append(lesson.question)
        draft.lessons.append(lesson)
    retired = _verdicts(cases, lessons, updates, knowledge_dir)
    proposals = [_proposal("update", f"{prefix}/{entry_id}.md", draft, now, ticket_link, history)
                 for entry_id, draft in updates.items() if entry_id not in retired]
    proposals += [_proposal("new", f"{prefix}/{LEARNED_DIR}/{_slug(d.meta['title'])}.md", d, now, ticket_link, history)
                  for d in new]
    proposals += [Proposal("retire", f"{prefix}/{entry_id}.md", None, tuple(refs), (),
                           f"analysts marked notes citing {entry_id} wrong, and no case showed a fix")
                  for entry_id, refs in retired.items()]
    if rules_dir is not None:
        proposals += threshold_proposal(misses, Path(rules_dir), Path(repo))
    return proposals


def repo_relative(path: Path, repo: Path) -> str:
    """How the repository names a path ("knowledge/learned"); ValueError if it is outside."""
    return Path(path).resolve().relative_to(Path(repo).resolve()).as_posix()


def threshold_proposal(misses: list[tuple[Lesson, float]], rules_dir: Path, repo: Path) -> list[Proposal]:
    """A rule change: lower the answer threshold when the base held the answer to questions
    the plugin stayed silent on, just under it, in at least MIN_MISSES resolved cases.

    The proposed file carries those questions' scores as new `fire` examples, so `rules test`
    (run by the gates) proves the change does what it claims and breaks no `silent` example.
    """
    path = Path(rules_dir) / ANSWER_RULES
    try:
        relative = repo_relative(path, repo)
        rules = load_rules(Path(rules_dir))
    except (ValueError, RuleFileError):
        return []  # rules outside the repository, or broken: nothing to propose against
    thresholds = {c.value for r in rules if r.action == "answer" and Path(r.file).name == ANSWER_RULES
                  for c in r.conditions if c.fact == ANSWER_FACT and c.op == ">="}
    if len(thresholds) != 1:
        return []
    old = thresholds.pop()
    near = [(lesson, score) for lesson, score in misses if old - NEAR_MISS <= score < old]
    if len(near) < MIN_MISSES:
        return []
    new = math.floor(min(score for _, score in near) / 0.025) * 0.025
    text = re.sub(ANSWER_FACT + r" >= " + re.escape(str(old)) + r"\b", f"{ANSWER_FACT} >= {new:g}",
                  path.read_text(encoding="utf-8"))
    examples = "".join(f"        - {{is_question: true, in_scope: true, {ANSWER_FACT}: {score:.3f}}}"
                       f"  # learned from {lesson.case.ref}\n" for lesson, score in near)
    text = text.replace("      fire:\n", "      fire:\n" + examples, 1)
    refs = tuple(dict.fromkeys(lesson.case.ref for lesson, _ in near))
    evidence = tuple(f"{lesson.case.ref}: {lesson.question[:160]} (evidence {score:.2f})" for lesson, score in near)
    return [Proposal("rule", relative, text, refs, evidence,
                     f"{len(near)} resolved questions the base answered scored just under {old:g}; "
                     f"lower the answer threshold to {new:g}")]


def _verdicts(cases: list[Case], lessons: list[Lesson], updates: dict[str, _Draft],
              knowledge_dir: Path) -> dict[str, list[str]]:
    """Apply 'wrong' verdicts: correct an entry when its case shows what worked, else retire it."""
    by_case = {id(lesson.case): lesson for lesson in lessons}
    retired: dict[str, list[str]] = {}
    for case in cases:
        lesson = by_case.get(id(case))
        cited = [entry_id for note in case.notes if note.feedback == "wrong" for entry_id in note.sources
                 if (Path(knowledge_dir) / f"{entry_id}.md").exists()]
        for entry_id in cited:
            if lesson:
                draft = _update(updates, knowledge_dir, entry_id)
                draft.correction = list(lesson.steps)
                draft.lessons.append(lesson)
            else:
                retired.setdefault(entry_id, []).append(case.ref)
    return retired


def _update(updates: dict[str, _Draft], knowledge_dir: Path, entry_id: str) -> _Draft:
    """The draft updating an existing entry, read from its file the first time it is needed."""
    if entry_id not in updates:
        text = (Path(knowledge_dir) / f"{entry_id}.md").read_text(encoding="utf-8")
        meta = yaml.safe_load(text.split("\n---", 1)[0][3:]) or {}
        updates[entry_id] = _Draft(meta, parse_entry(entry_id, text).body)
    return updates[entry_id]


def _proposal(kind: str, path: str, draft: _Draft, now: datetime, ticket_link,
              history: Sequence[tuple[float | None, str]]) -> Proposal:
    refs = tuple(dict.fromkeys(lesson.case.ref for lesson in draft.lessons))
    meta = dict(draft.meta)
    products = sorted({lesson.product for lesson in draft.lessons if lesson.product})
    if kind == "new":
        meta["tags"] = tags(draft.lessons)
        if products:  # a multi-brand desk searches one brand's entries
            meta["products"] = products
    confidence = calibrate(_evidence_score(draft.lessons), history)
    meta["sources"] = list(dict.fromkeys([*meta.get("sources", []), *map(ticket_link, refs),
                                          *(link for lesson in draft.lessons for link in lesson.links)]))
    meta["learned"] = {"at": now.strftime("%d %b %Y"), "tickets": list(map(ticket_link, refs)),
                       "extractor": sorted({lesson.extractor for lesson in draft.lessons}),
                       "confidence": confidence}
    body = draft.body
    if draft.correction:
        body += "\n\n## Correction (from a resolved ticket; check the text above)\n\n" + _numbered(draft.correction)
    asked = [q for q in dict.fromkeys(draft.also_asked)
             if q.lower() not in body.lower() and q.lower() != str(meta.get("title", "")).lower()]
    if asked:  # one "Also asked as" list per entry, grown by each update
        body += ("\n" if "\nAsked as:\n" in body else "\n\nAsked as:\n") + "\n".join(f"- {q}" for q in asked)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    evidence = tuple(e for lesson in draft.lessons for e in lesson.evidence)
    why = {"new": "no entry answers this yet", "update": "the base answers this; adds a phrasing and a source"}[kind]
    if draft.correction:
        why = "analysts marked a note citing this entry wrong; the resolution is added for review"
    first = draft.lessons[0]
    return Proposal(kind, path, f"---\n{front}---\n{body.strip()}\n", refs, evidence, why,
                    question=str(meta.get("title", first.question)), answer=draft.body if kind == "new" else
                    _numbered(draft.correction or first.steps), product=", ".join(products),
                    nearest=draft.nearest, confidence=confidence, links=tuple(map(ticket_link, refs)))


def _evidence_score(lessons: list[Lesson]) -> float:
    """The prior for an entry: its best-supported lesson, and how many tickets asked it."""
    return max(evidence_score(lesson.confirmed, len(lesson.links),
                              len(shared(lesson, answer_terms(lesson.steps, lesson.links))),
                              len({le.case.ref for le in lessons}), len(lesson.answer.split()))
               for lesson in lessons)


def _numbered(steps: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))


def _same(a: Lesson, b: Lesson) -> bool:
    """Two lessons of one brand make one entry: same question, same answer, or the same help document."""
    if a.product and b.product and a.product != b.product:
        return False
    links_a, links_b = (set(a.links) or set(_LINK.findall(a.answer)), set(b.links) or set(_LINK.findall(b.answer)))
    return (similarity(a.question, b.question) >= SAME_QUESTION or bool(links_a & links_b)
            or similarity(a.answer, b.answer) >= SAME_ANSWER)


def _same_brand(lesson: Lesson, entry_id: str, knowledge_dir: Path) -> bool:
    """An entry scoped to other brands is not updated with this brand's answer."""
    path = Path(knowledge_dir) / f"{entry_id}.md"
    scoped = parse_entry(entry_id, path.read_text(encoding="utf-8")).products if path.exists() else ()
    return not (lesson.product and scoped and lesson.product.lower() not in {p.lower() for p in scoped})


def tags(lessons: list[Lesson]) -> list[str]:
    """Words from the questions, as written (not stems): first those the answer shares, then the rest."""
    found: dict[str, tuple[int, int]] = {}
    for lesson in lessons:
        answer = answer_terms(lesson.steps, lesson.links)
        for position, word in enumerate(re.findall(r"[A-Za-z][A-Za-z0-9+-]*[A-Za-z0-9]", lesson.question)):
            stems = query_terms(word)
            if stems and word.lower() not in _NOT_TAGS and (len(word) >= 3 or re.search(r"\d", word)):
                found.setdefault(word.lower(), (0 if stems[0] in answer else 1, position))
    return sorted(found, key=found.__getitem__)[:5]


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return (slug[:60].rsplit("-", 1)[0] if len(slug) > 60 else slug) or "learned"
