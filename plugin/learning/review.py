"""The pull request a reviewer reads in minutes: per entry the question, the proposed answer,
why it is new, the redacted evidence and a checklist; grouped by brand, strongest first."""

from __future__ import annotations

from datetime import datetime

from plugin.learning.plan import Proposal
from plugin.learning.publish import Batch
from plugin.redaction import redact

CHECKLIST = ("The question is one customers ask, not a one-off",
             "The answer answers it and is still right",
             "No personal data, customer link, greeting or signature",
             "Brand and tags are right")


def ordered(proposals: list[Proposal]) -> list[Proposal]:
    """Brand by brand (the brand with the strongest proposal first), strongest first within one."""
    def strength(p: Proposal) -> float:
        return p.confidence if p.confidence is not None else 1.0  # retirements and rules: always shown
    best: dict[str, float] = {}
    for p in proposals:
        best[p.product] = max(best.get(p.product, 0.0), strength(p))
    return sorted(proposals, key=lambda p: (-best[p.product], p.product, -strength(p), p.path))


def batch_for(proposals: list[Proposal], now: datetime, number: int) -> Batch:
    """One pull request: its title, description, files and commit message."""
    tickets = sorted({t for p in proposals for t in p.tickets})
    kinds = ", ".join(sorted({p.kind for p in proposals}))
    return Batch(branch=f"vigil/learn-{now:%Y%m%d-%H%M%S}-{number}",
                 title=f"Vigil: {len(proposals)} knowledge proposal(s) ({kinds}) from {len(tickets)} ticket(s)",
                 description=description(proposals), files={p.path: p.content for p in proposals},
                 message=f"Learn from {len(tickets)} resolved ticket(s): {kinds}\n\nTickets: {', '.join(tickets)}")


def description(proposals: list[Proposal]) -> str:
    lines = ["Vigil learned these entries from resolved tickets. For each: merge it, edit it, or close "
             "the pull request; what you decide calibrates the confidence of the next ones.", ""]
    brand = None
    for number, p in enumerate(ordered(proposals), 1):
        if p.product != brand:
            brand = p.product
            lines += [f"## {brand or 'No brand recorded'}", ""]
        lines += _entry(number, p)
    return "\n".join(lines)


def _entry(number: int, p: Proposal) -> list[str]:
    confidence = f", confidence {p.confidence:.2f}" if p.confidence is not None else ""
    lines = [f"### {number}. {p.question or p.kind}", f"`{p.path}` ({p.kind}{confidence})", ""]
    if p.answer:
        lines += ["**Proposed answer**", "", p.answer, ""]
    if p.kind == "new":
        nearest = (f"nearest existing entry `{p.nearest[0]}` scores {p.nearest[1]:.2f}" if p.nearest
                   else "no existing entry comes close")
        lines.append(f"**Why it is new**: {nearest}; {p.why}.")
    else:
        lines.append(f"**Why**: {p.why}.")
    if p.evidence:
        lines += ["", "**Evidence** (redacted)", ""] + [f"> {redact(e)}" for e in p.evidence[:4]]
    lines += ["", f"**Tickets**: {', '.join(p.links or p.tickets) or 'none'}", ""]
    lines += [f"- [ ] {item}" for item in CHECKLIST] + [""]
    return lines
