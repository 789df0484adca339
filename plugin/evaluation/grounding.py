"""Grounding on real customer care: does an answer note cite the document a human agent linked?

The data (data/twitter_care/dev.json) are customer-care conversations on Twitter, each ending
in an agent's answer that links one help document. Split by time: the earlier conversations
become knowledge entries (one per document: the agent answers that linked it and the customer
questions that led to them); each later conversation is replayed, customer messages only,
through the real pipeline and rules, and the sources of its answer notes are compared with
the document the agent actually linked. When that document is not in the knowledge base,
the right behaviour is silence.

Everything is deterministic: cases are ordered by (time, session id), the note is drafted
extractively (no model), and the index is built from files written in a fixed order.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import yaml

from plugin.knowledge.entries import entry_id
from plugin.replay import events_for
from plugin.knowledge.retrieval import query_terms
from plugin.runtime import build_runtime
from plugin.settings import Settings

REPO = Path(__file__).resolve().parents[2]  # the checkout: evaluation reads its data/ (the `eval` extra runs from one)
DATA = REPO / "data" / "twitter_care" / "dev.json"
TOP_K = 3


@dataclass(frozen=True)
class Case:
    """One conversation: what the customer wrote, and how the agent answered."""

    session_id: str
    company: str
    time: datetime  # conversationDateTime: when the conversation started
    messages: tuple[tuple[datetime, str], ...]  # the customers' tweets before the answer, in order
    answer: str  # the agent's answer, as tweeted
    doc_id: str
    url: str  # the help document the answer linked


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_cases(path: Path | str = DATA) -> list[Case]:
    """Read dev.json; cases in time order (ties by session id). Company tweets are left out."""
    cases = []
    for item in json.loads(Path(path).read_text(encoding="utf-8")):
        header, agent = item["dialogHeader"], item["agentURL"]
        tweets = sorted((_time(m["datetime"]), m["message"]) for m in item["dialogContent"] if "agent" not in m)
        cases.append(Case(header["sessionID"], header["company"], _time(header["conversationDateTime"]),
                          tuple(tweets), agent["url_utterance"], agent["doc_id"], agent["url"]))
    return sorted(cases, key=lambda c: (c.time, c.session_id))


def split_cases(cases: list[Case], split: float = 0.7) -> tuple[list[Case], list[Case]]:
    """The first `split` of the (time-ordered) cases, and the rest."""
    if not 0 < split < 1:
        raise ValueError(f"split must be between 0 and 1, not {split}")
    cut = int(len(cases) * split)
    return cases[:cut], cases[cut:]


# --- knowledge entries --------------------------------------------------------------------

_HANDLE = re.compile(r"(?<![\w.])@\w+")
# Links (even "https: //...") and e-mail addresses. Each try must start where no earlier one
# could have: an address's local part only after a character it cannot contain. `\b\S+@\S+`
# retried from every word boundary of a long run without spaces took quadratic time.
_LINK = re.compile(r"https?:\s?//\S+|\bwww\.\S+|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Agents sign with initials or a name at the end: "*MS", "^CG", "-FR", "~Braden". The spaces
# before it are matched from the first one only (not again from each space of a long run).
_SIGNATURE = re.compile(r"(?<!\s)\s+(?:[*^~]\w{1,12}|-[A-Z]{2,3})\s*$")
# Sentences that greet, thank, sympathise or offer help, and say nothing about the problem.
_PLEASANTRY = re.compile(
    r"^(?:hi|hello|hey|thanks|thank you|sorry|apologies|glad|happy to|congrats|gotcha|okay|ok|great|"
    r"(?:we|i)(?: are|'re|'d|'ll| would| will)? (?:\w+ )?(?:sorry|appreciate|love|understand|like to help|"
    r"like to see|happy|glad|here)|that(?:'s| is) (?:a )?(?:great|good|odd)|mind if|let'?s get you|"
    r"here to help|hmm)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_COUNTER = re.compile(r"^\(?\d/\d\)?\s*")  # "1/2 ...", "(2/2) ..."
_ARCHIVE = re.compile(r"^https?://web\.archive\.org/web/\d+\w*/")
_ID_SEGMENT = re.compile(r"^(?:\d+|[a-z]{1,3}\d{3,}|[a-z]{2}[-_][a-z]{2})$", re.I)  # 27154, sln28056, HT207974, en-us


def clean(text: str) -> str:
    """A tweet without @handles, links, e-mail addresses, HTML entities or a signature."""
    text = _LINK.sub(" ", _HANDLE.sub(" ", html.unescape(text)))
    return _SIGNATURE.sub("", " ".join(text.split())).strip(" -:")


def company_slug(company: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", company.lower()).strip("-")


def entry_id_for(company: str, doc_id: str) -> str:
    return f"{company_slug(company)}/doc-{doc_id}"


def _url_words(url: str) -> str:
    """Words of the document URL's last descriptive path segment, or '' when it has none.

    Ids are skipped: numbers, "sln28056", "HT207974", locales, and words with two digits or
    more (uuid parts); so are segments like "td-p" that have no word of four letters.
    """
    path = urlsplit(_ARCHIVE.sub("", html.unescape(url))).path
    for segment in reversed([s for s in path.split("/") if s and not _ID_SEGMENT.match(s)]):
        words = [w for w in re.split(r"[-_+]+", re.sub(r"\.\w+$", "", segment))
                 if w and sum(ch.isdigit() for ch in w) < 2]
        if len(words) >= 2 and any(len(w) >= 4 for w in words):
            return " ".join(words).lower()
    return ""


# Words that point at a document without saying what it is about ("check out this guide").
_POINTERS = frozenset(query_terms(
    "here there link guide article page steps tips info information details resource check out follow "
    "see read learn try great may can also below following more"))


def _answer_words(answer: str, limit: int = 10) -> str:
    """The agent's words about the document: what leads up to the link if it says something,
    else the first sentence that does (a greeting or thanks before a comma or dash dropped)."""
    raw = [s for s in _SENTENCE.split(_HANDLE.sub(" ", html.unescape(answer))) if s.strip()]
    before_link = [s[:m.start()] for s in raw for m in [_LINK.search(s)] if m][:1]
    for sentence in [*before_link, *raw]:
        sentence = _COUNTER.sub("", clean(sentence)).rstrip(".!?:")
        if _PLEASANTRY.match(sentence.replace("\u2019", "'")):
            parts = re.split(r",\s+|\s+[\u2013\u2014-]\s+", sentence, maxsplit=1)
            sentence = parts[1] if len(parts) == 2 else ""
        if len(set(query_terms(sentence)) - _POINTERS) >= 3:
            return _first_words(sentence, limit)
    return _first_words(_COUNTER.sub("", clean(answer)), limit) or "help document"


def _first_words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words[:limit]) + ("..." if len(words) > limit else "")


def title_for(company: str, url: str, answer: str) -> str:
    """'<company>: <what the document is about>', from its URL if that says, else the answer."""
    return f"{company}: {_url_words(url) or _answer_words(answer)}"


def _unique(texts: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for text in texts:
        if text:
            seen.setdefault(text.lower(), text)
    return list(seen.values())


def knowledge_from(cases: list[Case], root: Path) -> int:
    """Write one entry per document the cases linked; return how many were written.

    `root/<company-slug>/doc-<doc_id>.md`, the company being the first one to link it. The
    body lists the agents' answers (Markdown list items, which the extractive note quotes as
    steps) and then the customers' questions that led to them (block quotes).
    """
    by_doc: dict[str, list[Case]] = defaultdict(list)
    for case in sorted(cases, key=lambda c: (c.time, c.session_id)):
        by_doc[case.doc_id].append(case)
    for doc_id, linked in by_doc.items():
        first = linked[0]
        meta = {"title": title_for(first.company, first.url, first.answer),
                "tags": _unique(c.company for c in linked),
                "products": _unique(c.company for c in linked),
                "sources": _unique(c.url for c in linked)}
        answers = _unique(clean(c.answer) for c in linked)
        questions = _unique(" / ".join(clean(text) for _, text in c.messages if clean(text)) for c in linked)
        body = ["Agent answers that linked this document:", "", *(f"- {a}" for a in answers), "",
                "Customer questions that led to them:", "", *(f"> {q}" for q in questions)]
        path = Path(root) / f"{entry_id_for(first.company, doc_id)}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
        path.write_text(f"---\n{front}---\n" + "\n".join(body) + "\n", encoding="utf-8")
    return len(by_doc)


def entries_by_doc(root: Path) -> dict[str, str]:
    """doc_id -> entry id for the entries knowledge_from wrote under root."""
    return {p.stem[len("doc-"):]: entry_id(root, p) for p in sorted(Path(root).glob("*/doc-*.md"))}


# --- replay and scoring -------------------------------------------------------------------

def conversation_for(case: Case) -> dict[str, Any]:
    """The case as a one-ticket conversation in the replay format (times already parsed)."""
    first = case.messages[0][1] if case.messages else ""
    subject = first if len(first) <= 60 else first[:60].rsplit(" ", 1)[0] + "..."
    return {"source": "zendesk", "ticket_id": f"twcs-{case.session_id}", "subject": subject,
            "status": "open", "tags": ["twitter", case.company],
            "messages": [{"author_role": "customer", "public": True, "body": text, "created_at": at}
                         for at, text in case.messages]}


def hits_at(right: str | frozenset[str], answers: list[tuple[str, ...]]) -> tuple[bool, bool]:
    """(hit@1, hit@3) for one conversation, given the sources of its answer notes in order.

    hit@1: the right entry is the first source of the first answer note.
    hit@3: the right entry is among the first three distinct sources cited, in the order the
    answer notes cite them. No answer note: neither.
    """
    rights = {right} if isinstance(right, str) else set(right)  # a learned base may hold several
    cited = list(dict.fromkeys(s for sources in answers for s in sources))
    return (bool(answers and answers[0][:1] and answers[0][0] in rights), bool(rights & set(cited[:TOP_K])))


def _fraction(n: int, d: int) -> float | None:
    return round(n / d, 3) if d else None


def evaluate_grounding(data_path: Path | str = DATA, settings: Settings | None = None,
                       split: float = 0.7, knowledge: Path | str | float | None = None,
                       entries_for: Callable[[Path], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Replay the later conversations against knowledge learned from the earlier ones.

    The cases are ordered by time; the last `1 - split` of them are the test cases. The
    knowledge base is knowledge_from(the first `split` of the cases), written to a temporary
    folder. `knowledge` changes that: a fraction f <= split learns from the first f of the
    cases only (a learning curve on the same test cases); a folder is used as it is (it must
    have been written by knowledge_from from cases before the split, which is not checked).
    A test case is `in_kb` when the knowledge base has an entry for its doc_id; `entries_for`
    maps a knowledge folder to {doc_id: entry id or ids} (default: knowledge_from's file names;
    the learning loop's entries are found by the document links they carry).

    Each test case is replayed as its own ticket (`conversation_for`) through the real
    pipeline and the rules of `settings.rules_dir`, in shadow mode, the model never called
    (extractive notes). The sources of its `answer` notes, in message order, are scored by
    `hits_at`.

    Over the in_kb test cases: `hit_at_1`, `hit_at_3`, and `answered` (the fraction with at
    least one answer note). Over the others: `correct_silence` (the fraction with no answer
    note at all). Fractions are rounded to 3 places, None when there is nothing to divide.
    `by_company` has the same figures per company; `rows` has one row per test case.
    """
    settings = (settings or Settings(rules_dir=REPO / "rules")).replace(
        shadow=True, openai_api_key="", openai_base_url="")  # offline and deterministic
    cases = load_cases(data_path)
    _, later = split_cases(cases, split)
    learned_from: int | None = None
    with tempfile.TemporaryDirectory(prefix="vigil-grounding-") as tmp:
        if isinstance(knowledge, (str, Path)):
            kb = Path(knowledge)
        else:
            fraction = split if knowledge is None else knowledge
            if not 0 < fraction <= split:
                raise ValueError(f"knowledge must be a fraction in (0, {split}], not {fraction}")
            learned_from = int(len(cases) * fraction)  # never past the split: no test case is learned
            kb = Path(tmp) / "knowledge"
            knowledge_from(cases[:learned_from], kb)
        entries = (entries_for or entries_by_doc)(kb)
        rows = _replay(later, entries, settings.replace(knowledge_dir=kb, home=Path(tmp) / "home"))
    return {"cases": len(cases), "knowledge_cases": learned_from, "knowledge_entries": len(entries),
            "test_cases": len(later), **_summary(rows),
            "by_company": {c: _summary([r for r in rows if r["company"] == c])
                           for c in sorted({r["company"] for r in rows})},
            "rows": rows}


