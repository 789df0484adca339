"""GET /metrics: Prometheus text, counted from the database at scrape time.

Counting from the tables (rather than in-process counters) keeps the figures right when
several processes share the database and across restarts: nothing is lost or counted twice.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy.exc import SQLAlchemyError

from plugin.web.dashboard import bearer_ok
from plugin.store import Store

NOTE_STATUSES = ("drafted", "delivered", "failed", "shadow")
LATENCY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0)  # seconds; the model timeout defaults to 20

bp = Blueprint("metrics", __name__)


class StoreCollector:
    """A prometheus_client collector whose every sample is a COUNT/SUM over the store."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self):
        counts = self.store.operator.counts
        webhooks = CounterMetricFamily("vigil_webhooks", "Webhook requests by helpdesk and how they ended.",
                                       labels=["source", "result"])
        ended = self.store.operator.webhook_results()
        for (source,), n in counts("deliveries", "source").items():  # each accepted one is a delivery
            ended[(source, "accepted")] = ended.get((source, "accepted"), 0) + n
        for (source, result), n in sorted(ended.items()):
            webhooks.add_metric([source, result], n)
        yield webhooks

        decisions = CounterMetricFamily("vigil_decisions", "Decisions taken, by action and the rule that chose it "
                                        "(rule is empty when no rule fired).", labels=["action", "rule"])
        for (action, rule), n in sorted(counts("decisions", "action", "rule").items(), key=str):
            decisions.add_metric([action, rule or ""], n)
        yield decisions

        by_status = {status: n for (status,), n in counts("notes", "status").items()}
        notes = GaugeMetricFamily("vigil_notes", "Notes by delivery status now.", labels=["status"])
        for status in sorted(set(NOTE_STATUSES) | set(by_status)):
            notes.add_metric([status], by_status.get(status, 0))
        yield notes

        feedback = GaugeMetricFamily("vigil_note_feedback", "Notes an analyst judged, by verdict.", labels=["verdict"])
        for (verdict,), n in sorted(counts("notes", "feedback").items(), key=str):
            if verdict:
                feedback.add_metric([verdict], n)
        yield feedback

        yield from self._model_calls()

        embeddings = CounterMetricFamily(
            "vigil_embedding_calls", "Questions sent to the embeddings endpoint, by outcome: used, failed, "
            "timeout, skipped (the endpoint failed moments before); all but used ranked by BM25F alone.",
            labels=["model", "outcome"])
        seconds = CounterMetricFamily("vigil_embedding_call_seconds", "Time spent waiting for question vectors.",
                                      labels=["model", "outcome"])
        for row in sorted(self.store.vectors.embedding_call_stats()):
            embeddings.add_metric([row.model, row.outcome], row.calls)
            seconds.add_metric([row.model, row.outcome], row.seconds)
        yield from (embeddings, seconds)

        pending = counts("deliveries", "state").get(("pending",), 0)
        queue = GaugeMetricFamily("vigil_queue_depth", "Work waiting: webhook deliveries not yet processed, "
                                  "notes drafted but not yet posted.", labels=["queue"])
        queue.add_metric(["deliveries"], pending)
        queue.add_metric(["notes"], by_status.get("drafted", 0))
        yield queue

    def _model_calls(self):
        calls = CounterMetricFamily("vigil_model_calls", "Calls to the model, by outcome (used, refusal, "
                                    "invalid, failed).", labels=["model", "outcome"])
        tokens = CounterMetricFamily("vigil_model_tokens", "Tokens sent to and received from the model.",
                                     labels=["model", "kind"])
        latency = HistogramMetricFamily("vigil_model_call_seconds", "How long model calls took.", labels=["model"])
        per_model: dict[str, dict] = {}
        for row in self.store.operator.model_call_stats(LATENCY_BUCKETS):
            calls.add_metric([row.model, row.outcome], row.calls)
            m = per_model.setdefault(row.model, {"prompt": 0, "completion": 0, "seconds": 0.0, "calls": 0,
                                                 "under": [0] * len(LATENCY_BUCKETS)})
            m["prompt"] += row.prompt_tokens or 0
            m["completion"] += row.completion_tokens or 0
            m["seconds"] += row.seconds or 0.0
            m["calls"] += row.calls
            m["under"] = [a + (getattr(row, f"le{i}") or 0) for i, a in enumerate(m["under"])]
        for model, m in sorted(per_model.items()):
            tokens.add_metric([model, "prompt"], m["prompt"])
            tokens.add_metric([model, "completion"], m["completion"])
            buckets = [(str(b), n) for b, n in zip(LATENCY_BUCKETS, m["under"])] + [("+Inf", m["calls"])]
            latency.add_metric([model], buckets, m["seconds"])
        yield from (calls, tokens, latency)


@bp.get("/metrics")
def metrics():
    token = current_app.extensions["vigil"].settings.admin_token
    if not token:
        return Response("metrics are off: set VIGIL_ADMIN_TOKEN (admin_token) to turn them on\n", 404,
                        mimetype="text/plain")
    if not bearer_ok(request, token):
        return Response("missing or wrong admin token: send Authorization: Bearer <token>\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="vigil"'}, mimetype="text/plain")
    try:
        body = generate_latest(current_app.extensions["vigil_metrics"])
    except SQLAlchemyError:  # the database is unreachable: say so rather than report zeros
        return Response("could not read the database; try again\n", 503, mimetype="text/plain")
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def register(app: Flask) -> None:
    """Add /metrics with a registry of this app's own (tests build many apps in one process)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(app.extensions["vigil"].store))
    ProcessCollector(registry=registry)  # memory, CPU and open files of this process
    app.extensions["vigil_metrics"] = registry
    app.register_blueprint(bp)
