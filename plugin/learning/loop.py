"""One learning run: cases in, proposals published as pull requests, their fate tracked."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from connectors.events import TicketRef
from plugin.learning.cases import Case
from plugin.learning.extract import Lesson, Skipped, extract
from plugin.learning.gates import gate
from plugin.learning.plan import Proposal, plan
from plugin.learning.publish import GitHub, LocalGit, Published, PublishError
from plugin.learning.review import batch_for, ordered
from plugin.learning.screening import screen
from plugin.knowledge.retrieval import KnowledgeIndex
from plugin.settings import Settings
from plugin.store import Store

log = logging.getLogger(__name__)


@dataclass
class LearnReport:
    cases: int = 0
    lessons: int = 0
    proposals: list[Proposal] = field(default_factory=list)
    refused: list[tuple[Proposal, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (ticket, why no lesson was kept)
    published: list[Published] = field(default_factory=list)


def repo_of(knowledge_dir: Path) -> Path:
    """The git repository that holds the knowledge folder."""
    try:
        top = subprocess.run(["git", "-C", str(knowledge_dir), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        raise PublishError(f"{knowledge_dir} is not inside a git repository; pass --repo") from None
    return Path(top)


def publisher_for(settings: Settings, repo: Path) -> LocalGit | GitHub:
    """GitHub when a token and repository are configured, else branches in the local repo."""
    if settings.github_token and settings.github_repo:
        return GitHub(settings.github_token, settings.github_repo, settings.github_base, settings.github_api_url)
    return LocalGit(repo)


def ticket_link(settings: Settings) -> Callable[[str], str]:
    """Provenance as a link an engineer can open, when the helpdesk's URL is known."""
    def link(ref: str) -> str:
        source, ticket = ref.split(":", 1)
        helpdesk = settings.helpdesks.get(source)
        return (helpdesk.ticket_url(ticket) if helpdesk else None) or ref
    return link


def learn(cases: list[Case], settings: Settings, repo: Path, store: Store, now: datetime,
          publisher: LocalGit | GitHub | None = None) -> LearnReport:
    """Extract, plan, gate and publish; record every published proposal in the store."""
    report = LearnReport(cases=len(cases))
    lessons, report.skipped = lessons_of(cases, settings)
    report.lessons = len(lessons)
    passed, report.refused = plan_and_gate(lessons, cases, settings.knowledge_dir, settings.index_dir, repo,
                                           settings.rules_dir, now, ticket_link(settings), store.learning.proposal_history())
    report.proposals, weak = keep_strong(passed, settings.learn_min_confidence)
    report.refused += weak
    publisher = publisher or publisher_for(settings, repo)
    cut = batches(report.proposals, settings.learn_batch, settings.learn_max_entries)
    for number, batch in enumerate(cut, 1):
        published = publisher.publish(batch_for(batch, now, number))
        store.learning.record_proposals(published, batch, now)
        report.published.append(published)
        # Off the learning queue as soon as published: if a later batch fails, the next run
        # must not publish this one again. A ticket with proposals still to come stays queued.
        later = {t for b in cut[number:] for p in b for t in p.tickets}
        _unqueue(store, {t for p in batch for t in p.tickets} - later)
    return report


def _unqueue(store: Store, refs: set[str]) -> None:
    """Take tickets named as `source:id` off the learning queue (those the store follows)."""
    found = [store.tickets.find_ticket(TicketRef.parse(ref)) for ref in sorted(refs)]
    store.learning.unqueue_learning([ticket.pk for ticket in found if ticket is not None and ticket.pk is not None])


def lessons_of(cases: list[Case], settings: Settings) -> tuple[list[Lesson], list[tuple[str, str]]]:
    """The lessons worth planning, and every other case with the reason it gave none."""
    extracted = [extract(case, settings) for case in cases]
    skipped = [(x.case.ref, x.reason) for x in extracted if isinstance(x, Skipped)]
    lessons, refused = screen([x for x in extracted if isinstance(x, Lesson)])
    return lessons, skipped + [(lesson.case.ref, why) for lesson, why in refused]


def keep_strong(proposals: list[Proposal], floor: float) -> tuple[list[Proposal], list[tuple[Proposal, str]]]:
    """Drop the proposals a reviewer would most likely close: calibrated confidence under the floor."""
    weak = [p for p in proposals if p.confidence is not None and p.confidence < floor]
    return ([p for p in proposals if p not in weak],
            [(p, f"confidence {p.confidence:.2f} is under learn_min_confidence {floor:g}") for p in weak])


def plan_and_gate(lessons: list[Lesson], cases: list[Case], knowledge_dir: Path, index_dir: Path, repo: Path,
                  rules_dir: Path, now: datetime, link=lambda ref: ref, history=()
                  ) -> tuple[list[Proposal], list[tuple[Proposal, str]]]:
    """Plan against the knowledge as indexed now and its rules, then gate: (passed, refused)."""
    index = KnowledgeIndex(knowledge_dir, index_dir)
    try:
        index.refresh()
        proposals = plan(lessons, cases, index, knowledge_dir, repo, now, link, rules_dir=rules_dir,
                         history=list(history))
    finally:
        index.close()
    return gate(proposals, repo, knowledge_dir, rules_dir)


def batches(proposals: list[Proposal], policy: str, most: int = 0) -> list[list[Proposal]]:
    """One pull request per ticket, per run ("day": the worker runs once a day), or per N; each
    ordered brand by brand, strongest first, and cut to at most `most` entries (0: no limit)."""
    if not proposals:
        return []
    if policy == "ticket":
        groups: dict[str, list[Proposal]] = {}
        for p in proposals:
            groups.setdefault(p.tickets[0] if p.tickets else "", []).append(p)
        chosen = list(groups.values())
    elif policy.isdigit() and int(policy) > 0:
        chosen = [proposals]
        most = min(most or int(policy), int(policy))
    else:
        chosen = [proposals]
    cut = []
    for group in chosen:
        group = ordered(group)
        size = most or len(group)
        cut += [group[i:i + size] for i in range(0, len(group), size)]
    return cut


def refresh_states(store: Store, settings: Settings, repo: Path) -> list[dict]:
    """Ask the git host what became of each open proposal; return all proposals."""
    publisher = publisher_for(settings, repo)
    rows = store.learning.list_proposals()
    open_ = {row["branch"]: row for row in rows if row["state"] == "open"}
    for branch, row in open_.items():  # one question per pull request, then one per file merged
        published = Published(row["backend"], branch, row["url"], row["number"])
        try:
            state = publisher.state(published)
            store.learning.set_proposal_state(branch, state)
            for file in (r for r in rows if r["branch"] == branch and state == "merged" and r["kind"] != "retire"):
                if publisher.edited(published, file["path"], file["blob"]):
                    store.learning.set_proposal_state(branch, "edited", file["path"])
        except PublishError as exc:
            log.warning("cannot check %s: %s", branch, exc)
    return store.learning.list_proposals()
