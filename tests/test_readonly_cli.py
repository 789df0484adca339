"""The commands that only read the database open the database and nothing else, so they
answer at once (their time is measured by benchmarks/cli_start.py, not here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from plugin.store import schema

from .conftest import REPO

# What building the runtime costs: the rules engine and the rule files' YAML, the index, the
# model and vendor clients, the web server, the migration tool, the report's plotting. None of
# it is needed to list what the database holds.
HEAVY = ["durable", "whoosh", "numpy", "openai", "zenpy", "jira", "github", "requests", "flask", "waitress",
         "gunicorn", "alembic", "redis", "rq", "yaml", "Stemmer", "prometheus_client", "matplotlib", "tqdm",
         "plugin.runtime", "plugin.decision", "plugin.knowledge", "plugin.notes", "plugin.work", "plugin.web"]

PROBE = """
import json, sys
from plugin.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps(sorted({m for m in sys.modules for h in HEAVY if m == h or m.startswith(h + ".")})), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home whose database holds the replayed samples (replayed once: the commands only read)."""
    tmp_path = tmp_path_factory.mktemp("readonly")
    env = {"VIGIL_HOME": str(tmp_path / "home"), "VIGIL_KNOWLEDGE_DIR": str(REPO / "knowledge"),
           "VIGIL_RULES_DIR": str(REPO / "rules"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "plugin.cli", "replay", str(REPO / "samples" / "conversations.jsonl")],
                   env=env, cwd=tmp_path, check=True, capture_output=True)
    return tmp_path, env


def probe(home, *args: str) -> tuple[str, list[str]]:
    cwd, env = home
    done = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}", *args], env=env, cwd=cwd,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["notes"], ["deliveries"], ["proposals"], ["explain", "51001"]])
def test_a_read_only_command_imports_nothing_heavy(home, args):
    output, imported = probe(home, *args, "--json")
    assert imported == []
    if args[0] in ("notes", "explain"):
        assert output.strip()  # it did answer from the replayed database


def test_a_read_only_command_on_an_old_schema_says_to_upgrade(home, tmp_path):
    (tmp_path / "home").mkdir()
    shutil.copy(home[0] / "home" / "vigil.db", tmp_path / "home" / "vigil.db")
    cwd, env = tmp_path, {**home[1], "VIGIL_HOME": str(tmp_path / "home")}
    engine = create_engine(f"sqlite:///{cwd / 'home' / 'vigil.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()
    done = subprocess.run([sys.executable, "-m", "plugin.cli", "notes"], env=env, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 1
    assert f"the database schema is at 0001, this Vigil needs {schema.head()}: run `vigil db upgrade`" in done.stderr


def test_the_schema_version_is_read_as_alembic_reads_it(tmp_path):
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    assert schema.head() == ScriptDirectory.from_config(schema._config(None)).get_current_head()
    engine = create_engine(f"sqlite:///{tmp_path / 'v.db'}")
    assert schema.current(engine) is None  # no alembic_version table yet
    schema.upgrade(engine)
    with engine.connect() as conn:
        assert schema.current(engine) == MigrationContext.configure(conn).get_current_revision() == schema.head()
    engine.dispose()
