"""`vigil eval --calibrate`: fit the answer confidence on labelled questions; its calibration curve.

Rows: one per message that the answer rules answer when their confidence condition is
dropped (realsets.always_answering: every other condition holds, so these are exactly the
messages the threshold decides on), with the features of the hits the pipeline kept and a
label: 1 when the note cites a right entry first.

- the real sets (plugin/evaluation/realsets.py): a right entry is one the question's thread or
  document names; the `dev` part is fitted, the `report` part only scored;
- tests/eval/decisions.jsonl, the project's development set: 1 when the message expects an
  answer and the best hit is one of its expected sources (fitted).

Each source weighs the same in the fit (hundreds of stackfaq rephrasings must not drown the
help desk's own conversations). The model is a logistic regression (numpy, Newton's method, a
small L2 penalty) on standardised features; `--write` saves it with its provenance as
plugin/decision/answerability.yml (answerability.embeddings.yml when the hits carried an
embedding similarity: with an embeddings endpoint configured, the entries' vectors are
computed first, in the foreground, as `vigil index` does).

The threshold suggested for the rules is the highest (on a 0.05 grid) at which the
development set keeps answer recall >= RECALL_KEPT, on dev rows only. Past it the answers
lost are the help desk's own: the sets written without sight of the code run 0.1-0.25 below
the development set's recall (README, "Evaluation"), and their floors are 0.6-0.65. Below
it, every step up buys silence on the real sets' unanswerable questions.
"""

from __future__ import annotations

import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from plugin.decision.rulebook import load_rules
from plugin.decision.answerability import EMBEDDING_FEATURES, EMBEDDINGS_MODEL_FILE, FEATURES, MODEL_FILE, Model
from plugin.evaluation import grounding, realsets
from plugin.replay import events_for, read_conversations
from plugin.runtime import build_runtime
from plugin.settings import Settings

DEVELOPMENT = grounding.REPO / "tests" / "eval" / "decisions.jsonl"
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(2, 19))
RECALL_KEPT = 0.9  # the development set's answer recall the suggested threshold keeps


class _Kept:
    """Wraps the pipeline's Answerability: remembers the assessment it kept for the event."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.kept: tuple[float, dict[str, float]] | None = None

    def __getattr__(self, name: str) -> Any:  # everything else is the wrapped one's
        return getattr(self.inner, name)

    def assess(self, message: str, query: str, hits: list[Any]) -> tuple[float, dict[str, float]]:
        confidence, values = self.inner.assess(message, query, hits)
        if values and (self.kept is None or confidence > self.kept[0]):
            self.kept = (confidence, values)
        return confidence, values


def _rows(conversations: list[dict[str, Any]], settings: Settings, right: Callable[[int, int, str], bool],
          expects: Callable[[int, int], bool] | None = None,
          vectors: dict[str, bytes] | None = None) -> list[dict[str, Any]]:
    """Replay with the rules always answering; a row for each answer. right(conversation, message, entry);
    expects(conversation, message): whether an answer is wanted at all (for the answer recall)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-calibrate-") as home:
        runtime = build_runtime(settings.replace(home=Path(home), shadow=True, openai_api_key="", openai_base_url=""),
                                with_connectors=False, rules=realsets.always_answering(load_rules(settings.rules_dir)))
        if runtime.index.vectors:  # a fresh store has no entry vectors: compute them, as `vigil index` does
            realsets._embed_entries(runtime, {} if vectors is None else vectors)
        kept = _Kept(runtime.pipeline.answerability)
        runtime.pipeline.answerability = kept  # type: ignore[assignment]  # the same interface
        try:
            for number, conversation in enumerate(conversations):
                for position, event in enumerate(events_for(conversation)):
                    kept.kept = None
                    notes = [o.note for o in runtime.pipeline.handle(event)
                             if o.decision.action == "answer" and o.note and o.note.sources]
                    if notes and kept.kept:
                        confidence, values = kept.kept
                        rows.append({"features": values, "confidence": confidence,
                                     "label": int(right(number, position, notes[0].sources[0])),
                                     **({"expects": expects(number, position)} if expects else {})})
        finally:
            runtime.close()
    return rows


