"""Suites on real public sets: is an answer right, and is the plugin silent when nothing answers?

Each set is a knowledge base written from real data and real questions whose right entries
are known (none, when the question's entry was kept out of the base). Every question is
replayed as its own ticket through the real pipeline and rules, in shadow mode, offline
(extractive notes; embeddings only when the settings configure them). Each set is split in
two, and the split is part of the figures: `dev` is what the signals and the answer
confidence may be fitted and tuned on, `report` is only ever reported.

Figures per part:

- right_first: of the answers given, the share whose note cites a right entry first (an
  answer to a question nothing answers counts as wrong);
- answered_right: of the answerable questions, the share answered citing a right entry first;
- silence: of the questions no entry answers, the share left without an answer;
- ranking: of the answerable questions, the share whose first hit is right when only the
  answer rules run and answer every customer message (the conditions on the confidence and on
  how the message reads dropped): the plugin's ranking alone; reading is measured apart;
- bm25s: the same for plain BM25 (bm25s, Snowball stemmer, English stop words) over the same
  entries and questions, in the same run, when bm25s is installed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from plugin.evaluation import grounding
from plugin.knowledge.entries import entry_paths, load_entry
from plugin.replay import events_for
from plugin.decision.rulebook import Rule, load_rules
from plugin.runtime import build_runtime
from plugin.settings import Settings

DATA = grounding.REPO / "data"
STACKFAQ = DATA / "stackfaq" / "stackExchange-FAQ.json"
PARTS = ("dev", "report")
CONFIDENCE = "answer_confidence"
READING = ("is_question", "in_scope", "small_talk")  # the facts that read the message


@dataclass(frozen=True)
class Question:
    conversation: dict[str, Any]  # the replay format, times parsed
    right: frozenset[str]  # ids of the entries that answer it; empty when none in the base does
    part: str  # "dev" or "report"


@dataclass(frozen=True)
class RealSet:
    name: str
    split: str  # how the set is split, in words, printed with its figures
    questions: list[Question]
    write_knowledge: Callable[[Path], object]  # fills a knowledge folder; what it returns is unused


def _bucket(text: str, salt: str, n: int) -> int:
    return zlib.crc32(f"{salt}:{text}".encode()) % n


def _one_message(ticket_id: str, body: str, tags: Iterable[str] = ()) -> dict[str, Any]:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    return {"source": "zendesk", "ticket_id": ticket_id, "subject": "", "status": "open", "tags": list(tags),
            "messages": [{"author_role": "customer", "public": True, "body": body, "created_at": at}]}


# --- stackfaq: web-app FAQ threads and user-style rephrasings of their questions -----------

def stackfaq(path: Path = STACKFAQ) -> RealSet:
    """125 StackExchange threads as entries (question as title, top answers as body).

    A quarter of the threads (by a hash of their question) are kept out of the base: their
    rephrasings are the questions nothing answers. Threads, not rephrasings, are split into
    dev and report (by another hash), so no thread has rephrasings on both sides.
    """
    threads = json.loads(Path(path).read_text(encoding="utf-8"))["root"]["qapair"]
    in_base, questions = [], []
    for number, thread in enumerate(threads):
        entry = f"stackfaq/thread-{number:03d}"
        kept = _bucket(thread["question"], "base", 4) != 0
        if kept:
            in_base.append((entry, thread))
        part = PARTS[_bucket(thread["question"], "part", 2)]
        for n, text in enumerate(r for r in thread["rephr"] or () if isinstance(r, str) and len(r.split()) >= 3):
            questions.append(Question(_one_message(f"stackfaq-{number:03d}-{n:02d}", text.strip()),
                                      frozenset({entry}) if kept else frozenset(), part))

    def write(root: Path) -> None:
        for entry, thread in in_base:
            answers = thread["answer"] if isinstance(thread["answer"], list) else [thread["answer"]]
            _write_entry(root, entry, thread["question"], "\n\n".join(a.strip() for a in answers if a))
    return RealSet("stackfaq", "threads split by a hash of their question: a quarter kept out of the base "
                   "(unanswerable), and dev / report halves", questions, write)


def _write_entry(root: Path, entry: str, title: str, body: str) -> None:
    path = Path(root) / f"{entry}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    front = yaml.safe_dump({"title": " ".join(title.split())}, sort_keys=False, allow_unicode=True, width=1000)
    path.write_text(f"---\n{front}---\n{body}\n", encoding="utf-8")


# --- customer care: knowledge from earlier conversations, questions from later ones ----------

def customer_care(path: Path = grounding.DATA, split: float = 0.7) -> RealSet:
    """The grounding set: entries from the first 70 % of the conversations by time; the later
    ones are the questions, their first half in time dev, the second half report."""
    cases = grounding.load_cases(path)
    earlier, later = grounding.split_cases(cases, split)
    known = {c.doc_id for c in earlier}
    half = len(later) // 2
    questions = [Question(grounding.conversation_for(case),
                          frozenset({grounding.entry_id_for(_first_company(earlier, case), case.doc_id)})
                          if case.doc_id in known else frozenset(), PARTS[i >= half])
                 for i, case in enumerate(later)]
    return RealSet("customer_care", f"by time: entries from the first {split:.0%} of the conversations; "
                   f"the later ones are questions, the first half of them dev, the second report",
                   questions, lambda root: grounding.knowledge_from(earlier, root))


def _first_company(earlier: list[grounding.Case], case: grounding.Case) -> str:
    """knowledge_from files a document under the company that linked it first."""
    return next(c.company for c in earlier if c.doc_id == case.doc_id)


SETS: dict[str, Callable[[], RealSet]] = {"stackfaq": stackfaq, "customer_care": customer_care}


# --- running a set ------------------------------------------------------------------------

def always_answering(rules: list[Rule]) -> list[Rule]:
    """The rules with every answer rule's confidence condition dropped: they answer any hit."""
    return [_without(r, {CONFIDENCE}) if r.action == "answer" else r for r in rules]


