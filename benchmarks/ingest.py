"""Signed webhooks into a real `vigil serve` on loopback: ack latency, loss, server memory.

Starts the server (waitress and its decider process, SQLite, shadow mode so no helpdesk API
is called), sends N signed Zendesk event-subscription deliveries at a sustained rate from a
few client threads, then waits until the worker has processed them all. Prints the ack
latency (p50, p99), the achieved rate, deliveries lost (sent with a 2xx but not stored, or
never processed: must be 0), the time until the last one was processed, and the server's
peak resident memory. Run: python benchmarks/ingest.py [--requests N] [--rate R]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the signed deliveries come from the test harness

from tests.cluster import SECRET, free_port, zendesk_delivery  # noqa: E402

QUESTIONS = ["How do I reset my password?", "Can I change the shipping address on my order?",
             "My card keeps getting declined at checkout, why?", "Thanks, that worked!",
             "This is unacceptable, I was charged twice!", "How long does a refund take?"]


def delivery(i: int, tickets: int) -> tuple[bytes, dict]:
    return zendesk_delivery(i, str(10_000 + i % tickets), QUESTIONS[i % len(QUESTIONS)])


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(l for l in status if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def children(pid: int) -> list[int]:
    """The server's child processes (the decider), read before it stops them."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0, help="target deliveries per second")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d}")
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        env = dict(os.environ, VIGIL_HOME=home, VIGIL_ZENDESK_WEBHOOK_SECRET=SECRET, VIGIL_SHADOW="1",
                   VIGIL_KNOWLEDGE_DIR=str(REPO / "knowledge"), VIGIL_RULES_DIR=str(REPO / "rules"))
        server = subprocess.Popen([sys.executable, "-m", "plugin.cli", "serve", "--port", str(port)],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(1200):  # a loaded machine can take a minute to start it
                try:
                    requests.get(f"{url}/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            else:
                raise SystemExit("vigil serve did not answer /healthz within two minutes")
            latencies, statuses, lock = [], [], threading.Lock()
            interval = args.threads / args.rate
            started = time.perf_counter()

            def client(worker: int) -> None:
                session = requests.Session()
                for n, i in enumerate(range(worker, args.requests, args.threads)):
                    due = started + n * interval
                    time.sleep(max(0.0, due - time.perf_counter()))  # a sustained, not a burst, rate
                    body, headers = delivery(i, args.tickets)
                    t = time.perf_counter()
                    status = session.post(f"{url}/webhooks/zendesk", data=body, headers=headers, timeout=30).status_code
                    with lock:
                        latencies.append(time.perf_counter() - t)
                        statuses.append(status)

            threads = [threading.Thread(target=client, args=(w,)) for w in range(args.threads)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent_for = time.perf_counter() - started
            db = sqlite3.connect(Path(home) / "vigil.db")
            while db.execute("select count(*) from deliveries where state = 'pending'").fetchone()[0]:
                time.sleep(0.2)
            drained = time.perf_counter() - started
            stored = db.execute("select count(*) from deliveries where state = 'done'").fetchone()[0]
            decisions = db.execute("select count(*) from decisions").fetchone()[0]
            memory = peak_rss_mb(server.pid)
            child_memory = [peak_rss_mb(child) for child in children(server.pid)]
        finally:
            server.terminate()
            server.wait(timeout=30)
    accepted = sum(s == 202 for s in statuses)
    ordered = sorted(latencies)
    print(f"deliveries: {args.requests} over {args.tickets} tickets, {args.threads} client threads, "
          f"target {args.rate:.0f}/s, achieved {args.requests / sent_for:.0f}/s")
    print(f"ack latency: p50 {statistics.median(ordered) * 1e3:.1f} ms, p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1e3:.1f} ms")
    print(f"answers: {accepted} x 202, {len(statuses) - accepted} other ({sorted(set(statuses))})")
    print(f"lost: {accepted - stored} (accepted but not processed); decisions recorded: {decisions}")
    print(f"last delivery processed {drained:.1f} s after the first was sent")
    print(f"server peak resident memory: {memory:.0f} MB"
          + "".join(f", its child process {m:.0f} MB" for m in child_memory))


if __name__ == "__main__":
    main()
