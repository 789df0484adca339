"""Scale-out against the real services: `vigil serve` (gunicorn) and `vigil worker` processes on
PostgreSQL and Redis, with the faults the issue names injected for real.

Skipped where PostgreSQL or redis-server is missing, except in CI, which must run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter, defaultdict

import pytest
import requests
from sqlalchemy import create_engine, text

from plugin.store import driver_url

from .cluster import Cluster, PrivatePostgres, RedisServer, wait_for, zendesk_delivery
from .fakehttp import FakeServer, Reply

def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the scale-out tests: {why}")
        pytest.skip(why)


@pytest.fixture
def redis(tmp_path):
    _need(shutil.which("redis-server") is not None, "no redis-server")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def note_reply() -> Reply:
    return Reply(200, {"ticket": {"id": 1}, "audit": {"id": 1, "events": [
        {"id": 9, "type": "Comment", "public": False, "body": "x"}]}})


@pytest.fixture
def helpdesk():
    with FakeServer() as server:
        server.fallback = lambda request: note_reply()  # every ticket's PUT succeeds
        yield server


@pytest.fixture
def slow_model():
    """A model endpoint that takes its time and then fails: every answer is a long job
    (the offline drafter writes the note after it), so a kill lands mid-job."""
    with FakeServer() as server:
        server.fallback = lambda request: Reply(500, {"error": "overloaded"}, delay=0.6)
        yield server


def cluster(tmp_path, pg_url, helpdesk, **settings) -> Cluster:
    home = tmp_path / "home"
    home.mkdir()
    return Cluster(home, database_url=pg_url, zendesk_url=helpdesk.url, zendesk_email="bot@example.org",
                   zendesk_token="zendesk-api-token", lease_seconds="4", delivery_backoff_seconds="0.5",
                   **settings)


def query(pg_url: str, sql: str) -> list:
    engine = create_engine(driver_url(pg_url))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).all()
    finally:
        engine.dispose()


def all_done(pg_url: str) -> bool:
    [(waiting,)] = query(pg_url, "SELECT count(*) FROM deliveries WHERE state = 'pending'")
    [(undelivered,)] = query(pg_url, "SELECT count(*) FROM notes WHERE status = 'drafted'")
    return waiting == 0 and undelivered == 0


def post(url: str, n: int, ticket: str) -> int:
    raw, headers = zendesk_delivery(n, ticket)
    return requests.post(f"{url}/webhooks/zendesk", data=raw, headers=headers, timeout=15).status_code


def assert_exactly_once(pg_url: str, helpdesk: FakeServer, comments: int) -> None:
    """Every comment stored and decided once, every note posted once, in order per ticket."""
    assert query(pg_url, "SELECT state, count(*) FROM deliveries GROUP BY state") == [("done", comments)]
    [(messages,)] = query(pg_url, "SELECT count(*) FROM messages")
    assert messages == comments
    decided = query(pg_url, "SELECT ticket, message_position, rule, count(*) FROM decisions "
                            "GROUP BY ticket, message_position, rule HAVING count(*) > 1")
    assert decided == []  # no event decided twice
    notes = query(pg_url, "SELECT t.ticket_id, n.id, n.status, n.body FROM notes n JOIN tickets t "
                          "ON t.id = n.ticket ORDER BY n.id")
    assert notes and {status for _, _, status, _ in notes} == {"delivered"}
    posted = defaultdict(list)
    for request in helpdesk.requests:
        if request.method == "PUT":
            posted[request.path.split("/")[-1].removesuffix(".json")].append(
                request.json()["ticket"]["comment"]["html_body"])
    expected = defaultdict(list)
    for ticket_id, _, _, _ in notes:
        expected[ticket_id].append(1)
    assert {t: len(p) for t, p in posted.items()} == {t: len(e) for t, e in expected.items()}  # no duplicates
    # Per ticket, the helpdesk received the notes in the order they were decided.
    [(ordered,)] = query(pg_url, "SELECT count(*) FROM notes n1 JOIN notes n2 ON n1.ticket = n2.ticket "
                                 "AND n1.id < n2.id AND n1.delivered_at > n2.delivered_at")
    assert ordered == 0


def test_two_web_and_two_workers_decide_once_even_when_a_worker_is_killed_mid_job(
        tmp_path, pg_url, redis, helpdesk, slow_model):
    c = cluster(tmp_path, pg_url, helpdesk, redis_url=redis.url, openai_base_url=slow_model.url,
                openai_api_key="model-key", llm_timeout_seconds="5")
    web, url = c.serve(web_workers=2)
    first, second = c.worker(), c.worker()
    try:
        sent = [(n, str(5000 + n % 8)) for n in range(32)]
        duplicates = sent[::8]  # the helpdesk's retries, arriving at the same time as the first try
        answers: list[int] = []
        threads = [threading.Thread(target=lambda n=n, t=t: answers.append(post(url, n, t)))
                   for n, t in sent + duplicates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(Counter(answers).items()) == [(200, len(duplicates)), (202, len(sent))]
        # Kill the first worker while it holds a ticket, i.e. in the middle of deciding it.
        wait_for(lambda: slow_model.requests and query(
            pg_url, f"SELECT name FROM leases WHERE name LIKE 'ticket:%' AND holder LIKE '%:{first.pid}:%'"),
            30, "the first worker to hold a ticket while the workers draft", every=0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        wait_for(lambda: all_done(pg_url), 120, "every delivery decided and every note posted", every=0.5)
        assert_exactly_once(pg_url, helpdesk, comments=len(sent))
        assert second.poll() is None
    finally:
        codes = c.stop()
    assert codes[0] == 0 and codes[2] == 0, c.log_text()[-3000:]  # web and surviving worker: clean stop


def test_postgresql_restarting_gets_503_never_a_2xx_then_the_retries_are_stored(tmp_path, helpdesk):
    why = PrivatePostgres.available()
    _need(why is None, f"cannot run a private PostgreSQL: {why}")
    pg = PrivatePostgres()
    pg.create()
    try:
        c = cluster(tmp_path, pg.url, helpdesk)
        web, url = c.serve(web_workers=2)
        try:
            assert post(url, 1, "7001") == 202
            pg.stop()
            during = [post(url, n, "7002") for n in range(2, 8)]
            assert during == [503] * 6  # not stored, so not acknowledged: the helpdesk will retry
            pg.start()
            retried = wait_for(lambda: [post(url, n, "7002") for n in range(2, 8)]
                               if post(url, 99, "7003") == 202 else None, 30, "the web processes to reconnect")
            assert retried == [202] * 6
            wait_for(lambda: all_done(pg.url), 60, "the retried deliveries to be decided")
            [(stored,)] = query(pg.url, "SELECT count(*) FROM deliveries")
            assert stored == 8  # 1 before, 6 retried, 1 probe: each once
        finally:
            codes = c.stop()
        assert codes == [0], c.log_text()[-3000:]
        assert "could not store zendesk delivery" in c.log_text()
    finally:
        pg.destroy()


def test_redis_down_deliveries_wait_in_the_database_and_are_queued_when_it_returns(
        tmp_path, pg_url, redis, helpdesk):
    c = cluster(tmp_path, pg_url, helpdesk, redis_url=redis.url)
    web, url = c.serve(web_workers=2)
    worker = c.worker()
    try:
        assert post(url, 1, "8001") == 202
        wait_for(lambda: all_done(pg_url), 30, "the first delivery")
        redis.stop()
        assert [post(url, n, "8002") for n in range(2, 6)] == [202] * 4  # stored: the database is the record
        time.sleep(2)
        [(waiting,)] = query(pg_url, "SELECT count(*) FROM deliveries WHERE state = 'pending'")
        assert waiting == 4  # nobody could be told, nothing was lost
        redis.start()  # empty: the jobs that could not be queued are not there
        wait_for(lambda: all_done(pg_url), 60, "the housekeeper to queue them again", every=0.5)
        assert_exactly_once(pg_url, helpdesk, comments=5)
        assert worker.poll() is None
    finally:
        codes = c.stop()
    assert codes == [0, 0], c.log_text()[-3000:]
    assert "could not queue process_ticket" in c.log_text()


def test_sigterm_lets_a_worker_finish_the_ticket_in_hand(tmp_path, pg_url, redis, helpdesk, slow_model):
    c = cluster(tmp_path, pg_url, helpdesk, redis_url=redis.url, openai_base_url=slow_model.url,
                openai_api_key="model-key", llm_timeout_seconds="5")
    web, url = c.serve(web_workers=2)
    worker = c.worker()
    try:
        assert post(url, 1, "9001") == 202
        wait_for(lambda: slow_model.requests, 30, "the worker to ask the model, mid-job", every=0.02)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        # It finished what it held: the delivery is decided, not left half-done for another worker.
        assert query(pg_url, "SELECT state FROM deliveries") == [("done",)]
        assert query(pg_url, "SELECT count(*) FROM decisions") == [(1,)]
        assert query(pg_url, "SELECT drafter FROM notes") == [("extractive",)]  # after the model failed
        web.send_signal(signal.SIGTERM)
        assert web.wait(30) == 0
    finally:
        c.stop()
    assert "vigil: worker stopped" in c.log_text()  # run_worker returned: not killed, no traceback
    assert "Traceback" not in c.log_text()
