"""Secrets never appear in logs, error pages or CLI output (issue 7).

One full run with every secret setting set to a distinctive random value: signed and bad
webhooks for both helpdesks through the Flask app, notes posted by the worker through the real
zenpy and jira clients to loopback helpdesks that answer 429, then 500, then 401, model calls to
a loopback openai-compatible server that fails, the dashboard and /metrics with wrong and right
admin tokens, the error pages (404, 405, 401, 400, 413, 503 and 500 with the database down), and
CLI commands that fail (bad configuration, a PostgreSQL URL with a password that cannot connect,
GitHub refusing the token, helpdesks refusing the notes). Every logger is captured at DEBUG,
library loggers included; then the logs, everything the process wrote to stdout/stderr, every
response the app gave a client (status line, headers, body) and every CLI output and traceback
are searched for each secret, its random part, and the Basic-auth forms the clients send.

The run also checks that the secrets were really in play (sent to the loopback servers, or
accepted by the app), so a passing test means "used and not leaked", not "never used".
"""

from __future__ import annotations

import base64
import io
import json
import logging
import shutil
import socket
import subprocess
import traceback
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from plugin.web.app import create_app
from plugin.cli import main
from plugin.model import utcnow
from plugin.settings import SECRET_FIELDS, Settings
from plugin.store import driver_url

from .conftest import FIXTURES, REPO, write_entry
from .fakehttp import FakeServer, Reply
from .signing import hub_headers, zendesk_headers
from .learning.test_learn import GIFT, RESET
from .test_pipeline import msg_event

ZENDESK_BODY = (FIXTURES / "zendesk" / "ticket.comment_added__customer_public.json").read_bytes()
JIRA_BODY = (FIXTURES / "jira" / "mattermost-plugin-jira" / "webhook-issue-created.json").read_bytes()
ZENDESK_PUT = "/api/v2/tickets/35436.json"
JIRA_ISSUE = "SUP-9"
EMAIL, JIRA_USER, GITHUB_REPO = "bot@example.org", "jira-bot@example.org", "acme/kb"

# Libraries that log HTTP traffic or errors, named so their loggers exist (and are forced to
# DEBUG) before the run, even those first created while it runs.
LIBRARY_LOGGERS = ("urllib3", "requests", "openai", "httpx", "httpx2", "httpcore", "httpcore2", "zenpy", "jira",
                   "github", "werkzeug", "flask", "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool",
                   "psycopg", "alembic", "waitress", "py.warnings", "plugin", "connectors", "vigil")


def _free_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Every secret setting that is a token; the URL ones (database_url) carry their secret as a
# password inside a URL, exercised below with a PostgreSQL URL that cannot connect.
SECRETS = {name: f"SECRET-{name}-{uuid4().hex}" for name in sorted(SECRET_FIELDS) if not name.endswith("_url")}
DB_PASSWORD = f"SECRET-dbpass-{uuid4().hex}"
PG_URL = f"postgresql://vigil:{DB_PASSWORD}@127.0.0.1:{_free_port()}/vigil"
REDIS_PASSWORD = f"SECRET-redispass-{uuid4().hex}"
REDIS_URL = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{_free_port()}/0"
# What the loopback Zendesk's /oauth/tokens hands out for the OAuth client: a secret too.
ZENDESK_ACCESS_TOKEN = f"SECRET-zendesk-access-token-{uuid4().hex}"
ZENDESK_OAUTH_CLIENT = "vigil"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def needles() -> dict[str, str]:
    """What must never be shown: each secret, its random part, and the Basic-auth forms sent."""
    out = {}
    for name, value in [*SECRETS.items(), ("database password", DB_PASSWORD), ("Redis password", REDIS_PASSWORD),
                        ("Zendesk OAuth access token", ZENDESK_ACCESS_TOKEN)]:
        out[name] = value
        out[f"{name} (random part)"] = value.rsplit("-", 1)[1]
    out["Zendesk Basic auth"] = _b64(f"{EMAIL}/token:{SECRETS['zendesk_token']}")
    out["Jira Basic auth"] = _b64(f"{JIRA_USER}:{SECRETS['jira_token']}")
    out["database URL credentials"] = f"vigil:{DB_PASSWORD}@"
    return out


def find_leaks(haystacks: list[tuple[str, str]]) -> list[str]:
    leaks = []
    for where, text in haystacks:
        for what, needle in needles().items():
            at = text.find(needle)
            if at >= 0:
                leaks.append(f"{what} in {where}: ...{text[max(0, at - 120):at + len(needle) + 40]!r}...")
    return leaks


