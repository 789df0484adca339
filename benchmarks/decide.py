"""How fast the rules decide, and whether memory stays flat as tickets come and go.

Prints: the median and p95 time of one decision with the full shipped rule set; the
same for a whole event through the pipeline (signals, retrieval, SQLite, rules); and
the resident memory after 100,000 decisions across 10,000 tickets, sampled on the way,
so growth per ticket would show. Run: python benchmarks/decide.py [--events N]
"""

from __future__ import annotations

import argparse
from array import array
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from plugin.decision.engine import RuleEngine  # noqa: E402
from connectors.events import Event, Message
from plugin.decision.rulebook import BASELINE, load_rules  # noqa: E402
from plugin.runtime import build_runtime  # noqa: E402
from plugin.settings import Settings  # noqa: E402

TEXTS = [
    "How do I reset my password? I can't log in since yesterday.",
    "Thanks, that worked!",
    "My card was stolen and there are orders I never placed!!",
    "Can I change the shipping address on the order I placed this morning?",
    "We are losing sales every hour the checkout is down, this is unacceptable.",
    "Any update on this?",
    "The promo code SPRING20 keeps saying invalid at checkout. Why?",
    "I'll check with the warehouse and get back to you tomorrow.",
]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))]


def random_facts(rng: random.Random) -> dict:
    return dict(BASELINE, role=rng.choice(["customer", "analyst"]), public=rng.random() < 0.8,
                is_question=rng.random() < 0.5, in_scope=rng.random() < 0.4,
                retrieval_score=rng.random(), risks=rng.choice([[], ["security"], ["vip"]]),
                minutes_since_security_flag=rng.choice([1e6, 30.0]), flagged_kinds=rng.choice([[], ["vip"]]),
                tags=rng.choice([[], ["vigil_off"], ["vip"]]),
                minutes_since_last_note=rng.choice([1e6, 3.0, 40.0]), notes_on_ticket=rng.randint(0, 6))


def bench_engine(decisions: int, tickets: int) -> None:
    rules = load_rules(REPO / "rules")
    engine = RuleEngine(rules)
    rng = random.Random(1)
    facts = [random_facts(rng) for _ in range(1000)]
    for f in facts[:200]:
        engine.decide(f)  # warm up
    timings = array("d", bytes(8 * decisions))  # preallocated: the list itself must not grow
    base = rss_mb()
    samples = []
    for i in range(decisions):
        f = dict(facts[i % len(facts)], tags=[f"ticket-{i % tickets}"])  # 10,000 distinct tickets
        start = time.perf_counter()
        engine.decide(f)
        timings[i] = time.perf_counter() - start
        if (i + 1) % (decisions // 5) == 0:
            samples.append((i + 1, rss_mb()))
    print(f"rules: {len(rules)} (full shipped set)")
    print(f"decide one event: median {statistics.median(timings) * 1e6:.0f} us, "
          f"p95 {percentile(timings, 0.95) * 1e6:.0f} us  ({decisions:,} decisions, {tickets:,} tickets)")
    print("resident memory (MB) after N decisions: start %.1f, " % base
          + ", ".join(f"{n:,}: {mb:.1f}" for n, mb in samples))
    print(f"growth from the first to the last sample: {samples[-1][1] - samples[0][1]:+.1f} MB")
    engine.close()


def bench_pipeline(events: int) -> None:
    t0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), knowledge_dir=REPO / "knowledge", rules_dir=REPO / "rules",
                            shadow=True)
        runtime = build_runtime(settings, with_connectors=False)
        rng = random.Random(2)
        timings = []
        began = time.perf_counter()
        for i in range(events):
            at = t0 + timedelta(minutes=i)
            message = Message(rng.choice(["customer", "customer", "analyst"]), True, rng.choice(TEXTS), at,
                              message_id=f"m{i}")
            event = Event("zendesk", f"T{i // 5}", "message", at, subject="Help", status="open", message=message)
            start = time.perf_counter()
            runtime.pipeline.handle(event)
            timings.append(time.perf_counter() - start)
        elapsed = time.perf_counter() - began
        runtime.close()
    print(f"replay throughput (offline drafter): {events / elapsed:.0f} events/s")
    print(f"whole event through the pipeline (SQLite, retrieval, rules, drafting): median "
          f"{statistics.median(timings) * 1e3:.2f} ms, p95 {percentile(timings, 0.95) * 1e3:.2f} ms "
          f"({events:,} events)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2_000, help="events through the whole pipeline")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d}")
    bench_engine(args.decisions, args.tickets)
    bench_pipeline(args.events)


if __name__ == "__main__":
    main()
