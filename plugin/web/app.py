"""create_app(settings) -> Flask: the webhook routes, the health check, the dashboard and metrics."""

from __future__ import annotations

import logging
import threading
import time
from typing import Mapping, cast

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from connectors.base import WebhookError
from plugin.web import dashboard, metrics
from plugin.model import utcnow
from plugin.runtime import Web, build_runtime, build_web
from plugin.settings import Settings, load_settings
from plugin.work.dispatch import Dispatcher
from plugin.store import ticket_key

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024  # larger webhook bodies get 413 from Flask before we read them

bp = Blueprint("webhooks", __name__)


class RateLimit:
    """A token bucket per source: `rate` requests a second, in bursts of up to a second's worth.

    Per process: with N web processes a source may send N times the rate. Enough to stop one
    runaway helpdesk (a trigger loop, say) from starving the other and the workers.
    """

    def __init__(self, rate: float):
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, source: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(source, (self.rate, now))
            tokens = min(self.rate, tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[source] = (tokens - 1 if allowed else tokens, now)
        return allowed


def _runtime() -> Web:
    return current_app.extensions["vigil"]


def _record(source: str, result: str) -> None:
    """Count a webhook for /metrics; a failure to count never changes the answer."""
    try:
        _runtime().store.operator.record_webhook(source, result)
    except SQLAlchemyError:
        log.warning("could not record a %s webhook (%s) for the metrics", source, result)


@bp.post("/webhooks/<source>")
def webhook(source: str):
    """Verify, translate and store one delivery, then answer; the worker does the rest."""
    runtime = _runtime()
    connector = runtime.connectors.get(source)
    if connector is None:
        why = runtime.refused.get(source, f"no helpdesk called {source!r}")
        # Any path reaches here: an unknown name is counted as "unknown", not as a new label.
        _record(source if source in runtime.refused else "unknown", "off")
        return jsonify(error=f"{source} webhooks are off: {why}"), 404
    body = request.get_data(cache=False)
    try:
        # Werkzeug's Headers reads like a case-insensitive Mapping, which the connectors rely on.
        headers = cast(Mapping[str, str], request.headers)
        connector.verify(headers, body, utcnow())
        delivery = connector.parse(headers, body)
    except WebhookError as exc:
        log.info("%s webhook refused (%s): %s", source, exc.status, exc)
        _record(source, "unauthorized" if exc.status == 401 else "invalid")
        return jsonify(error=str(exc)), exc.status
    # Charged after the signature: an unsigned flood must not spend the helpdesk's own budget.
    if not current_app.extensions["vigil-rate-limit"].allow(source):
        _record(source, "limited")
        return jsonify(error=f"more than {runtime.settings.webhook_rate_limit:g} {source} webhooks a second; "
                             "retry later"), 429, {"Retry-After": "1"}
    try:
        stored = runtime.store.inbox.accept(delivery, body)
    except SQLAlchemyError:
        # Not stored, so never 2xx: the helpdesk keeps the delivery and retries it.
        log.exception("could not store %s delivery %s", source, delivery.delivery_id)
        _record(source, "error")
        return jsonify(error="could not store the delivery; retry later"), 503
    if not stored:
        _record(source, "duplicate")
        return jsonify(status="duplicate", delivery_id=delivery.delivery_id), 200
    # Not recorded in webhook_results: the delivery row counts it, one write per webhook fewer.
    if delivery.events:  # one the plugin does not act on is stored as done: nothing to decide
        runtime.announce(ticket_key(delivery))
    unread = {"unread": delivery.unread.why} if delivery.unread else {}  # e.g. a Jira comment with no reporter
    return jsonify(status="accepted", delivery_id=delivery.delivery_id,
                   events=len(delivery.events), **unread), 202


@bp.post("/webhooks/git")
def git_push():
    """A merge landed on the knowledge repository: pull it and refresh the index, no restart."""
    from plugin.learning.sync import push_signature_ok
    runtime = _runtime()
    if not runtime.settings.git_webhook_secret:
        _record("git", "off")
        return jsonify(error="git webhooks are off: set VIGIL_GIT_WEBHOOK_SECRET"), 404
    body = request.get_data(cache=False)
    if not push_signature_ok(runtime.settings.git_webhook_secret, body, request.headers.get("X-Hub-Signature-256")):
        _record("git", "unauthorized")
        return jsonify(error="bad or missing X-Hub-Signature-256"), 401
    try:
        runtime.announce_merge()
    except SQLAlchemyError:  # not recorded, so not acknowledged: the git host retries
        log.exception("could not record a knowledge merge")
        _record("git", "error")
        return jsonify(error="could not record the merge; retry later"), 503
    _record("git", "accepted")
    return jsonify(status="accepted"), 202


@bp.app_errorhandler(413)
def too_large(_error):
    """Flask refuses a body over the limit before we read it; say so in JSON like every refusal."""
    return jsonify(error=f"the body is over {MAX_BODY_BYTES // 1024} KiB: not accepted"), 413


@bp.get("/healthz")
def healthz():
    runtime = _runtime()
    return jsonify(status="ok", connectors=sorted(runtime.connectors),
                   refused=runtime.refused, shadow=runtime.settings.shadow)


def create_app(settings: Settings | None = None, start_worker: bool = True,
               dispatcher: Dispatcher | None = None) -> Flask:
    """Build the app. Who decides what it stores: `vigil worker` processes through Redis when
    a queue is configured, the decider process behind `dispatcher` (`vigil serve`), or else a
    loop in this process, which starts unless the caller drives it (tests)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if settings.redis_url:
        from plugin.work.queue import TicketQueue
        dispatcher = TicketQueue(settings.redis_url)
    if dispatcher is not None:
        app.extensions["vigil"] = build_web(settings, dispatcher)  # no index or rules: nothing here decides
    else:
        runtime = build_runtime(settings)
        if start_worker:
            runtime.loop.start()
        app.extensions["vigil"] = runtime
    app.extensions["vigil-rate-limit"] = RateLimit(settings.webhook_rate_limit)
    app.register_blueprint(bp)
    dashboard.register(app)  # both answer 404 unless admin_token is set
    metrics.register(app)
    return app