def _replay(cases: list[Case], entries: dict[str, Any], settings: Settings) -> list[dict[str, Any]]:
    runtime = build_runtime(settings, with_connectors=False)
    rows = []
    try:
        for case in cases:
            answers: list[tuple[str, ...]] = []
            for event in events_for(conversation_for(case)):
                for outcome in runtime.pipeline.handle(event):
                    if outcome.decision.action == "answer" and outcome.note:
                        answers.append(tuple(outcome.note.sources))
            right = entries.get(case.doc_id)
            hit1, hit3 = hits_at(right, answers) if right else (False, False)
            rows.append({"session_id": case.session_id, "company": case.company, "doc_id": case.doc_id,
                         "entry": right if isinstance(right, str) or right is None else sorted(right),
                         "in_kb": right is not None, "answers": [list(a) for a in answers],
                         "hit_at_1": hit1, "hit_at_3": hit3})
    finally:
        runtime.close()
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    known = [r for r in rows if r["in_kb"]]
    unknown = [r for r in rows if not r["in_kb"]]
    return {"in_kb": len(known),
            "hit_at_1": _fraction(sum(r["hit_at_1"] for r in known), len(known)),
            "hit_at_3": _fraction(sum(r["hit_at_3"] for r in known), len(known)),
            "answered": _fraction(sum(bool(r["answers"]) for r in known), len(known)),
            "not_in_kb": len(unknown),
            "correct_silence": _fraction(sum(not r["answers"] for r in unknown), len(unknown))}