# -- capture --------------------------------------------------------------------------------

class AllLogs:
    """Every record of every logger at DEBUG into one string, library loggers included.

    stop() puts every level, handler and override back, and clears the loggers' caches, so the
    tests that run after this one log as before.
    """

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self._saved: list[tuple[logging.Logger, int, bool]] = []
        self._extra_handlers: list[logging.Logger] = []
        self._pinned: list[logging.Logger] = []

    def start(self) -> None:
        root = logging.getLogger()
        root.addHandler(self.handler)
        logging.captureWarnings(True)
        names = {*LIBRARY_LOGGERS, *logging.root.manager.loggerDict}
        for logger in [root, *(logging.getLogger(name) for name in sorted(names))]:
            self._saved.append((logger, logger.level, logger.disabled))
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
            if logger is not root and not logger.propagate:
                logger.addHandler(self.handler)
                self._extra_handlers.append(logger)
        # The jira package sets its logger to INFO each time a client is built
        # (JIRA.__init__: LOG.setLevel(INFO)), and `vigil serve` raises the root level to
        # INFO: keep both at DEBUG for this run.
        for logger in (logging.getLogger("jira"), root):
            logger.setLevel = lambda level: None  # type: ignore[method-assign]
            self._pinned.append(logger)

    def stop(self) -> str:
        for logger in self._pinned:
            del logger.setLevel
        for logger, level, disabled in self._saved:
            logger.setLevel(level)  # also clears the isEnabledFor caches
            logger.disabled = disabled
        for logger in self._extra_handlers:
            logger.removeHandler(self.handler)
        logging.getLogger().removeHandler(self.handler)
        logging.captureWarnings(False)
        self._pinned, self._saved, self._extra_handlers = [], [], []
        return self.stream.getvalue()


class Client:
    """The Flask test client, keeping every response it got for the final search."""

    def __init__(self, app) -> None:
        self._client = app.test_client()
        self.seen: list[tuple[str, str]] = []

    def open(self, method: str, url: str, **kwargs):
        response = self._client.open(url, method=method, **kwargs)
        self.seen.append((f"response to {method} {url.split('?')[0]}",
                          f"{response.status}\n{response.headers}\n{response.get_data(as_text=True)}"))
        return response


def zendesk_signed(body: bytes, secret: str = SECRETS["zendesk_webhook_secret"], invocation: str = "inv-1") -> dict:
    return zendesk_headers(body, secret, invocation)


def hub_signed(body: bytes, secret: str, header: str = "X-Hub-Signature") -> dict:
    return hub_headers(body, secret, f"d-{uuid4().hex[:8]}", header)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=T", *args],
                   capture_output=True, text=True, check=True)


# -- the run --------------------------------------------------------------------------------

@pytest.fixture
def kb(tmp_path: Path, knowledge_dir: Path) -> Path:
    """The knowledge and rules in a git repository, as deployed (learning publishes from it)."""
    root = tmp_path / "kb"
    shutil.copytree(knowledge_dir, root / "knowledge")
    shutil.copytree(REPO / "rules", root / "rules")
    write_entry(root / "knowledge", "exports/retry-failed-export", "Make a failed nightly export retry",
                ["export", "E1042", "retry"], """
        Error E1042 means the nightly export hit the plan's row quota.
        1. Open Settings, Exports and turn on "Retry failed exports".
        2. Lower the export's row limit or upgrade the plan.""")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    return root


