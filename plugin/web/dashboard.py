"""GET /dashboard: the operator's view, server-rendered; POST a failed note's retry.

Off (404) unless admin_token is set. A script sends `Authorization: Bearer <token>`; a browser
opens /dashboard?token=... once, which sets an HttpOnly cookie and redirects to the clean URL
(so the token does not stay in the address bar or the history). The cookie holds an HMAC of
the token, not the token, and changing the token invalidates it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any, Iterable
from urllib.parse import urlencode

from flask import Blueprint, Flask, Request, Response, current_app, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from plugin.knowledge.retrieval import query_terms
from plugin.knowledge.unreadable import UnreadableFiles
from plugin.redaction import redact
from plugin.decision.rulebook import Rule, load_rules

COOKIE = "vigil_admin"
SILENT_FILTERS = ("show", "hide", "only")
RECENT = 50  # decisions and notes shown; the CLI (`vigil explain`, `vigil notes`) has the rest
GAP_GROUPS = 10
GAP_WINDOW = 2000  # latest customer messages searched for gaps: bounds the work of one page view

bp = Blueprint("dashboard", __name__, template_folder="templates")


# -- access ---------------------------------------------------------------------------

def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())  # constant time: no timing oracle


def bearer_ok(req: Request, token: str) -> bool:
    scheme, _, value = req.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and _same(value.strip(), token)


def _cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"vigil-dashboard-cookie", hashlib.sha256).hexdigest()


def _csrf(token: str) -> str:
    """A form token made from the admin token: the same in every web process (a random key
    per process made the retry button answer 403 whenever the POST reached another one),
    unknown to a page that does not have the token, and changed with it."""
    return hmac.new(token.encode(), b"vigil-dashboard-csrf", hashlib.sha256).hexdigest()


def _plain(text: str, status: int, **headers: str) -> Response:
    return Response(text + "\n", status, headers, mimetype="text/plain")


@bp.before_request
def _guard():
    token = current_app.extensions["vigil"].settings.admin_token
    if not token:
        return _plain("The dashboard is off: set VIGIL_ADMIN_TOKEN (admin_token) to turn it on.", 404)
    supplied = request.args.get("token")
    if supplied is not None and request.method == "GET":
        if not _same(supplied, token):
            return _unauthorized()
        rest = {k: v for k, v in request.args.items() if k != "token"}
        response = redirect(request.path + (f"?{urlencode(rest)}" if rest else ""), 303)
        response.set_cookie(COOKIE, _cookie_value(token), httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/dashboard")
        return response
    if bearer_ok(request, token) or _same(request.cookies.get(COOKIE, ""), _cookie_value(token)):
        return None
    return _unauthorized()


def _unauthorized() -> Response:
    return _plain("Missing or wrong admin token: send `Authorization: Bearer <token>`, "
                  "or open /dashboard?token=<token> in a browser.", 401, **{"WWW-Authenticate": 'Bearer realm="vigil"'})


@bp.after_request
def _harden(response: Response) -> Response:
    # No scripts at all, images only inline, forms only back here, never inside a frame.
    response.headers["Content-Security-Policy"] = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                                   "form-action 'self'; frame-ancestors 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


# -- pages ----------------------------------------------------------------------------

@bp.get("/dashboard")
def dashboard():
    runtime = current_app.extensions["vigil"]
    store = runtime.store
    silent = request.args.get("silent", "show")
    silent = silent if silent in SILENT_FILTERS else "show"
    proposals = store.learning.list_proposals()
    threshold = answer_threshold(load_rules(runtime.settings.rules_dir))  # read here: web processes decide nothing
    notes_by_status = {s: n for (s,), n in store.operator.counts("notes", "status").items()}
    chart, rates = acceptance(
        [(at, verdict == "useful") for at, verdict in store.operator.feedback_history() if at],
        [(datetime.fromisoformat(p["created_at"]), p["state"] in ("merged", "edited"))
         for p in proposals if p["state"] in ("merged", "edited", "closed")])
    return render_template(
        "dashboard.html", settings=runtime.settings, silent=silent, flash=_flash(store),
        csrf=_csrf(runtime.settings.admin_token),
        decisions=store.operator.recent_decisions(RECENT, silent), notes=store.operator.recent_notes(RECENT),
        failed=store.operator.recent_notes(200, status="failed"), notes_by_status=notes_by_status,
        pending=store.operator.counts("deliveries", "state").get(("pending",), 0),
        set_aside=store.inbox.failed_deliveries(), unread=store.inbox.unread_deliveries(),
        open_proposals=[p for p in proposals if p["state"] == "open"],
        merged_proposals=[p for p in proposals if p["state"] in ("merged", "edited")],  # edited: merged after changes
        chart=chart, rates=rates[-12:],  # the table: the latest periods; the chart has them all
        top_entries=Counter(store.operator.citation_counts()).most_common(15),
        threshold=threshold, gap_window=GAP_WINDOW,
        knowledge_errors=_unreadable(runtime),
        gaps=knowledge_gaps(store.operator.customer_messages_decided(GAP_WINDOW), threshold))


def _unreadable(runtime) -> list[str]:
    """The knowledge files left out, each with its line and fix. A process that decides asks
    its index; a web process alone (queue, decider process) holds none, so it keeps a scan of
    the files of its own, which rereads only the files that changed since the last view."""
    if (index := getattr(runtime, "index", None)) is not None:
        return index.errors
    scan = current_app.extensions.get("vigil-unreadable")
    if scan is None:
        scan = current_app.extensions.setdefault("vigil-unreadable", UnreadableFiles(runtime.settings.knowledge_dir))
    return [str(finding) for finding in scan.findings()]


@bp.post("/dashboard/notes/<int:note_id>/retry")
def retry(note_id: int):
    runtime = current_app.extensions["vigil"]
    if not _same(request.form.get("csrf", ""), _csrf(runtime.settings.admin_token)):
        return _plain("Missing or wrong CSRF token: reload the dashboard and press the button again.", 403)
    queued = runtime.store.notes.retry_failed_notes(pk=note_id) == 1
    if queued:
        runtime.poster.deliver_notes()  # try now, so the page shows the outcome
    return redirect(url_for(".dashboard", note=note_id, retry="queued" if queued else "stale"), 303)


def _flash(store) -> tuple[str, str] | None:
    """(kind, text) about the note just retried, read from the note itself (nothing to forge)."""
    note_id = request.args.get("note", type=int)
    if note_id is None:
        return None
    found = store.operator.recent_notes(1, pk=note_id)
    note = found[0] if found else None
    if note is None:
        return "error", f"There is no note {note_id}."
    what = f"Note {note_id} on {note.source} ticket {note.ticket_id}"
    if request.args.get("retry") != "queued":
        return "info", f"{what} was not failed (it is {note.status}): nothing to retry."
    if note.status == "delivered":
        return "ok", f"{what} was queued again and delivered."
    if note.status == "failed":
        return "error", f"{what} was queued again and failed again: {note.last_error}"
    return "info", f"{what} was queued again; the worker will post it ({note.last_error or 'waiting'})."


@bp.app_template_filter("when")
def _when(value: datetime | str | None) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


# -- what the page computes -------------------------------------------------------------

def answer_threshold(rules: Iterable[Rule]) -> float:
    """The answer_confidence the customer-answer rule needs: a silent question below it is a gap."""
    for rule in rules:
        if rule.action == "answer" and any(c.fact == "role" and c.value == "customer" for c in rule.conditions):
            for c in rule.conditions:
                if c.fact == "answer_confidence" and c.op in (">=", ">"):
                    return float(c.value)
    return math.inf  # no rule answers customers: every silent in-scope question is a gap


def knowledge_gaps(rows: Iterable[Any], threshold: float, top: int = GAP_GROUPS) -> list[dict[str, Any]]:
    """In-scope customer questions left unanswered for want of knowledge, grouped by topic.

    A question joins the group of its most distinctive term that other gaps share: a word
    weighs more the more gaps use it and the fewer of all customer questions do (tf-idf with
    every question as the background), so "export" makes a group and "order" does not swallow all.
    """
    background: dict[tuple, set[str]] = {}
    gaps = []
    for row in rows:
        facts = json.loads(row.facts)
        if facts.get("role") != "customer" or not facts.get("is_question"):
            continue
        terms = query_terms(row.body)
        background.setdefault((row.ticket, row.message_position), set(terms))
        if row.action == "silent" and facts.get("in_scope") and float(facts.get("answer_confidence", 0)) < threshold:
            gaps.append((row, facts, terms))
    asked = Counter(t for terms in background.values() for t in terms)
    in_gaps = Counter(t for _, _, terms in gaps for t in set(terms))
    weight = {t: n * (math.log((1 + len(background)) / (1 + asked[t])) + 1) for t, n in in_gaps.items()}
    groups: dict[str, list] = defaultdict(list)
    for gap in gaps:
        terms = gap[2]
        shared = [t for t in terms if in_gaps[t] > 1] or terms
        groups[max(shared, key=lambda t: (weight[t], t)) if shared else ""].append(gap)
    words = _surface_words(row.body for row, _, _ in gaps)
    out = []
    for key, members in groups.items():
        out.append({"terms": [words.get(t, t) for t in _label(key, members, weight)] or ["(no distinctive words)"],
                    "count": len(members), "tickets": len({(r.source, r.ticket_id) for r, _, _ in members}),
                    "best_score": max(float(f.get("answer_confidence", 0)) for _, f, _ in members),
                    "last": max(r.created_at for r, _, _ in members),
                    "examples": [{"source": r.source, "ticket_id": r.ticket_id, "text": _excerpt(r.body)}
                                 for r, _, _ in members[:3]]})
    out.sort(key=lambda g: (-g["count"], -g["last"].timestamp()))
    return out[:top]


def _label(key: str, members: list, weight: dict[str, float]) -> list[str]:
    """The group's key and up to two words more that several of its questions share."""
    if not key:
        return []
    common = Counter(t for _, _, terms in members for t in set(terms))
    need = 2 if len(members) > 1 else 1
    others = sorted((t for t, n in common.items() if t != key and n >= need),
                    key=lambda t: (-common[t], -weight[t], t))
    return [key, *others[:2]]


