"""One learning run: cases in, proposals published as pull requests, their fate tracked."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from connectors.events import TicketRef
from plugin.learning.cases import Case
from plugin.learning.extract import Lesson, extract
from plugin.learning.gates import gate
from plugin.learning.plan import Proposal, plan
from plugin.learning.publish import Batch, GitHub, LocalGit, Published, PublishError
from plugin.redaction import redact
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


def ticket_link(settings: Settings):
    """Provenance as a link an engineer can open, when the helpdesk's URL is known."""
    def link(ref: str) -> str:
        source, ticket = ref.split(":", 1)
        if source == "zendesk" and settings.zendesk_url:
            return f"{settings.zendesk_url.rstrip('/')}/agent/tickets/{ticket}"
        if source == "jira" and settings.jira_url:
            return f"{settings.jira_url.rstrip('/')}/browse/{ticket}"
        return ref
    return link


def learn(cases: list[Case], settings: Settings, repo: Path, store: Store, now: datetime,
          publisher: LocalGit | GitHub | None = None) -> LearnReport:
    """Extract, plan, gate and publish; record every published proposal in the store."""
    report = LearnReport(cases=len(cases))
    lessons = [lesson for case in cases if (lesson := extract(case, settings))]
    report.lessons = len(lessons)
    report.proposals, report.refused = plan_and_gate(lessons, cases, settings.knowledge_dir, settings.index_dir,
                                                     repo, settings.rules_dir, now, ticket_link(settings))
    publisher = publisher or publisher_for(settings, repo)
    batches = _batches(report.proposals, settings.learn_batch)
    for number, batch in enumerate(batches, 1):
        published = publisher.publish(_batch(batch, now, number))
        store.learning.record_proposals(published, batch, now)
        report.published.append(published)
        # Off the learning queue as soon as published: if a later batch fails, the next run
        # must not publish this one again. A ticket with proposals still to come stays queued.
        later = {t for b in batches[number:] for p in b for t in p.tickets}
        _unqueue(store, {t for p in batch for t in p.tickets} - later)
    return report


def _unqueue(store: Store, refs: set[str]) -> None:
    """Take tickets named as `source:id` off the learning queue (those the store follows)."""
    found = [store.tickets.find_ticket(TicketRef.parse(ref)) for ref in sorted(refs)]
    store.learning.unqueue_learning([ticket.pk for ticket in found if ticket is not None])


def plan_and_gate(lessons: list[Lesson], cases: list[Case], knowledge_dir: Path, index_dir: Path, repo: Path,
                  rules_dir: Path, now: datetime, link=lambda ref: ref) -> tuple[list[Proposal], list[tuple[Proposal, str]]]:
    """Plan against the knowledge as indexed now and its rules, then gate: (passed, refused)."""
    index = KnowledgeIndex(knowledge_dir, index_dir)
    try:
        index.refresh()
        proposals = plan(lessons, cases, index, knowledge_dir, repo, now, link, rules_dir=rules_dir)
    finally:
        index.close()
    return gate(proposals, repo, knowledge_dir, rules_dir)


def _batches(proposals: list[Proposal], policy: str) -> list[list[Proposal]]:
    """One pull request per ticket, per run ("day": the worker runs once a day), or per N."""
    if not proposals:
        return []
    if policy == "ticket":
        groups: dict[str, list[Proposal]] = {}
        for p in proposals:
            groups.setdefault(p.tickets[0] if p.tickets else "", []).append(p)
        return list(groups.values())
    if policy.isdigit() and int(policy) > 0:
        size = int(policy)
        return [proposals[i:i + size] for i in range(0, len(proposals), size)]
    return [proposals]


def _batch(proposals: list[Proposal], now: datetime, number: int) -> Batch:
    tickets = sorted({t for p in proposals for t in p.tickets})
    lines = ["Vigil learned these changes from resolved tickets. Each is a proposal: review, edit, "
             "merge or close.", ""]
    for p in proposals:
        lines.append(f"### {p.kind}: `{p.path}`")
        lines.append(f"Why: {p.why}. Tickets: {', '.join(p.tickets) or 'none'}.")
        lines += [f"> {redact(e)}" for e in p.evidence[:4]]
        lines.append("")
    kinds = ", ".join(sorted({p.kind for p in proposals}))
    return Batch(branch=f"vigil/learn-{now:%Y%m%d-%H%M%S}-{number}",
                 title=f"Vigil: {len(proposals)} knowledge proposal(s) ({kinds}) from {len(tickets)} ticket(s)",
                 description="\n".join(lines), files={p.path: p.content for p in proposals},
                 message=f"Learn from {len(tickets)} resolved ticket(s): {kinds}\n\nTickets: {', '.join(tickets)}")


def refresh_states(store: Store, settings: Settings, repo: Path) -> list[dict]:
    """Ask the git host what became of each open proposal; return all proposals."""
    publisher = publisher_for(settings, repo)
    open_ = {row["branch"]: row for row in store.learning.list_proposals() if row["state"] == "open"}
    for branch, row in open_.items():  # one question per pull request, not per file
        try:
            store.learning.set_proposal_state(branch, publisher.state(
                Published(row["backend"], branch, row["url"], row["number"])))
        except PublishError as exc:
            log.warning("cannot check %s: %s", branch, exc)
    return store.learning.list_proposals()