def collect(settings: Settings, part: str, vectors: dict[str, bytes] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Rows per source for one part ("dev" adds the development set, which has no report part).
    `vectors`: entry vectors by content hash, computed once and reused across the replays."""
    out = {}
    for name, make in realsets.SETS.items():
        real = make()
        questions = [q for q in real.questions if q.part == part]
        with tempfile.TemporaryDirectory(prefix=f"vigil-{name}-") as tmp:
            real.write_knowledge(Path(tmp))
            out[name] = _rows([q.conversation for q in questions], settings.replace(knowledge_dir=Path(tmp)),
                              lambda n, _, entry: entry in questions[n].right, vectors=vectors)
    if part == "dev":
        labelled = read_conversations(DEVELOPMENT)

        def wanted(n: int, position: int) -> bool:
            return "answer" in labelled[n]["messages"][position].get("expect", ())

        def expected(n: int, position: int, entry: str) -> bool:
            return wanted(n, position) and entry in labelled[n]["messages"][position].get("expect_sources", ())
        out["decisions"] = _rows(labelled, settings, expected, wanted, vectors)
    return out


def fit(rows: Sequence[dict[str, float]], labels: Sequence[int], weights: Sequence[float],
        names: Sequence[str] = FEATURES, l2: float = 1.0) -> Model:
    """Weighted logistic regression by Newton's method; the penalty spares the intercept.

    A feature a row leaves out (runner_up without a rival) is given the mean of the rows that
    have it, as Model.probability reads it: it moves nothing."""
    x = np.array([[r.get(f, np.nan) for f in names] for r in rows], dtype=float)
    if len(x):
        x = np.where(np.isnan(x), np.nanmean(np.where(np.isnan(x).all(axis=0), 0.0, x), axis=0), x)
    y, v = np.array(labels, dtype=float), np.array(weights, dtype=float)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-z @ beta))
        step = np.linalg.solve((z * (v * p * (1 - p))[:, None]).T @ z + penalty, z.T @ (v * (p - y)) + penalty @ beta)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return Model(tuple(names), tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, beta[1:])),
                 float(beta[0]))


def curve(probabilities: Sequence[float], labels: Sequence[int], bins: int = 10) -> list[dict[str, Any]]:
    """The calibration curve: per bin of predicted probability, its mean and the observed rate."""
    out = []
    for b in range(bins):
        inside = [(p, y) for p, y in zip(probabilities, labels) if b <= p * bins < b + 1 or (b == bins - 1 and p == 1)]
        if inside:
            out.append({"from": b / bins, "to": (b + 1) / bins, "count": len(inside),
                        "predicted": round(sum(p for p, _ in inside) / len(inside), 3),
                        "observed": round(sum(y for _, y in inside) / len(inside), 3)})
    return out


def _at(rows: list[dict[str, Any]], model: Model, threshold: float) -> dict[str, Any]:
    chosen = [r["label"] for r in rows if model.probability(r["features"]) >= threshold]
    positives = sum(r["label"] for r in rows)
    return {"answered": len(chosen), "precision": round(sum(chosen) / len(chosen), 3) if chosen else None,
            "recall": round(sum(chosen) / positives, 3) if positives else None}


def development_recall(rows: list[dict[str, Any]], model: Model, threshold: float) -> float:
    """The development set's answer recall at `threshold`: answers wanted and given, of those wanted."""
    wanted = sum("answer" in m.get("expect", ()) for c in read_conversations(DEVELOPMENT) for m in c["messages"])
    given = sum(1 for r in rows if r.get("expects") and model.probability(r["features"]) >= threshold)
    return round(given / wanted, 3) if wanted else 0.0


def calibrate(settings: Settings) -> dict[str, Any]:
    """Fit on the dev rows, score on both parts; the figures and the model (not yet written)."""
    vectors: dict[str, bytes] = {}
    dev, report = collect(settings, "dev", vectors), collect(settings, "report", vectors)
    rows_in_all = sum(map(len, dev.values()))  # weights average 1: the penalty means the same at any size
    train = [(r, rows_in_all / (len(dev) * len(rows))) for rows in dev.values() for r in rows]
    with_similarity = bool(train) and all("similarity" in r["features"] for r, _ in train)
    names = (*FEATURES, *EMBEDDING_FEATURES) if with_similarity else FEATURES
    model = fit([r["features"] for r, _ in train], [r["label"] for r, _ in train], [w for _, w in train], names)
    sweep: list[dict[str, Any]] = [{"threshold": t, **{name: _at(rows, model, t) for name, rows in dev.items()},
                                    "development_recall": development_recall(dev["decisions"], model, t)}
                                   for t in THRESHOLDS]
    chosen: float = max((p["threshold"] for p in sweep if p["development_recall"] >= RECALL_KEPT),
                        default=THRESHOLDS[0])

    def scored(rows: list[dict[str, Any]]) -> dict[str, Any]:
        p = [model.probability(r["features"]) for r in rows]
        y = [r["label"] for r in rows]
        return {"rows": len(rows), "positives": sum(y), "mean_confidence": round(float(np.mean(p)), 3) if p else None,
                "curve": curve(p, y), "at_threshold": _at(rows, model, chosen)}
    provenance: dict[str, Any] = {"fitted": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "command": "vigil eval --calibrate --write",
                  "code": _commit(), "mode": "embeddings" if with_similarity else "offline",
                  "data": {name: f"{len(rows)} rows, {sum(r['label'] for r in rows)} right" for name, rows in dev.items()},
                  "split": {name: realsets.SETS[name]().split for name in realsets.SETS} | {
                      "decisions": "tests/eval/decisions.jsonl, the development set (no report part)"},
                  "weighting": "each source the same",
                  "fitted_on": "dev parts only",
                  "suggested_threshold": f"{chosen}: the highest at which the development set keeps answer recall "
                                         f">= {RECALL_KEPT} (the rules hold the threshold in force)"}
    parts = {"dev": {name: scored(rows) for name, rows in dev.items()},
             "report": {name: scored(rows) for name, rows in report.items()}}
    # The curves travel with the model, so the evaluation report shows those of the model in force.
    provenance["calibration"] = {part: {name: {k: s[k] for k in ("rows", "positives", "curve")}
                                        for name, s in by_source.items()} for part, by_source in parts.items()}
    model = Model(model.features, model.mean, model.scale, model.weights, model.intercept, provenance)
    return {"model": model, "file": str(EMBEDDINGS_MODEL_FILE if with_similarity else MODEL_FILE),
            "weights": dict(zip(model.features, (round(w, 3) for w in model.weights))),
            "chosen": chosen, "sweep": sweep, **parts}


def write(result: dict[str, Any]) -> Path:
    path = Path(result["file"])
    path.write_text("# The answer confidence's logistic regression, fitted by `vigil eval --calibrate --write`\n"
                    "# (plugin/evaluation/calibration.py). Review a change like code: it moves every answer.\n"
                    + result["model"].to_yaml(), encoding="utf-8")
    return path


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(grounding.REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def lines(result: dict[str, Any]) -> list[str]:
    """The fit as `vigil eval --calibrate` prints it."""
    out = [f"weights (standardised features): {result['weights']}",
           f"threshold for the rules: {result['chosen']} (the highest keeping the development set's answer "
           f"recall >= {RECALL_KEPT}); precision/recall per source on the dev rows:",
           *sweep_lines(result)]
    for part in ("dev", "report"):
        for name, s in result[part].items():
            at = s["at_threshold"]
            bins = ", ".join(f"{b['predicted']:.2f}->{b['observed']:.2f} ({b['count']})" for b in s["curve"])
            out.append(f"{part} {name}: {s['rows']} rows, {s['positives']} right; mean confidence "
                       f"{s['mean_confidence']}; at the threshold precision {at['precision']}, recall {at['recall']}")
            out.append(f"    calibration (predicted -> observed (rows)): {bins}")
    return out


def sweep_lines(result: dict[str, Any]) -> list[str]:
    """Precision / recall per source at each threshold, on the dev rows."""
    names = [n for n in result["sweep"][0] if n not in ("threshold", "development_recall")]
    return [f"  answer_confidence >= {p['threshold']:<5} " + "; ".join(
        f"{n} {p[n]['precision']}/{p[n]['recall']}" for n in names)
        + f"; development set's answer recall {p['development_recall']}" for p in result["sweep"]]