def _surface_words(bodies: Iterable[str]) -> dict[str, str]:
    """Stem -> the word customers most often wrote for it ("invoic" -> "invoices")."""
    written = Counter(word.lower() for body in bodies for word in re.findall(r"[A-Za-z][\w'-]*", body))
    seen: dict[str, Counter] = defaultdict(Counter)
    for word, n in written.items():  # each distinct word through the analyser once
        stems = query_terms(word)
        if len(stems) == 1:
            seen[stems[0]][word] += n
    return {stem: forms.most_common(1)[0][0] for stem, forms in seen.items()}


def _excerpt(text: str, limit: int = 200) -> str:
    """A customer's message as the page shows it: short, and redacted like a note (issue 11, defect 2)."""
    text = " ".join(redact(text[:4 * limit]).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def acceptance(notes: list[tuple[datetime, bool]],
               proposals: list[tuple[datetime, bool]]) -> tuple[str | None, list[dict[str, Any]]]:
    """Acceptance per period: notes judged useful of those judged, proposals merged of those
    decided. Returns the chart (inline SVG, or None with no data) and the table rows."""
    moments = [at for at, _ in notes + proposals]
    if not moments:
        return None, []
    by_week = max(moments) - min(moments) > timedelta(days=31)  # days while young, then weeks

    def period(at: datetime) -> str:
        day = at.date() - timedelta(days=at.weekday()) if by_week else at.date()
        return day.isoformat()

    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"notes": [0, 0], "proposals": [0, 0]})
    for kind, items in (("notes", notes), ("proposals", proposals)):
        for at, accepted in items:
            table[period(at)][kind][0 if accepted else 1] += 1
    rows = [{"period": p, "unit": "week of" if by_week else "day", **{
        kind: {"accepted": a, "rejected": r, "rate": a / (a + r) if a + r else None}
        for kind, (a, r) in table[p].items()}} for p in sorted(table)]
    return _chart(rows), rows


