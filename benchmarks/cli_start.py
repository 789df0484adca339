"""How long the read-only commands take from the shell prompt to their answer.

`vigil notes`, `explain`, `deliveries` and `proposals` only read the database, so they should
answer at once (target: under 0.5 s) whatever the size of the knowledge base or the rules.
Prints the median and the spread of RUNS fresh processes per command, on a database filled by
replaying samples/conversations.jsonl. Run: python benchmarks/cli_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def vigil(*args: str, env: dict[str, str]) -> tuple[float, float, str]:
    return run([sys.executable, "-m", "plugin.cli", *args], env)


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run one command in a fresh process: (wall seconds, CPU seconds, what it printed).

    CPU time is reported beside wall time because on a shared machine the wall time mostly
    measures the other processes."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=env["VIGIL_HOME"], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    return elapsed, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "VIGIL_HOME": home, "VIGIL_KNOWLEDGE_DIR": str(REPO / "knowledge"),
               "VIGIL_RULES_DIR": str(REPO / "rules"), "PYTHONPATH": str(REPO)}
        *_, replayed = vigil("replay", str(REPO / "samples" / "conversations.jsonl"), "--json", env=env)
        ticket = next(json.loads(line)["ticket_id"] for line in replayed.splitlines() if line.strip())
        vigil_ = [sys.executable, "-m", "plugin.cli"]
        commands = {"notes": [*vigil_, "notes"], "explain": [*vigil_, "explain", ticket],
                    "deliveries": [*vigil_, "deliveries"], "proposals": [*vigil_, "proposals"],
                    # The floors, to read the figures above against on a busy machine:
                    "--help (import only)": [*vigil_, "--help"],
                    "python -c pass": [sys.executable, "-c", "pass"],
                    "import sqlalchemy": [sys.executable, "-c", "import sqlalchemy"]}
        print(f"python {platform.python_version()}, {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}; {runs} runs each, seconds")
        print(f"{'command':<22} {'wall median':>11} {'min':>7} {'max':>7} {'CPU median':>11}")
        for name, command in commands.items():
            wall, cpu = zip(*(run(command, env)[:2] for _ in range(runs)))
            print(f"{name:<22} {statistics.median(wall):>11.3f} {min(wall):>7.3f} {max(wall):>7.3f} "
                  f"{statistics.median(cpu):>11.3f}")


if __name__ == "__main__":
    main()
