"""`vigil eval --out DIR`: every evaluation suite, written as a report a support lead can read.

Suites (the keys of figures.json):

- decisions: precision and recall per action, and the confusion between actions, on the
  labelled sets of tests/eval (plugin.evaluation.labelled.evaluate_detailed);
- calibration: the answer confidence in force, its provenance and calibration curves (as
  `vigil eval --calibrate --write` stored them with the model), and the rules' threshold;
- grounding: hit@1, hit@3 and correct silence on the customer-care conversations, by company;
- learning_curve: hit@3 on the same later conversations as the knowledge grows;
- real_sets: answers, silence and ranking against bm25s on the real public sets, per part
  (plugin/evaluation/realsets.py; the `report` part was never tuned on);
- reading: question and risk reading on the hand-labelled real messages (plugin/evaluation/reading.py);
- helpdesk: the 360 real help-desk tickets replayed through the real pipeline in shadow mode:
  notes per ticket, what fired, and every exception (there must be none);
- cost: model calls and tokens per 100 of those tickets, from the model_calls table.

The parameters default to the full data; the tests pass small slices.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from tqdm import tqdm

from plugin.evaluation import grounding, reading, realsets
from plugin.decision.answerability import EMBEDDINGS_MODEL_FILE, load_model
from plugin.evaluation.labelled import evaluate_detailed
from plugin.learning.cases import Case
from plugin.evaluation.learning import HELPDESK, helpdesk_cases
from plugin.replay import events_for
from plugin.decision.rulebook import load_rules
from plugin.runtime import build_runtime
from plugin.settings import Settings

EVAL = grounding.REPO / "tests" / "eval"
LABELLED_SETS = {name: EVAL / f"{name}.jsonl" for name in ("decisions", "holdout", "sealed")}
CURVE = (0.0, 0.1, 0.25, 0.5, 0.7)  # fractions of the customer-care conversations learned
SPLIT = 0.7  # the later 30 % are the test conversations of the grounding suites
OFFLINE = "offline: no model configured"


@dataclass(frozen=True)
class Report:
    html: Path
    figures_json: Path
    plots: list[Path]
    figures: dict[str, Any]
    summary: list[str]


def write_report(out: Path, settings: Settings, **limits: Any) -> Report:
    """Run every suite (`run_suites(**limits)`) and write report.html, figures.json and the PNGs."""
    from plugin.evaluation.report_html import write_files
    figures = run_suites(settings, **limits)
    summary = summary_lines(figures)
    html, data, plots = write_files(Path(out), figures, summary)
    return Report(html, data, plots, figures, summary)


def run_suites(settings: Settings, labelled: dict[str, Path] | None = None,
               care_data: Path = grounding.DATA,
               care_cases: int | None = None, helpdesk_csv: Path = HELPDESK,
               helpdesk_tickets: int | None = None, fractions: tuple[float, ...] = CURVE,
               real_questions: int | None = None, progress: bool = True) -> dict[str, Any]:
    """The figures of every suite. `care_cases` / `helpdesk_tickets` take the first N only,
    `real_questions` the first N questions of each part of each real set."""
    labelled = LABELLED_SETS if labelled is None else labelled
    started = time.monotonic()
    steps = len(labelled) + 1 + 1 + len(fractions) + len(realsets.SETS) + 1 + 1
    with tqdm(total=steps, desc="vigil eval", unit="suite", file=sys.stderr,
              disable=None if progress else True) as bar, _care_slice(care_data, care_cases) as care:
        def step(name: str) -> None:
            bar.set_postfix_str(name)

        figures: dict[str, Any] = {"decisions": {}}
        for name, path in labelled.items():
            step(f"labelled set {name}")
            figures["decisions"][name] = decision_suite(path, settings, progress)
            bar.update()
        step("calibration")
        figures["calibration"] = calibration_suite(settings)
        bar.update()
        step("grounding")
        figures["grounding"] = grounding_suite(care, settings)
        bar.update()
        figures["learning_curve"] = {"split": SPLIT, "points": []}
        for fraction in fractions:
            step(f"learning curve {fraction:.0%}")
            figures["learning_curve"]["points"].append(curve_point(care, settings, fraction))
            bar.update()
        figures["learning_curve"]["in_kb"] = figures["learning_curve"]["points"][0]["in_kb"] if fractions else 0
        figures["real_sets"] = {}
        for name, make in realsets.SETS.items():
            step(f"real set {name}")
            figures["real_sets"][name] = real_suite(make(), settings, real_questions)
            bar.update()
        step("reading real messages")
        figures["reading"] = reading.measure(reading.load())
        bar.update()
        step("help-desk replay")
        cases = helpdesk_cases(helpdesk_csv)
        figures["helpdesk"], figures["cost"] = helpdesk_suite(
            cases[:helpdesk_tickets] if helpdesk_tickets is not None else cases, settings, progress)
        bar.update()
    figures["run"] = {"generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "runtime_seconds": round(time.monotonic() - started, 1),
                      "knowledge_dir": str(settings.knowledge_dir), "rules_dir": str(settings.rules_dir),
                      "model": settings.llm_model if settings.model_configured else OFFLINE}
    return figures


def _bar(progress: bool, **kwargs: Any):
    """An inner progress bar (tqdm on stderr; off when stderr is not a terminal)."""
    return lambda items: tqdm(items, file=sys.stderr, leave=False, disable=None if progress else True, **kwargs)


# --- 1. labelled decisions ----------------------------------------------------------------

def decision_suite(path: Path, settings: Settings, progress: bool = False) -> dict[str, Any]:
    """Scores and the confusion table on one labelled set (rows left out: they are the set)."""
    result = evaluate_detailed(path, settings, progress=_bar(progress, desc=path.stem, unit="conv"))
    result.pop("rows")
    return {"file": path.name, **result}


def calibration_suite(settings: Settings) -> dict[str, Any]:
    """The answer confidence in force (weights, provenance, calibration curves) and the rules' threshold."""
    model = load_model()
    in_force = sorted({c.value for r in load_rules(settings.rules_dir) if r.action == "answer"
                       for c in r.conditions if c.fact == "answer_confidence" and c.op == ">="})
    out = {"in_force": in_force, "weights": dict(zip(model.features, model.weights)),
           "intercept": model.intercept, "provenance": model.provenance}
    if EMBEDDINGS_MODEL_FILE.exists():  # used instead for hits that carry an embedding similarity
        embedded = load_model(EMBEDDINGS_MODEL_FILE)
        out["embeddings"] = {"weights": dict(zip(embedded.features, embedded.weights)),
                             "intercept": embedded.intercept, "provenance": embedded.provenance}
    return out