_SERIES = (("notes", "notes judged useful", "#1f6feb"), ("proposals", "proposals merged", "#2da44e"))


def _chart(rows: list[dict[str, Any]]) -> str:
    """The rates as an inline SVG line chart: drawn by the page itself, no plotting library.

    Every text in it is a date or a number made here; escaped all the same."""
    width, height, left, right, top, bottom = 750, 260, 60, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    x = lambda i: left + (plot_w * i / (len(rows) - 1) if len(rows) > 1 else plot_w / 2)  # noqa: E731
    y = lambda rate: top + plot_h * (1 - rate)  # noqa: E731
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
             'font-size="11" font-family="sans-serif"><title>acceptance rate of notes and proposals per period</title>']
    for pct in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(pct / 100):.1f}" y2="{y(pct / 100):.1f}" '
                     f'stroke="#d0d7de"/><text x="{left - 6}" y="{y(pct / 100) + 4:.1f}" text-anchor="end">{pct}%</text>')
    step = -(-len(rows) // 6)  # at most six dates on the axis, so they stay legible
    for i in range(0, len(rows), step):
        parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                     f'{escape(rows[i]["period"])}</text>')
    for n, (kind, label, colour) in enumerate(_SERIES):
        points = [(x(i), y(r[kind]["rate"])) for i, r in enumerate(rows) if r[kind]["rate"] is not None]
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                         + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
            parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points]
        parts.append(f'<text x="{left + 170 * n}" y="{height - 6}" fill="{colour}">&#9679; {escape(label)}</text>')
    return Markup("".join(parts) + "</svg>")


def register(app: Flask) -> None:
    app.register_blueprint(bp)
