"""Scale-out: two web processes and two workers on PostgreSQL and Redis, signed webhooks at a rate.

Starts `vigil serve` (VIGIL_WEB_WORKERS=2, gunicorn) and two `vigil worker` processes on a
fresh schema of the machine's PostgreSQL and a private redis-server, with a loopback
Zendesk that accepts notes. Sends N signed deliveries over T tickets, D % of them sent a
second time (the helpdesk's retries), from many client threads at R per second, open loop
(each request leaves at its scheduled moment, however slow the earlier ones are). Then
waits until every delivery is decided and every note posted, and prints: ack latency p50
and p99, the achieved rate, time until the last note, lost deliveries (acknowledged but not
decided: must be 0) and duplicate notes (posted twice: must be 0). The second run kills one
worker with SIGKILL halfway through sending.

Run from the repository root: python benchmarks/scale.py [--requests N] [--rate R]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the test harness starts the processes as an operator would

from plugin.store import driver_url  # noqa: E402
from tests.cluster import Cluster, RedisServer, postgres_schema, wait_for, zendesk_delivery  # noqa: E402
from tests.fakehttp import FakeServer, Reply  # noqa: E402


def note_reply(_request) -> Reply:
    return Reply(200, {"ticket": {"id": 1}, "audit": {"id": 1, "events": [
        {"id": 9, "type": "Comment", "public": False, "body": "x"}]}})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace, kill_a_worker: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp, FakeServer() as helpdesk, postgres_schema() as db_url:
        helpdesk.fallback = note_reply
        redis = RedisServer(Path(tmp))
        redis.start()
        home = Path(tmp) / "home"
        home.mkdir()
        cluster = Cluster(home, database_url=db_url, redis_url=redis.url, zendesk_url=helpdesk.url,
                          zendesk_email="bot@example.org", zendesk_token="bench-token", lease_seconds="10",
                          webhook_rate_limit="10000")  # the bench measures throughput, not the limiter
        engine = create_engine(driver_url(db_url))
        try:
            _, url = cluster.serve(web_workers=2)
            workers = [cluster.worker(), cluster.worker()]
            plan = [(n, str(10_000 + n % args.tickets)) for n in range(args.requests)]
            plan += plan[:: round(100 / args.duplicates)]  # retries of some deliveries...
            plan.sort(key=lambda p: (p[0] + 0.5) / args.requests)  # ...sent right after the first try
            bodies = [zendesk_delivery(n, ticket) for n, ticket in plan]
            latencies: list[float] = []
            answers: Counter = Counter()
            acknowledged: set[int] = set()
            lock = threading.Lock()
            start = time.monotonic() + 0.5
            killed = threading.Event()

            def send(thread: int) -> None:
                session = requests.Session()
                for i in range(thread, len(plan), args.threads):
                    due = start + i / args.rate
                    time.sleep(max(0.0, due - time.monotonic()))
                    if kill_a_worker and i >= len(plan) // 2 and not killed.is_set():
                        with lock:
                            if not killed.is_set():
                                os.kill(workers[0].pid, signal.SIGKILL)
                                killed.set()
                    raw, headers = bodies[i]
                    try:
                        status = session.post(f"{url}/webhooks/zendesk", data=raw, headers=headers,
                                              timeout=30).status_code
                    except requests.RequestException as exc:
                        status = type(exc).__name__
                    with lock:
                        latencies.append(time.monotonic() - due)
                        answers[status] += 1
                        if status in (200, 202):
                            acknowledged.add(plan[i][0])

            threads = [threading.Thread(target=send, args=(t,)) for t in range(args.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent_for = time.monotonic() - start

            def finished() -> bool:
                with engine.connect() as conn:
                    return conn.execute(text("SELECT count(*) FROM deliveries WHERE state = 'pending'")).scalar() == 0 \
                        and conn.execute(text("SELECT count(*) FROM notes WHERE status = 'drafted'")).scalar() == 0
            wait_for(finished, 600, "every delivery decided and every note posted", every=0.2)
            with engine.connect() as conn:
                decided = {int(d.removeprefix("inv-")) for d in conn.execute(
                    text("SELECT delivery_id FROM deliveries WHERE state = 'done'")).scalars()}
                failed = conn.execute(text("SELECT count(*) FROM deliveries WHERE state = 'failed'")).scalar()
                notes = conn.execute(text("SELECT count(*) FROM notes WHERE status = 'delivered'")).scalar()
                last = conn.execute(text("SELECT max(delivered_at) FROM notes")).scalar()
                first = conn.execute(text("SELECT min(received_at) FROM deliveries")).scalar()
            posted = [r for r in helpdesk.requests if r.method == "PUT"]
            bodies_posted = Counter((r.path, r.body) for r in posted)
            return {
                "requests": len(plan), "answers": dict(answers), "rate": len(plan) / sent_for,
                "ack_p50_ms": 1000 * statistics.median(latencies), "ack_p99_ms": 1000 * percentile(latencies, 0.99),
                "last_note_s": (last - first).total_seconds() if last else None,
                "lost": len(acknowledged - decided), "failed": failed, "notes": notes,
                "duplicate_notes": len(posted) - notes + sum(c - 1 for c in bodies_posted.values() if c > 1),
                "killed": killed.is_set(),
            }
        finally:
            engine.dispose()
            cluster.stop()
            redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--duplicates", type=float, default=10.0, help="percent sent twice")
    parser.add_argument("--rate", type=float, default=250.0, help="requests per second")
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d}; 2 web processes (gunicorn gthread), 2 workers, "
          f"PostgreSQL + Redis on the same machine, offline drafter")
    for kill in (False, True):
        r = run(args, kill)
        print(f"{'one worker SIGKILLed halfway' if kill else 'all workers running':>30}: "
              f"{r['requests']} requests at {r['rate']:.0f}/s -> {r['answers']}; "
              f"ack p50 {r['ack_p50_ms']:.1f} ms, p99 {r['ack_p99_ms']:.1f} ms; "
              f"last note {r['last_note_s']:.1f} s after the first delivery; {r['notes']} notes; "
              f"lost {r['lost']}, failed {r['failed']}, duplicate notes {r['duplicate_notes']}")


if __name__ == "__main__":
    main()