# --- 2. and 3. grounding, and the learning curve ------------------------------------------

@contextmanager
def _care_slice(data: Path, n: int | None) -> Iterator[Path]:
    """The customer-care file, or a temporary one with its first `n` conversations in time order."""
    if n is None:
        yield data
        return
    items = sorted(json.loads(Path(data).read_text(encoding="utf-8")),
                   key=lambda i: (i["dialogHeader"]["conversationDateTime"], i["dialogHeader"]["sessionID"]))
    with tempfile.TemporaryDirectory(prefix="vigil-care-") as tmp:
        path = Path(tmp) / "care.json"
        path.write_text(json.dumps(items[:n]), encoding="utf-8")
        yield path


_KEEP = ("in_kb", "hit_at_1", "hit_at_3", "answered", "not_in_kb", "correct_silence")


def grounding_suite(data: Path, settings: Settings) -> dict[str, Any]:
    result = grounding.evaluate_grounding(data, settings, SPLIT)
    result.pop("rows")
    return result


def curve_point(data: Path, settings: Settings, fraction: float) -> dict[str, Any]:
    """hit@3 on the later conversations with knowledge from the first `fraction` of them.

    Every point is scored on the same conversations: those whose document the full (70 %)
    knowledge base has. A document not learned yet counts as a miss, not as a smaller
    denominator. Knowledge 0 is an empty folder.
    """
    cases = grounding.load_cases(data)
    earlier, _ = grounding.split_cases(cases, SPLIT)
    with tempfile.TemporaryDirectory(prefix="vigil-curve-") as tmp:
        grounding.knowledge_from(earlier, Path(tmp) / "full")
        full = grounding.entries_by_doc(Path(tmp) / "full")
        empty = Path(tmp) / "empty"
        empty.mkdir()
        result = grounding.evaluate_grounding(data, settings, SPLIT, knowledge=fraction or empty,
                                              entries_for=lambda _root: full)
    learned = cases[:int(len(cases) * fraction)]
    return {"fraction": fraction, "knowledge_cases": len(learned),
            "knowledge_entries": len({c.doc_id for c in learned}), **{k: result[k] for k in _KEEP}}


