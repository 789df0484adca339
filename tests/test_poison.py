"""A poison message against a real `vigil serve` process (issue 11 defect 1).

One 64,000-character comment without a space took about 40 s to decide and stalled
/healthz for up to 20 s meanwhile (the regex held the interpreter lock). Here it must be
decided in seconds (well under one on an idle machine) while /healthz keeps answering.
The bounds are generous for a loaded test machine; the old code missed them by tens of seconds.
"""

from __future__ import annotations

import statistics
import time

import requests
from .cluster import Cluster, sqlite_scalar, wait_for, zendesk_delivery


def delivery_state(home) -> str | None:
    return sqlite_scalar(home, "SELECT state FROM deliveries")


def test_a_64k_comment_without_spaces_is_decided_quickly_and_healthz_answers_meanwhile(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    cluster = Cluster(home)
    try:
        _, url = cluster.serve(web_workers=1)  # one process: the worker thread shares it with the web
        body, headers = zendesk_delivery(1, "77", "x" * 64_000 + " how do I fix this?")
        sent = time.monotonic()
        assert requests.post(f"{url}/webhooks/zendesk", data=body, headers=headers, timeout=30).status_code == 202
        health = []
        while delivery_state(home) == "pending" and time.monotonic() - sent < 60:
            started = time.monotonic()
            assert requests.get(f"{url}/healthz", timeout=30).ok
            health.append(time.monotonic() - started)
            time.sleep(0.02)
        decided = time.monotonic() - sent
        assert delivery_state(home) == "done"
        print(f"decided in {decided:.2f} s; /healthz median {statistics.median(health) * 1000:.0f} ms, "
              f"max {max(health) * 1000:.0f} ms over {len(health)} checks")
        assert decided < 5.0
        assert max(health) < 1.0
    finally:
        cluster.stop()