def ranking_alone(rules: list[Rule]) -> list[Rule]:
    """Only the answer rules, without their conditions on the confidence and on how the message
    reads (a question, in scope, not small talk): every customer message is answered with its
    best hit, whatever the risk flags, guards and cool-downs would do. That is the ranking alone;
    calibration keeps always_answering's rules, whose answers are the ones the threshold decides.
    """
    return [_without(r, {CONFIDENCE, *READING}) for r in rules if r.action == "answer"]


def _without(rule: Rule, facts: set[str]) -> Rule:
    """The rule with its conditions on these facts dropped."""
    return dataclasses.replace(rule, conditions=tuple(c for c in rule.conditions if c.fact not in facts))


def run_set(real: RealSet, settings: Settings, parts: tuple[str, ...] = PARTS,
            observe: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Replay the set's questions of `parts`; figures per part (see the module's docstring)."""
    questions = [q for q in real.questions if q.part in parts]
    with tempfile.TemporaryDirectory(prefix=f"vigil-{real.name}-") as tmp:
        kb = Path(tmp) / "knowledge"
        kb.mkdir()
        real.write_knowledge(kb)
        run = settings.replace(knowledge_dir=kb, shadow=True, openai_api_key="", openai_base_url="")
        rules = load_rules(settings.rules_dir)
        vectors: dict[str, bytes] = {}  # with embeddings: the entries' vectors, computed once for both replays
        answered = _answers(questions, run.replace(home=Path(tmp) / "home"), rules, observe, vectors)
        ranked = _answers(questions, run.replace(home=Path(tmp) / "ranking"),
                          ranking_alone(rules), None, vectors)
        baseline = bm25s_top(kb, questions)
    rows = [{"ticket_id": q.conversation["ticket_id"], "part": q.part, "right": sorted(q.right),
             "answers": a, "ranked": r[0][:1] if r else [], "bm25s": b}
            for q, a, r, b in zip(questions, answered, ranked, baseline)]
    return {"set": real.name, "split": real.split, "entries": _count(real),
            "mode": "embeddings" if getattr(settings, "embeddings_url", "") else "offline",
            **{part: figures([r for r in rows if r["part"] == part]) for part in parts}, "rows": rows}


def _count(real: RealSet) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        real.write_knowledge(Path(tmp))
        return sum(1 for _ in entry_paths(Path(tmp)))


def _answers(questions: list[Question], settings: Settings, rules: list[Rule],
             observe: Callable[[Any], Any] | None, vectors: dict[str, bytes]) -> list[list[list[str]]]:
    """For each question, the sources of its answer notes, in order."""
    runtime = build_runtime(settings, with_connectors=False, rules=rules)
    if runtime.index.vectors:
        _embed_entries(runtime, vectors)
    if observe:
        observe(runtime)
    out = []
    try:
        for q in questions:
            notes = []
            for event in events_for(q.conversation):
                for outcome in runtime.pipeline.handle(event):
                    if outcome.decision.action == "answer" and outcome.note:
                        notes.append(list(outcome.note.sources))
            out.append(notes)
    finally:
        runtime.close()
    return out


def _embed_entries(runtime: Any, known: dict[str, bytes]) -> None:
    """The entries' vectors, in the foreground as `vigil index` computes them: a fresh store has
    none, and a replay only uses what is cached. Those `known` (hash -> vector) are reused, and
    the ones computed are added to it."""
    if known:
        runtime.store.vectors.save_vectors(known)
        runtime.index.rebuild()  # the index asks the store again for its entries' vectors
    runtime.index.vectors.compute_missing()
    known.update(runtime.store.vectors.cached_vectors(runtime.index._hashes))


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["right"]]
    unanswerable = [r for r in rows if not r["right"]]

    def right_first(r: dict[str, Any]) -> bool:
        return bool(r["answers"] and r["answers"][0][:1] and r["answers"][0][0] in r["right"])
    answers = [r for r in rows if r["answers"]]
    return {"questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
            "answers": len(answers),
            "right_first": _share(sum(map(right_first, answers)), len(answers)),
            "answered_right": _share(sum(map(right_first, answerable)), len(answerable)),
            "answered": _share(sum(bool(r["answers"]) for r in answerable), len(answerable)),
            "silence": _share(sum(not r["answers"] for r in unanswerable), len(unanswerable)),
            "ranking": _share(sum(bool(set(r["ranked"]) & set(r["right"])) for r in answerable), len(answerable)),
            "bm25s": _share(sum(r["bm25s"] in r["right"] for r in answerable), len(answerable))
            if rows and rows[0]["bm25s"] is not False else None}


def _share(n: int, d: int) -> float | None:
    return round(n / d, 3) if d else None


# --- plain BM25, the baseline -------------------------------------------------------------

def bm25s_top(kb: Path, questions: list[Question]) -> list[str | None | bool]:
    """The first entry plain BM25 ranks for each question (False for all when bm25s is missing).

    One text per entry (title, tags, products, body); the question is its subject and
    customer messages. A ticket tagged with an entry's product searches those entries only,
    as the plugin does, so the two rank the same candidates.
    """
    try:
        import bm25s
        import Stemmer
    except ImportError:
        return [False] * len(questions)
    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index it builds
    entries = [load_entry(kb, p) for p in entry_paths(kb)]
    tokenizer = bm25s.tokenization.Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))
    retriever = bm25s.BM25()
    retriever.index(tokenizer.tokenize([" ".join((e.title, *e.tags, *e.products, e.body)) for e in entries],
                                       show_progress=False), show_progress=False)
    products = [{p.lower() for p in e.products} for e in entries]
    vocabulary = tokenizer.get_vocab_dict()
    top: list[str | None | bool] = []
    for q in questions:
        c = q.conversation
        text = " ".join([c["subject"], *(m["body"] for m in c["messages"] if m["author_role"] == "customer")])
        words = tokenizer.tokenize([text], update_vocab=False, show_progress=False, return_as="string")[0]
        ids = [vocabulary[w] for w in words if w in vocabulary]  # the index knows words by their ids
        scores = retriever.get_scores(ids) if ids else None
        scope = {t.lower() for t in c["tags"]} & set().union(*products)
        best = None
        if scores is not None:
            order = sorted(range(len(entries)), key=lambda i: -scores[i])
            best = next((entries[i].id for i in order if scores[i] > 0 and (not scope or products[i] & scope)), None)
        top.append(best)
    return top


def lines(result: dict[str, Any]) -> list[str]:
    """The figures of one set as `vigil eval --real` prints them."""
    out = [f"{result['set']} ({result['entries']} entries, {result['mode']}; split {result['split']})"]
    for part in PARTS:
        f = result.get(part)
        if f:
            bm25 = "bm25s not installed" if f["bm25s"] is None else f"bm25s {f['bm25s']}"
            out.append(f"  {part}: {f['questions']} questions ({f['answerable']} answerable): answers citing a right "
                       f"entry first {f['right_first']} (of {f['answers']}); answerable answered right "
                       f"{f['answered_right']}; unanswerable left alone {f['silence']}; ranking alone (always "
                       f"answering) {f['ranking']} vs {bm25}")
    return out