def real_suite(real: realsets.RealSet, settings: Settings, limit: int | None = None) -> dict[str, Any]:
    """One real set's figures per part (the rows left out), on its first `limit` questions per part."""
    if limit is not None:
        real = dataclasses.replace(real, questions=[q for part in realsets.PARTS for q in
                                                    [x for x in real.questions if x.part == part][:limit]])
    result = realsets.run_set(real, settings)
    result.pop("rows")
    return result


# --- 4. and 5. the help-desk replay, and what it cost -------------------------------------

def conversation_for(case: Case) -> dict[str, Any]:
    """A resolved help-desk case in the replay format (times already parsed)."""
    return {"source": case.source, "ticket_id": case.ticket_id, "subject": case.subject,
            "status": "solved", "tags": [],
            "messages": [{"author_role": m.author_role, "public": m.public, "body": m.body,
                          "created_at": m.created_at} for m in case.messages]}


def helpdesk_suite(cases: list[Case], settings: Settings, progress: bool = False
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replay each ticket in shadow mode in a throwaway home; an exception is recorded, not raised."""
    notes: dict[str, int] = {}
    actions: Counter[str] = Counter()
    fired: Counter[tuple[str, str | None]] = Counter()
    silenced: Counter[str | None] = Counter()
    errors: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-helpdesk-") as home:
        runtime = build_runtime(settings.replace(home=Path(home), shadow=True), with_connectors=False)
        try:
            for case in _bar(progress, desc="help-desk tickets", unit="ticket")(cases):
                notes[case.ticket_id] = 0
                index = None
                try:
                    for index, event in enumerate(events_for(conversation_for(case))):
                        for outcome in runtime.pipeline.handle(event):
                            d = outcome.decision
                            if d.action == "silent":
                                if d.rule:  # a guard, or a note that would have repeated one
                                    silenced[d.rule] += 1
                                continue
                            actions[d.action] += 1
                            fired[(d.action, d.rule)] += 1
                            notes[case.ticket_id] += outcome.note is not None
                except Exception as exc:  # noqa: BLE001 - messy real text must not crash; count it
                    errors.append({"ticket_id": case.ticket_id, "event_index": index,
                                   "error": f"{type(exc).__name__}: {exc}",
                                   "where": traceback.format_exc().strip().splitlines()[-3:]})
            cost = _cost(runtime, settings, len(cases))
        finally:
            runtime.close()
    counts = list(notes.values())
    return {"tickets": len(cases), "messages": sum(len(c.messages) for c in cases), "notes": sum(counts),
            "notes_per_ticket": {str(k): v for k, v in sorted(Counter(counts).items())},
            "mean_notes": round(statistics.mean(counts), 2) if counts else None,
            "median_notes": statistics.median(counts) if counts else None,
            "max_notes": max(counts, default=0),
            "tickets_with_a_note": sum(n > 0 for n in counts),
            "actions": dict(actions.most_common()),
            "rules": [{"action": a, "rule": r, "count": n} for (a, r), n in fired.most_common()],
            "silenced_by": dict(silenced.most_common()), "crashes": len(errors), "errors": errors,
            "notes_by_ticket": notes}, cost


def _cost(runtime: Any, settings: Settings, tickets: int) -> dict[str, Any]:
    stats = runtime.store.operator.model_call_stats(())  # per model and outcome
    calls = sum(row.calls for row in stats)
    prompt = sum(row.prompt_tokens for row in stats)
    completion = sum(row.completion_tokens for row in stats)
    outcomes = {outcome: n for (outcome,), n in runtime.store.operator.counts("model_calls", "outcome").items()}

    def per_100(n: int) -> float:
        return round(100 * n / tickets, 1) if tickets else 0.0
    return {"mode": "model" if settings.model_configured else "offline",
            "note": f"model {settings.llm_model}" if settings.model_configured else OFFLINE,
            "tickets": tickets, "calls": calls, "prompt_tokens": prompt, "completion_tokens": completion,
            "outcomes": outcomes, "per_100_tickets": {"calls": per_100(calls), "prompt_tokens": per_100(prompt),
                                                      "completion_tokens": per_100(completion)}}


# --- the summary ----------------------------------------------------------------------------

def _pr(score: dict[str, Any]) -> str:
    return f"{score['precision']}/{score['recall']}"


def summary_lines(f: dict[str, Any]) -> list[str]:
    """One line per suite, as `vigil eval --out` prints it."""
    sets = "; ".join(f"{name} ({s['messages']} messages) answer {_pr(s['scores']['answer'])}, "
                     f"flag {_pr(s['scores']['flag'])}" for name, s in f["decisions"].items())
    c, g, h, cost = f["calibration"], f["grounding"], f["helpdesk"], f["cost"]
    curve = ", ".join(f"{p['fraction']:.0%} {p['hit_at_3']}" for p in f["learning_curve"]["points"])
    fired = ", ".join(f"{a} {n}" for a, n in h["actions"].items()) or "nothing"
    spent = (f"{cost['per_100_tickets']['calls']:g} model calls, "
             f"{cost['per_100_tickets']['prompt_tokens'] + cost['per_100_tickets']['completion_tokens']:g} "
             f"tokens per 100 tickets")
    return [
        f"decisions (precision/recall): {sets}",
        f"calibration: answer confidence fitted {c['provenance'].get('fitted')} on "
        f"{'; '.join(f'{k} {v}' for k, v in c['provenance'].get('data', {}).items())}; suggested threshold "
        f"{str(c['provenance'].get('suggested_threshold', '?')).split(':')[0]}"
        f" (the rules use {', '.join(map(str, c['in_force'])) or 'none'})",
        f"grounding: {g['test_cases']} later conversations; document known ({g['in_kb']}): hit@1 "
        f"{g['hit_at_1']}, hit@3 {g['hit_at_3']}; document unknown ({g['not_in_kb']}): correct silence "
        f"{g['correct_silence']}",
        f"learning curve (hit@3 by knowledge learned, {f['learning_curve']['in_kb']} conversations): {curve}",
        "real sets (report parts): " + "; ".join(
            f"{name} right first {r['report']['right_first']}, answered right {r['report']['answered_right']}, "
            f"left alone {r['report']['silence']}, ranking {r['report']['ranking']} vs bm25s {r['report']['bm25s']}"
            for name, r in f.get("real_sets", {}).items() if r.get("report")),
        "reading (report part): " + (lambda r: f"flags precision {r['flag']['precision']}, recall "
                                               f"{r['flag']['recall']}; asks precision {r['asks']['precision']}, "
                                               f"recall {r['asks']['recall']}" if r else "not run")(
            f.get("reading", {}).get("report")),
        f"helpdesk: {h['tickets']} tickets, {h['messages']} messages, {h['notes']} notes "
        f"(median {h['median_notes']}, max {h['max_notes']} per ticket); {fired}; crashes {h['crashes']}",
        f"cost: {OFFLINE + ' (' + spent + ')' if cost['mode'] == 'offline' else cost['note'] + ': ' + spent}",
    ]
