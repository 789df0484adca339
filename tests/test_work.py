"""The deciding side's parts: processor, housekeeper, the dispatchers, `vigil serve`'s decider."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import event

from connectors.events import Delivery, TicketRef
from plugin.model import utcnow
from plugin.runtime import Runtime, build_runtime
from plugin.web.app import create_app
from plugin.work.dispatch import Wake

from .cluster import Cluster, sqlite_scalar, wait_for, zendesk_delivery
from .conftest import REPO, write_entry
from .test_pipeline import T0, msg_event


def decisions(rt) -> list[tuple[str, str]]:
    with rt.store.db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT event_kind, action FROM decisions ORDER BY id")]


# -- defect 11: a lease that could not be renewed stops the work on that ticket -----------------

def test_a_processor_that_loses_its_ticket_lease_stops_deciding_that_ticket(settings, monkeypatch):
    rt = build_runtime(settings.replace(lease_seconds=0.3), with_connectors=False)
    try:
        for i in range(3):
            rt.store.inbox.accept(Delivery("zendesk", f"d{i}", (msg_event(f"Question {i}: how do I reset my password?",
                                                                   minutes=i, mid=f"c{i}"),)))
        real = rt.pipeline.handle

        def slow(event, *args, **kwargs):
            outcomes = real(event, *args, **kwargs)
            time.sleep(0.35)  # the lease runs out while this event is decided...
            assert rt.store.inbox.take_lease("ticket:zendesk:42", "another-worker", 10)  # ...and another takes the ticket
            return outcomes
        monkeypatch.setattr(rt.pipeline, "handle", slow)
        rt.processor.process_ticket("zendesk:42")
        assert len(decisions(rt)) == 1  # the rest is the new holder's, in order
        assert len(rt.store.inbox.pending_deliveries("zendesk:42")) == 2
    finally:
        rt.close()


# -- defects 8 and 13: one sweep, in production and here; silence leaves no row -------------------

def test_the_housekeepers_sweep_is_the_one_that_runs_and_stores_no_silence(runtime):
    runtime.pipeline.handle(msg_event("My jacket arrived torn, what now?"))
    stored = decisions(runtime)
    for hours in (1, 2, 3):  # nothing to say yet: no row, pass after pass
        assert runtime.housekeeper.sweep(T0 + timedelta(hours=hours)) == []
    assert decisions(runtime) == stored
    assert runtime.store.inbox.take_lease("ticket:zendesk:42", "a-worker-deciding-it", 10)
    assert runtime.housekeeper.sweep(T0 + timedelta(hours=5)) == []  # held: offered at the next sweep
    runtime.store.inbox.release_lease("ticket:zendesk:42", "a-worker-deciding-it")
    runtime.housekeeper.keep(T0 + timedelta(hours=5))  # the loop's pass: it keeps house, so it sweeps
    assert decisions(runtime) == stored + [("sweep", "nudge")]


# -- defect 12: a merge reaches every worker's index, on every machine -----------------------------

def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=T", *args], cwd=cwd,
                          capture_output=True, text=True, check=True).stdout


def test_a_merge_reaches_the_index_of_a_worker_on_another_machine(tmp_path, settings, knowledge_dir):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(knowledge_dir, "init", "-q", "-b", "main")
    git(knowledge_dir, "add", ".")
    git(knowledge_dir, "commit", "-qm", "base")
    git(knowledge_dir, "push", "-q", str(origin), "main")
    machines = {}
    for name in ("a", "b"):  # two machines: a checkout and an index each, one database
        git(tmp_path, "clone", "-q", str(origin), f"kb-{name}")
        machines[name] = settings.replace(knowledge_dir=tmp_path / f"kb-{name}", home=tmp_path / f"home-{name}",
                                          database_url=f"sqlite:///{tmp_path}/shared.db", git_webhook_secret="push")
    a, b = (build_runtime(s, with_connectors=False) for s in machines.values())
    web = create_app(machines["a"], dispatcher=Wake())
    try:
        a.housekeeper.keep(T0)  # a keeps house; b does not
        b.housekeeper.keep(T0)
        assert a.housekeeper.keeper and not b.housekeeper.keeper
        git(tmp_path, "clone", "-q", str(origin), "editor")  # a proposal merged on the git host
        write_entry(tmp_path / "editor", "learned/gift-wrap", "Add gift wrapping", ["gift"],
                    "Gift wrapping can be added until the order ships.")
        git(tmp_path / "editor", "add", ".")
        git(tmp_path / "editor", "commit", "-qm", "merge")
        git(tmp_path / "editor", "push", "-q", "origin", "main")
        body = b'{"ref": "refs/heads/main"}'
        signature = "sha256=" + hmac.new(b"push", body, hashlib.sha256).hexdigest()
        assert web.test_client().post("/webhooks/git", data=body,
                                      headers={"X-Hub-Signature-256": signature}).status_code == 202
        b.housekeeper.keep(T0)  # its next pass
        assert b.index.search("gift wrapping order")[0].entry_id == "learned/gift-wrap"
        a.housekeeper.keep(T0)
        assert a.index.search("gift wrapping order")[0].entry_id == "learned/gift-wrap"
    finally:
        web.extensions["vigil"].close()
        a.close()
        b.close()


# -- defect 10: one CSRF token for every web process ------------------------------------------------

def test_the_dashboards_form_token_is_accepted_by_another_web_process(settings, runtime):
    runtime.pipeline.handle(msg_event("How do I reset my password?"))
    [note] = runtime.store.notes.list_notes(TicketRef("zendesk", "42"))
    runtime.store.notes.mark_note(note["id"], status="failed", attempts=5, last_error="Zendesk answered 500")
    settings = settings.replace(admin_token="admin-t0ken")
    first, second = (create_app(settings, dispatcher=Wake()) for _ in range(2))  # two gunicorn processes
    try:
        auth = {"Authorization": "Bearer admin-t0ken"}
        page = first.test_client().get("/dashboard", headers=auth).text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        retry = f"/dashboard/notes/{note['id']}/retry"
        assert second.test_client().post(retry, data={"csrf": "0" * 64}, headers=auth).status_code == 403
        answer = second.test_client().post(retry, data={"csrf": csrf}, headers=auth)
        assert answer.status_code == 303 and "retry=queued" in answer.headers["Location"]
    finally:
        first.extensions["vigil"].close()
        second.extensions["vigil"].close()


# -- web processes that decide nothing build nothing to decide with ---------------------------------

def test_a_web_process_with_a_queue_builds_no_index_and_no_rules(settings):
    app = create_app(settings.replace(redis_url="redis://127.0.0.1:1/0"))
    try:
        runtime = app.extensions["vigil"]
        assert not isinstance(runtime, Runtime) and not hasattr(runtime, "engine")
        assert not settings.index_dir.exists()
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        app.extensions["vigil"].close()


# -- defect 14: POSIX only, said the same way everywhere ---------------------------------------------

def test_the_package_says_it_runs_on_posix_and_has_no_windows_branches():
    setup = (REPO / "setup.cfg").read_text()
    assert "Operating System :: POSIX" in setup and "win32" not in setup
    assert "win32" not in (REPO / "plugin/web/serving.py").read_text()
    assert "POSIX" in (REPO / "README.md").read_text()


# -- `vigil serve`'s decider process ------------------------------------------------------------------

def pending(home: Path) -> int:
    return sqlite_scalar(home, "SELECT count(*) FROM deliveries WHERE state = 'pending'")


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_serve_decides_in_a_child_process_restarted_if_it_dies_and_stopped_with_the_server(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    c = Cluster(home, shadow="1")
    web, url = c.serve(web_workers=1)
    try:
        def post(n: int) -> int:
            raw, headers = zendesk_delivery(n, "6001")
            return requests.post(f"{url}/webhooks/zendesk", data=raw, headers=headers, timeout=15).status_code
        assert post(1) == 202
        wait_for(lambda: pending(home) == 0, 60, "the decider to decide it")
        [decider] = wait_for(lambda: children(web.pid) or None, 30, "the decider process")
        os.kill(decider, signal.SIGKILL)
        [again] = wait_for(lambda: [p for p in children(web.pid) if p != decider] or None, 30, "a new decider")
        assert post(2) == 202
        wait_for(lambda: pending(home) == 0, 60, "the new decider to decide it")
    finally:
        codes = c.stop()
    assert codes == [0], c.log_text()[-3000:]
    assert "starting another" in c.log_text() and "Traceback" not in c.log_text()
    assert not os.path.exists(f"/proc/{again}") or open(f"/proc/{again}/stat").read().split()[2] == "Z"


# -- issue 11: the decider's commits do not hold SQLite's write lock through an fsync ---------

def commit_levels(rt) -> list[int]:
    """PRAGMA synchronous at each commit of the runtime's store, from now on (2 waits for the disk)."""
    levels: list[int] = []
    event.listen(rt.store.db.engine, "commit", lambda conn: levels.append(
        conn.connection.driver_connection.execute("PRAGMA synchronous").fetchone()[0]))
    return levels


