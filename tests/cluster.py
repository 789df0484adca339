"""Real processes for the scale-out tests and benchmark: PostgreSQL, Redis, `vigil serve`, `vigil worker`.

Everything runs on loopback: a schema of its own in the machine's PostgreSQL (or a private
PostgreSQL cluster that a test may restart), a private redis-server that a test may kill,
and the plugin's own command-line entry points as subprocesses, as an operator runs them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import requests
from sqlalchemy import create_engine, text

from .signing import zendesk_headers

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = json.loads((REPO / "tests/fixtures/zendesk/ticket.comment_added__customer_public.json").read_text())
SECRET = "cluster-webhook-secret"
ADMIN_URL = os.environ.get("VIGIL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
QUESTIONS = ["How do I reset my password?", "Can I change the shipping address on my order?",
             "My card keeps getting declined at checkout, why?", "How long does a refund take?",
             "How do I cancel my subscription?", "Where can I download my invoice?"]


# The model's settings come from the openai client's own variables (vigil.example.toml).
_ENV_NAMES = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise TimeoutError(f"waited {timeout:g} s for {what}")


def zendesk_delivery(n: int, ticket: str, text: str | None = None) -> tuple[bytes, dict[str, str]]:
    """Signed Zendesk event-subscription delivery number n: a customer's comment on a ticket."""
    body = json.loads(json.dumps(TEMPLATE))
    now = datetime.now(timezone.utc)
    body["id"] = f"delivery-{n}"
    body["time"] = now.isoformat().replace("+00:00", "Z")  # a comment made now, not in the fixture's 2025
    body["detail"]["updated_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    body["subject"] = f"zen:ticket:{ticket}"
    body["detail"]["id"] = ticket
    body["event"]["comment"]["id"] = str(900_000 + n)
    body["event"]["comment"]["body"] = text or QUESTIONS[n % len(QUESTIONS)]
    raw = json.dumps(body).encode()
    return raw, zendesk_headers(raw, SECRET, f"inv-{n}", now)


@contextmanager
def postgres_schema(admin_url: str = ADMIN_URL) -> Iterator[str]:
    """A fresh schema in an existing PostgreSQL; yields a plain postgresql:// URL that uses it."""
    import psycopg
    schema = f"vigil_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{admin_url}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


class RedisServer:
    """A private redis-server on a free port, that a test may stop and start again."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _answers(self.port), 10, "redis-server")

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb as the postgres user), to restart at will."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self):
        # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
        self.folder = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def available() -> str | None:
        """Why a private cluster cannot run here, or None."""
        if shutil.which("initdb") is None and not (PrivatePostgres.BIN / "initdb").exists():
            return "no initdb"
        if os.geteuid() != 0 and shutil.which("runuser") is None:
            return "not root"
        return None

    def _as_postgres(self, *command: str) -> None:
        tool = shutil.which(command[0]) or str(self.BIN / command[0])
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, tool, *command[1:]], check=True, capture_output=True, timeout=60)

    def create(self) -> None:
        self.folder.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._as_postgres("initdb", "-D", str(self.folder / "data"), "-A", "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w",
                          "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.folder, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Cluster:
    """`vigil serve` and `vigil worker` processes sharing one home, database and Redis."""

    def __init__(self, home: Path, **settings: str):
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "OPENAI_"))}
        self.env.update(VIGIL_HOME=str(home), VIGIL_ZENDESK_WEBHOOK_SECRET=SECRET,
                        VIGIL_KNOWLEDGE_DIR=str(REPO / "knowledge"), VIGIL_RULES_DIR=str(REPO / "rules"),
                        PYTHONUNBUFFERED="1")
        self.env.update({_ENV_NAMES.get(k, f"VIGIL_{k.upper()}"): v for k, v in settings.items()})
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = self.home / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        process = subprocess.Popen([sys.executable, "-m", "plugin.cli", "-v", *args], env=self.env, cwd=REPO,
                                   stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def serve(self, web_workers: int = 2) -> tuple[subprocess.Popen, str]:
        port = free_port()
        self.env["VIGIL_WEB_WORKERS"] = str(web_workers)
        process = self._start("serve", "serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"vigil serve exited: {self.logs[-1].read_text()[-2000:]}")
            try:
                return requests.get(f"{url}/healthz", timeout=1).ok
            except requests.RequestException:
                return False
        wait_for(healthy, 60, "vigil serve")
        return process, url

    def worker(self) -> subprocess.Popen:
        process = self._start("worker", "worker")
        wait_for(lambda: "taking tickets" in self.logs[-1].read_text() or process.poll() is not None,
                 60, "vigil worker")
        assert process.poll() is None, self.logs[-1].read_text()
        return process

    def log_text(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs)

    def stop(self, timeout: float = 30) -> list[int | None]:
        """SIGTERM every process, wait; return their exit codes (None: had to be killed)."""
        for p in self.processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        codes = []
        for p in self.processes:
            try:
                codes.append(p.wait(timeout))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                codes.append(None)
        return codes


def sqlite_scalar(home: Path, sql: str) -> Any:
    """One value read from a `vigil serve`'s SQLite database in `home`, as a separate process sees it."""
    engine = create_engine(f"sqlite:///{home}/vigil.db")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()