@pytest.fixture
def servers():
    """Loopback Zendesk, Jira, model and GitHub that refuse or fail everything that matters."""
    with FakeServer() as zendesk, FakeServer() as jira, FakeServer() as model, FakeServer() as github:
        zendesk.script("PUT", ZENDESK_PUT, Reply(429, {"error": "slow down"}, headers={"Retry-After": "1"}),
                       Reply(500, {"error": "InternalError"}), Reply(401, {"error": "Couldn't authenticate you"}))
        zendesk.script("GET", "/api/v2/search/export.json", Reply(401, {"error": "Couldn't authenticate you"}))
        zendesk.script("POST", "/oauth/tokens", Reply(200, {  # the OAuth client (zendesk_oauth_client_secret)
            "access_token": ZENDESK_ACCESS_TOKEN, "token_type": "bearer", "expires_in": 1800,
            "scope": "read tickets:write"}))
        # After the 500 the retry reads the ticket's comments, in case the note landed: it did not.
        zendesk.script("GET", "/api/v2/tickets/35436/comments.json", Reply(200, {
            "comments": [], "meta": {"has_more": False}, "links": {"next": None}}))
        jira.script("GET", f"/rest/api/2/issue/{JIRA_ISSUE}/comment", Reply(200, {
            "startAt": 0, "maxResults": 50, "total": 0, "comments": []}))
        jira.script("GET", f"/rest/api/2/issue/{JIRA_ISSUE}", Reply(200, {"id": "1", "key": JIRA_ISSUE, "fields": {
            "project": {"key": "SUP", "projectTypeKey": "service_desk"}}}))
        jira.script("POST", f"/rest/api/2/issue/{JIRA_ISSUE}/comment",
                    Reply(429, {"errorMessages": ["rate limited"]}, headers={"Retry-After": "1"}),
                    Reply(500, {"errorMessages": ["boom"]}),
                    Reply(401, {"errorMessages": ["You are not authenticated."]}))
        jira.script("GET", "/rest/api/2/serverInfo", Reply(401, {"errorMessages": ["You are not authenticated."]}))
        model.script("POST", "/v1/chat/completions", Reply(500, {"error": {"message": "model is down"}}))
        github.script("GET", f"/repos/{GITHUB_REPO}", Reply(401, {
            "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}))
        yield {"zendesk": zendesk, "jira": jira, "model": model, "github": github}


def webhooks(client: Client) -> None:
    """Good, duplicate, badly signed, malformed, oversized, unknown and wrong-method requests."""
    def post(path: str, body: bytes, headers: dict) -> int:
        return client.open("POST", path, data=body, headers=headers).status_code

    jira_secret, git_secret = SECRETS["jira_webhook_secret"], SECRETS["git_webhook_secret"]
    assert post("/webhooks/zendesk", ZENDESK_BODY, zendesk_signed(ZENDESK_BODY)) == 202
    assert post("/webhooks/zendesk", ZENDESK_BODY, zendesk_signed(ZENDESK_BODY)) == 200  # a retry
    assert post("/webhooks/zendesk", ZENDESK_BODY, zendesk_signed(ZENDESK_BODY, secret="wrong")) == 401
    assert post("/webhooks/zendesk", ZENDESK_BODY, {"Content-Type": "application/json"}) == 401
    for body in (b"{not json", b"[]"):
        assert post("/webhooks/zendesk", body, zendesk_signed(body, invocation="inv-bad")) == 400
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    assert post("/webhooks/zendesk", big, zendesk_signed(big)) == 413
    assert post("/webhooks/jira", JIRA_BODY, hub_signed(JIRA_BODY, jira_secret)) == 202
    assert post("/webhooks/jira", JIRA_BODY, hub_signed(JIRA_BODY, "wrong")) == 401
    assert post("/webhooks/jira", b"{oops", hub_signed(b"{oops", jira_secret)) == 400
    assert post("/webhooks/git", b"{}", hub_signed(b"{}", git_secret, "X-Hub-Signature-256")) == 202
    assert post("/webhooks/git", b"{}", hub_signed(b"{}", "wrong", "X-Hub-Signature-256")) == 401
    assert post("/webhooks/nope", b"{}", {}) == 404
    assert client.open("GET", "/no/such/page").status_code == 404
    assert client.open("GET", "/webhooks/zendesk").status_code == 405
    assert client.open("GET", "/healthz").status_code == 200


def worker_posts_notes(runtime) -> None:
    """The model fails (the offline drafter writes); each helpdesk answers 429, 500, then 401."""
    runtime.housekeeper.pull_merges()  # the signed git push asked for a pull
    runtime.pipeline.handle(replace(msg_event("How do I reset my password?", ticket=JIRA_ISSUE), source="jira"))
    runtime.processor.drain()
    for hours in (1, 2, 3):
        runtime.poster.deliver_notes(now=utcnow() + timedelta(hours=hours))
    notes = {n["source"]: (n["status"], n["last_error"]) for n in runtime.store.notes.list_notes()}
    assert notes["zendesk"][0] == "failed" and "401" in notes["zendesk"][1], notes
    assert notes["jira"][0] == "failed" and "401" in notes["jira"][1], notes


def admin_pages(client: Client) -> None:
    """The dashboard and /metrics: no token, wrong ones, the right one as a header and in the URL."""
    admin = SECRETS["admin_token"]
    for path in ("/dashboard", "/metrics"):
        assert client.open("GET", path).status_code == 401
        assert client.open("GET", path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.open("GET", path, headers={"Authorization": f"Basic {_b64('admin:' + admin)}"}
                           ).status_code == 401
        assert client.open("GET", path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    assert client.open("GET", "/dashboard?token=wrong").status_code == 401
    assert client.open("GET", f"/dashboard?token={admin}&silent=hide").status_code == 303


def database_down(client: Client, runtime) -> None:
    """A PostgreSQL URL with a password that cannot connect: 503 for a webhook and /metrics, 500 page."""
    bearer = {"Authorization": f"Bearer {SECRETS['admin_token']}"}
    sqlite_engine = runtime.store.db.engine
    runtime.store.db.engine = create_engine(driver_url(PG_URL), pool_pre_ping=True)
    try:
        assert client.open("POST", "/webhooks/zendesk", data=ZENDESK_BODY,
                           headers=zendesk_signed(ZENDESK_BODY, invocation="inv-db")).status_code == 503
        assert client.open("GET", "/metrics", headers=bearer).status_code == 503
        assert client.open("GET", "/dashboard", headers=bearer).status_code == 500
    finally:
        runtime.store.db.engine.dispose()
        runtime.store.db.engine = sqlite_engine


def redis_down(client: Client, runtime) -> None:
    """Scale-out with Redis unreachable: the delivery is stored and acknowledged, the failure logged."""
    from plugin.work.queue import TicketQueue
    embedded, runtime.dispatcher = runtime.dispatcher, TicketQueue(REDIS_URL)
    body = ZENDESK_BODY.replace(b'"id": "', b'"id": "redis-', 1)  # another event: the same body is a replay
    try:
        assert client.open("POST", "/webhooks/zendesk", data=body,
                           headers=zendesk_signed(body, invocation="inv-redis")).status_code == 202
    finally:
        runtime.dispatcher = embedded


def cli_runs(monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path, kb: Path) -> list[tuple[str, str]]:
    """`vigil` commands configured through the environment, as deployed; most of them fail."""
    monkeypatch.chdir(tmp_path)  # no stray vigil.toml
    env = {"VIGIL_HOME": str(settings.home), "VIGIL_KNOWLEDGE_DIR": str(settings.knowledge_dir),
           "VIGIL_RULES_DIR": str(settings.rules_dir), "VIGIL_ZENDESK_URL": settings.zendesk_url,
           "VIGIL_ZENDESK_EMAIL": EMAIL, "VIGIL_ZENDESK_OAUTH_CLIENT_ID": ZENDESK_OAUTH_CLIENT,
           "VIGIL_JIRA_URL": settings.jira_url, "VIGIL_JIRA_USER": JIRA_USER,
           "OPENAI_BASE_URL": settings.openai_base_url, "VIGIL_GITHUB_REPO": GITHUB_REPO,
           "VIGIL_GITHUB_API_URL": settings.github_api_url, "OPENAI_API_KEY": SECRETS["openai_api_key"],
           **{f"VIGIL_{name.upper()}": value for name, value in SECRETS.items() if name != "openai_api_key"}}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    outputs = []

    def vigil(*args: str, **extra_env: str) -> tuple[int, str]:
        with monkeypatch.context() as local:
            for name, value in extra_env.items():
                local.setenv(name, value)
            result = CliRunner().invoke(main, ["-v", *args])
        text = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            text += "\n" + "".join(traceback.format_exception(*result.exc_info))  # what a user would see
        outputs.append((f"output of vigil -v {' '.join(args)}", text))
        return result.exit_code, text

    code, text = vigil("notes", "--json")
    assert code == 0 and "zendesk" in text and "jira" in text, text
    code, text = vigil("notes", "retry")
    assert "still failing" in text and "Zendesk answered 401" in text and "Jira answered 401" in text, text
    code, text = vigil("explain", "35436")
    assert code == 0, text

    resolved = tmp_path / "resolved.jsonl"
    resolved.write_text("\n".join(json.dumps({
        "source": c.source, "ticket_id": c.ticket_id, "subject": c.subject, "status": "solved",
        "messages": [{"author_role": m.author_role, "public": m.public, "body": m.body,
                      "created_at": m.created_at.isoformat()} for m in c.messages]}) for c in (GIFT, RESET)))
    code, text = vigil("learn", "--from", str(resolved), "--repo", str(kb))
    assert code == 1 and "GitHub refused" in text and "401" in text, text
    code, text = vigil("learn", "--since", "2026-01-01", "--repo", str(kb), VIGIL_JIRA_WEBHOOK_SECRET="")
    assert code == 1 and "could not list resolved tickets" in text and "Zendesk answered 401" in text, text
    code, text = vigil("learn", "--since", "2026-01-01", "--repo", str(kb), VIGIL_ZENDESK_WEBHOOK_SECRET="")
    assert code == 1 and "could not list resolved tickets" in text and "Jira answered 401" in text, text

    for args in (("notes",), ("db", "upgrade"), ("serve", "--port", str(_free_port()))):
        code, text = vigil(*args, VIGIL_DATABASE_URL=PG_URL)
        assert code != 0 and "127.0.0.1" in text, text  # it did try that server
    code, text = vigil("notes", VIGIL_DATABASE_URL=PG_URL.replace("@127.0.0.1:", "@127.0.0.1:no-port-"))
    assert code != 0, text  # a URL that does not even parse

    broken = tmp_path / "broken.toml"
    broken.write_text("[vigil]\n" + "".join(f'{name} = "{value}"\n' for name, value in SECRETS.items())
                      + f'database_url = "{PG_URL}"\nshadow = tru e\n')
    code, text = vigil("rules", "check", VIGIL_CONFIG=str(broken))
    assert code == 1 and "configuration" in text, text
    misspelt = tmp_path / "misspelt.toml"
    misspelt.write_text(f'[vigil]\nzendesk_tokn = "{SECRETS["zendesk_token"]}"\ndatabase_uri = "{PG_URL}"\n')
    code, text = vigil("knowledge", "check", VIGIL_CONFIG=str(misspelt))
    assert code == 1 and "zendesk_tokn" in text, text
    code, text = vigil("notes", VIGIL_SHADOW="maybe")
    assert code == 1 and "shadow" in text, text
    return outputs


def test_no_secret_in_logs_error_pages_or_cli_output(tmp_path, kb, servers, monkeypatch, capfd):
    zendesk, jira, model, github = (servers[name] for name in ("zendesk", "jira", "model", "github"))
    settings = Settings(
        home=tmp_path / "home", knowledge_dir=kb / "knowledge", rules_dir=kb / "rules",
        zendesk_url=zendesk.url, zendesk_email=EMAIL, zendesk_oauth_client_id=ZENDESK_OAUTH_CLIENT,
        jira_url=jira.url, jira_user=JIRA_USER,
        openai_base_url=f"{model.url}/v1", github_repo=GITHUB_REPO, github_api_url=github.url,
        delivery_backoff_seconds=0.0, **SECRETS)
    logs = AllLogs()
    logs.start()
    try:
        app = create_app(settings, start_worker=False)
        runtime = app.extensions["vigil"]
        client = Client(app)
        try:
            webhooks(client)
            worker_posts_notes(runtime)
            admin_pages(client)
            database_down(client, runtime)
            redis_down(client, runtime)
        finally:
            runtime.close()
        outputs = cli_runs(monkeypatch, settings, tmp_path, kb)
    finally:
        log_text = logs.stop()
    captured = capfd.readouterr()

    # The secrets were in play: sent to the servers (accepted by the app: asserted on the way).
    put = zendesk.received("PUT", ZENDESK_PUT)
    assert len(put) >= 3 and put[0].headers["Authorization"] == f"Bearer {ZENDESK_ACCESS_TOKEN}"
    (token_request, *_) = zendesk.received("POST", "/oauth/tokens")  # OAuth won over the API token
    assert token_request.json()["client_secret"] == SECRETS["zendesk_oauth_client_secret"]
    comments = jira.received("POST", f"/rest/api/2/issue/{JIRA_ISSUE}/comment")
    assert len(comments) >= 3 and comments[0].headers["Authorization"] == "Basic " + needles()["Jira Basic auth"]
    calls = model.received("POST", "/v1/chat/completions")
    assert calls and all(c.headers["Authorization"] == f"Bearer {SECRETS['openai_api_key']}" for c in calls)
    [repo_call, *_] = github.received("GET", f"/repos/{GITHUB_REPO}")
    assert SECRETS["github_token"] in repo_call.headers["Authorization"]
    # The capture works: library loggers at DEBUG, and the failures, are in it.
    for expected in ("DEBUG urllib3.connectionpool", "DEBUG openai", "DEBUG zenpy", "DEBUG jira", "DEBUG github",
                     "DEBUG sqlalchemy", "Zendesk answered 401", "Jira answered 401",
                     "could not store zendesk delivery", "Exception on /dashboard", "could not queue process_ticket"):
        assert expected in log_text, expected
    # The search finds a leak where there is one.
    for needle in needles().values():
        assert find_leaks([("probe", f"before {needle} after")])

    leaks = find_leaks([("the logs", log_text), ("stdout", captured.out), ("stderr", captured.err),
                        *client.seen, *outputs])
    assert not leaks, "\n".join(leaks)