def test_the_deciders_commits_do_not_wait_for_the_disk_but_a_notes_claim_and_the_web_do(settings):
    decider = build_runtime(settings, with_connectors=False, durable_commits=False)
    web = build_runtime(settings, with_connectors=False)
    try:
        by_decider, by_web = commit_levels(decider), commit_levels(web)
        [outcome] = decider.pipeline.handle(msg_event("How do I reset my password?"))
        assert outcome.note is not None and by_decider and set(by_decider) == {1}  # NORMAL: no fsync
        note = decider.store.notes.notes_due(utcnow())[0]
        del by_decider[:]
        assert decider.store.notes.claim_note(note.id, utcnow())  # then the note leaves the machine
        decider.store.inbox.take_lease("ticket:zendesk:42", "decider", 10)
        assert by_decider[0] == 2 and set(by_decider[1:]) == {1}  # FULL for the claim only, and back
        web.store.inbox.accept(Delivery("zendesk", "d-1", [msg_event("Where is my parcel?", ticket="43")]), b"{}")
        assert by_web == [2]  # the acknowledgement's write is on disk before the 202
    finally:
        decider.close()
        web.close()


def test_a_processs_sqlite_writes_take_turns_rather_than_poll_the_lock(settings):
    """A second writer waits its turn before its transaction begins, woken by the first's
    commit, not inside SQLite's busy handler (which sleeps up to 100 ms between tries)."""
    import threading
    web = build_runtime(settings, with_connectors=False)
    try:
        db, times = web.store.db, {}

        def first() -> None:
            with db.write() as conn:
                conn.exec_driver_sql("UPDATE leases SET holder = holder")  # takes SQLite's write lock
                times["first began"] = time.monotonic()
                time.sleep(0.3)
                times["first ends"] = time.monotonic()  # its commit comes next

        def second() -> None:
            with db.write() as conn:
                times["second began"] = time.monotonic()
                conn.exec_driver_sql("UPDATE leases SET holder = holder")

        a = threading.Thread(target=first)
        a.start()
        wait_for(lambda: "first began" in times or None, 10, "the first writer")
        b = threading.Thread(target=second)
        b.start()
        a.join()
        b.join()
        assert times["second began"] > times["first ends"]  # queued before BEGIN, not in the busy handler
    finally:
        web.close()
