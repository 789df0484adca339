"""Measure the learning loop on real resolved conversations (`vigil eval --learning`).

On a time split of the customer-care conversations (data/twitter_care/dev.json; the agent's
real reply is the analyst's answer), for each extractor (offline, and the model's when one is
configured), side by side on the same cases:

1. What passes: lessons, cases skipped (with the reasons counted), proposals made, refused by
   the gates, dropped as weak; and what must be zero in them: personal data, links the
   customer sent, greetings, agent signatures.
2. Whether the loop closes: the proposals from the earlier 70 %, merged into an empty base,
   replayed against the later 30 % as the grounding suite does: right first (hit@1), answered
   and correct silence, before (no knowledge) and after.
3. A review sample for a human to grade (merge as is / after small edits / reject).

The 360 help-desk tickets are measured for (1) too.
"""

from __future__ import annotations

import csv
import random
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from connectors.events import Message
from plugin.evaluation import grounding
from plugin.learning import helpdocs, wording
from plugin.learning.cases import Case
from plugin.learning.loop import keep_strong, lessons_of, plan_and_gate
from plugin.learning.gates import personal_data
from plugin.learning.plan import Proposal
from plugin.settings import Settings

HELPDESK = grounding.REPO / "data" / "helpdesk" / "helpdesk_tickets_utterances.csv"
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)  # fixed: the figures must not depend on the day
# The customer-care desks' own help sites, as each desk would configure `learn_help_domains`.
CARE_HELP_DOMAINS = (
    "support.google.com, accounts.google.com/signin/v2/recoveryidentifier, helpx.adobe.com=AdobeCare, "
    "community.adobe.com=AdobeCare, support.zoom.us=zoom_us, blog.zoom.us=zoom_us, support.apple.com=AppleSupport, "
    "support.playstation.com=AskPlayStation, support.us.playstation.com=AskPlayStation, "
    "manuals.playstation.net=AskPlayStation, support.rockstargames.com=RockstarSupport, "
    "help.minecraft.net=MojangSupport, community.ebay.com=AskeBay, pages.ebay.com/help=AskeBay, "
    "t-mobile.com/support=TMobileHelp, chase.com=ChaseSupport, help.dropbox.com=DropboxSupport, "
    "dropbox.com/help=DropboxSupport, hulu.tv=hulu_support, help.hulu.com/s/article=hulu_support, "
    "wellsfargo.com=Ask_WellsFargo, godaddy.com/help=GoDaddyHelp, support.spotify.com=SpotifyCares, "
    "community.spotify.com=SpotifyCares, southwest.com=SouthwestAir, help.yahoo.com=YahooCare, "
    "support.microsoft.com, support.xbox.com=XboxSupport, delta.com=Delta, spectrum.net=Ask_Spectrum")
REVIEW_SAMPLE = 25


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
    """Customer-care conversations: the customer's tweets, then the agent's answer; the brand is the desk's."""
    return [Case("zendesk", f"twcs-{c.session_id}", "", tuple(
        [Message("customer", True, text, at) for at, text in c.messages]
        + [Message("analyst", True, c.answer, (c.messages[-1][0] if c.messages else c.time) + timedelta(minutes=1))]),
        product=c.company) for c in cases]


def propose(cases: list[Case], knowledge_dir: Path, settings: Settings) -> dict[str, Any]:
    """What the loop would propose against a knowledge folder and the rules beside it (nothing
    is published): the loop's own extraction, screening, planning, gates and confidence floor."""
    lessons, skipped = lessons_of(cases, settings)
    with tempfile.TemporaryDirectory() as home:
        passed, refused = plan_and_gate(lessons, cases, knowledge_dir, Path(home) / "index", knowledge_dir.parent,
                                        knowledge_dir.parent / "rules", NOW)
    kept, weak = keep_strong(passed, settings.learn_min_confidence)
    return {"lessons": lessons, "skipped": skipped, "passed": kept, "refused": refused, "weak": weak}


def leaks(proposals: list[Proposal], cases: list[Case]) -> dict[str, int]:
    """Proposals carrying what a reviewer must never see merged (all must be 0)."""
    sent: dict[str, set[str]] = {c.ref: {u for m in c.messages if m.author_role == "customer"
                                         for u in helpdocs.links(m.body)} for c in cases}
    def body(p: Proposal) -> str:
        return re.sub(r"^learned:\n(?:  .*\n)+", "", (p.content or "").split("\n---\n", 1)[-1], flags=re.M)
    return {"personal_data": sum(bool(personal_data(p.content or "")) for p in proposals),
            "customer_links": sum(bool(set(helpdocs.links(body(p))) & {u for t in p.tickets for u in sent.get(t, ())})
                                  for p in proposals),
            "greetings": sum(any(wording.greets(line.lstrip("0123456789.- ")) for line in body(p).splitlines()
                                 if line.strip() and not line.startswith(("Asked as", "- "))) for p in proposals),
            "signatures": sum(any(wording.SIGNATURE.search(line) for line in body(p).splitlines())
                              for p in proposals)}


def _figures(cases: list[Case], settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        shutil.copytree(settings.knowledge_dir, knowledge)
        shutil.copytree(settings.rules_dir, Path(tmp) / "rules")  # rule proposals need the rules too
        run = propose(cases, knowledge, settings)
    passed = run["passed"]
    return {"cases": len(cases), "lessons": len(run["lessons"]), "skipped": len(run["skipped"]),
            "skipped_because": dict(Counter(_reason_kind(why) for _, why in run["skipped"]).most_common()),
            "proposals": len(passed),
            "by_kind": {k: sum(p.kind == k for p in passed) for k in ("new", "update", "retire", "rule")},
            # Lessons that did not become a duplicate: folded into an existing entry, or into
            # another lesson's new entry because both asked the same thing.
            "lessons_merged_into_existing": sum(len(p.tickets) for p in passed if p.kind == "update"),
            "lessons_merged_together": sum(len(p.tickets) - 1 for p in passed if p.kind == "new"),
            "refused_by_gates": len(run["refused"]), "dropped_as_weak": len(run["weak"]),
            "with_brand": sum(bool(p.product) for p in passed if p.kind == "new"),
            "confidence": sorted({round(p.confidence, 2) for p in passed if p.confidence is not None}),
            "leaks": leaks(passed, cases),
            "personal_data_findings": leaks(passed, cases)["personal_data"]}


def _reason_kind(why: str) -> str:
    """A reason without its particulars, to count alike reasons together."""
    return re.sub(r"\s*\(.*$|: .*$", "", why)


_LINK = re.compile(r"https?://[^\s)\]>]+")


def _entries_by_link(root: Path, url_to_doc: dict[str, str]) -> dict[str, frozenset[str]]:
    """doc_id -> the learned entries under root that carry that document's link."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in Path(root).rglob("*.md"):
        for url in _LINK.findall(path.read_text(encoding="utf-8")):
            doc = url_to_doc.get(helpdocs.unwrap(url))
            if doc:
                found[doc].add(path.relative_to(root).with_suffix("").as_posix())
    return {doc: frozenset(ids) for doc, ids in found.items()}


def loop_closes(settings: Settings, split: float = 0.7, sample: Path | None = None) -> dict[str, Any]:
    """On the later conversations: right first, answered and silence, before and after merging
    what was learned from the earlier ones; and a review sample of what was proposed."""
    all_cases = grounding.load_cases(grounding.DATA)
    earlier, _ = grounding.split_cases(all_cases, split)
    url_to_doc = {helpdocs.unwrap(c.url): c.doc_id for c in all_cases}
    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        knowledge.mkdir()
        empty = Path(tmp) / "empty"
        empty.mkdir()
        shutil.copytree(settings.rules_dir, Path(tmp) / "rules")
        learned_cases = twitter_cases(earlier)
        run = propose(learned_cases, knowledge, settings)
        for p in run["passed"]:  # "merge the pull request"
            target = Path(tmp) / p.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(p.content or "", encoding="utf-8")
        # Both runs score against what was learned: "before" has the same test cases in_kb.
        learned = _entries_by_link(knowledge, url_to_doc)
        after = grounding.evaluate_grounding(grounding.DATA, settings, split, knowledge=knowledge,
                                             entries_for=lambda _root: learned)
        before = grounding.evaluate_grounding(grounding.DATA, settings, split, knowledge=empty,
                                              entries_for=lambda _root: learned)
    if sample:
        write_review_sample(run["passed"], learned_cases, sample)
    keep = ("in_kb", "hit_at_1", "hit_at_3", "answered", "not_in_kb", "correct_silence")
    return {"learning_cases": len(earlier), "lessons": len(run["lessons"]), "skipped": len(run["skipped"]),
            "learned_entries": len(run["passed"]), "leaks": leaks(run["passed"], learned_cases),
            "before": {k: before[k] for k in keep}, "after": {k: after[k] for k in keep}}


def write_review_sample(proposals: list[Proposal], cases: list[Case], path: Path, size: int = REVIEW_SAMPLE) -> Path:
    """A fixed random sample of proposals as Markdown, each with a verdict line to fill in."""
    chosen = sorted(random.Random(14).sample(proposals, min(size, len(proposals))), key=lambda p: p.path)
    lines = ["# Learned proposals to grade", "",
             "For each: `verdict:` merge as is / after small edits / reject, and why. Grade blind: "
             "the confidence is left out on purpose.", ""]
    for number, p in enumerate(chosen, 1):
        lines += [f"## {number}. {p.question}", f"brand: {p.product or '-'}; tickets: {', '.join(p.tickets)}", "",
                  p.answer, "", *(f"> {e}" for e in p.evidence[:4]), "", "verdict: ", ""]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def extractors(settings: Settings) -> dict[str, Settings]:
    """The settings for each extractor to compare: offline always, the model's when one is configured."""
    chosen = {"offline": settings.replace(openai_api_key="", openai_base_url="")}
    if settings.model_configured:
        chosen[f"model:{settings.llm_model}"] = settings
    return chosen


def compare(cases: list[Case], settings: Settings) -> dict[str, dict[str, Any]]:
    """The figures of each extractor on the same cases."""
    return {name: _figures(cases, chosen) for name, chosen in extractors(settings).items()}


def measure_learning(settings: Settings, sample: Path | None = None) -> dict[str, Any]:
    """Every figure, once per extractor (the model's only when one is configured), on the same cases."""
    settings = settings.replace(learn_help_domains=settings.learn_help_domains or CARE_HELP_DOMAINS)
    care = twitter_cases(grounding.load_cases(grounding.DATA))
    report: dict[str, Any] = {"extractors": list(extractors(settings)), "review_samples": []}
    for name, chosen in extractors(settings).items():
        path = sample and sample.with_name(f"{sample.stem}-{name.replace(':', '-')}{sample.suffix}")
        report[name] = {"helpdesk": _figures(helpdesk_cases(), chosen), "customer_care": _figures(care, chosen),
                        "loop": loop_closes(chosen, sample=path)}
        if path:
            report["review_samples"].append(str(path))
    return report


def summary(report: dict[str, Any]) -> list[str]:
    """The report as lines, the extractors side by side."""
    names = report["extractors"]
    lines = [f"{'':44}" + "".join(f"{n:>22}" for n in names)]

    def row(label: str, get) -> None:
        lines.append(f"{label:44}" + "".join(f"{get(report[n])!s:>22}" for n in names))
    for data in ("helpdesk", "customer_care"):
        row(f"{data}: resolved cases", lambda r: r[data]["cases"])
        row("  lessons / skipped with a reason", lambda r: f"{r[data]['lessons']} / {r[data]['skipped']}")
        row("  proposals (new, update)", lambda r: f"{r[data]['proposals']} ({r[data]['by_kind']['new']}, "
                                                   f"{r[data]['by_kind']['update']})")
        row("  refused by gates / dropped as weak", lambda r: f"{r[data]['refused_by_gates']} / {r[data]['dropped_as_weak']}")
        row("  personal data/customer links/greetings/sign.", lambda r: "/".join(map(str, r[data]["leaks"].values())))
    row("loop: entries learned from the first 70 %", lambda r: r["loop"]["learned_entries"])
    for key, label in (("hit_at_1", "right first"), ("answered", "answered"), ("correct_silence", "correct silence")):
        row(f"  later tickets: {label} (before -> after)",
            lambda r: f"{r['loop']['before'][key]} -> {r['loop']['after'][key]}")
    return lines
