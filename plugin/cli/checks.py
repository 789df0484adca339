"""What `vigil doctor` checks besides the helpdesks (each connector checks itself: doctor()).

Every check returns Checks and never raises for a problem it finds: an admin gets the whole
list, each failure with its fix, in one run.
"""

from __future__ import annotations

from typing import Any, Iterator

from connectors.base import Check
from plugin.settings import Settings

# The smallest request that shows whether the server takes a JSON schema (structured outputs)
# or only JSON mode (platform.openai.com/docs/api-reference/chat/create, `response_format`).
_PROBE_SCHEMA = {"name": "vigil_probe", "strict": True, "schema": {
    "type": "object", "additionalProperties": False, "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}
_PROBE_MESSAGES: Any = [{"role": "user", "content": 'Reply with the JSON object {"ok": true}.'}]


def database(settings: Settings) -> Check:
    """Reachable, and at the schema this version needs (a new, empty one is created at start)."""
    from sqlalchemy import create_engine, inspect

    from plugin.store import driver_url, schema
    name = "database"
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_engine(driver_url(settings.store_url))
    try:
        with engine.connect() as conn:
            empty = not inspect(conn).get_table_names()
        version = schema.current(engine)
    except Exception as exc:  # any driver's error: the check reports it, never raises
        return Check(name, False, f"cannot connect: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                     "check VIGIL_DATABASE_URL and that the database server is up")
    finally:
        engine.dispose()
    if empty:
        return Check(name, True, "empty: `vigil db upgrade` or the first start creates the schema")
    if version != schema.head():
        return Check(name, False, f"schema at {version or 'no version'}, this Vigil needs {schema.head()}",
                     "run `vigil db upgrade` (once, before starting the processes)")
    return Check(name, True, f"schema {version}, the newest")


def redis(settings: Settings) -> list[Check]:
    if not settings.redis_url:
        return []  # no scale-out: each `vigil serve` runs its own worker
    import redis as redis_
    try:
        redis_.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis_.RedisError as exc:
        return [Check("redis", False, f"no answer: {exc}", "start Redis or fix VIGIL_REDIS_URL")]
    return [Check("redis", True, "answers PING")]


def model(settings: Settings) -> list[Check]:
    """Reachable with the key and model given; a JSON schema accepted, or only JSON mode."""
    if not settings.model_configured:
        return [Check("model", True, "none configured: notes quote the knowledge base (extractive)")]
    import openai

    from plugin.notes.drafting import model_client
    client, name = model_client(settings), f"model {settings.llm_model}"
    where = settings.openai_base_url or "the OpenAI API"

    def ask(response_format: Any) -> None:  # plain dicts for the client's typed parameters
        client.chat.completions.create(model=settings.llm_model, messages=_PROBE_MESSAGES,
                                       response_format=response_format, max_tokens=20)
    try:
        try:
            ask({"type": "json_schema", "json_schema": _PROBE_SCHEMA})
            return [Check(name, True, f"answers at {where}; accepts a JSON schema")]
        except openai.BadRequestError:
            ask({"type": "json_object"})
            return [Check(name, True, f"answers at {where}; accepts only JSON mode (json_object), "
                                      "which drafting falls back to")]
    except openai.AuthenticationError:
        return [Check(name, False, f"{where} refuses the API key", "set OPENAI_API_KEY to a key for this server")]
    except openai.NotFoundError:
        return [Check(name, False, f"{where} has no model {settings.llm_model!r}",
                      "set VIGIL_LLM_MODEL to a model the server serves")]
    except openai.APIConnectionError:
        return [Check(name, False, f"cannot reach {where}",
                      "check OPENAI_BASE_URL and that the model server is up and reachable from here")]
    except openai.OpenAIError as exc:
        return [Check(name, False, f"{where} answered {type(exc).__name__}: {exc}",
                      "check OPENAI_BASE_URL, VIGIL_LLM_MODEL and the server's log")]


def embeddings(settings: Settings) -> list[Check]:
    """The embeddings endpoint, if configured, gives a vector for a passage."""
    if not settings.embeddings_on:
        return []
    from plugin.knowledge.embeddings import Embedder, EmbeddingsError
    name = f"embeddings {settings.embeddings_model}"
    try:
        [vector] = Embedder(settings).passages(["vigil doctor"])
    except EmbeddingsError as exc:
        return [Check(name, False, f"{settings.embeddings_url}: {exc}",
                      "check VIGIL_EMBEDDINGS_URL, VIGIL_EMBEDDINGS_MODEL and that the server is up; "
                      "without it retrieval is BM25F alone")]
    return [Check(name, True, f"answers at {settings.embeddings_url} ({len(vector)} dimensions)")]


def knowledge(settings: Settings) -> Iterator[Check]:
    """Every file readable (a red line per file, with its line and fix), and at least one entry."""
    from plugin.knowledge.entries import KnowledgeError, entry_paths, load_entry
    root = settings.knowledge_dir
    if not root.is_dir():
        yield Check("knowledge", False, f"{root} is not a directory", "set VIGIL_KNOWLEDGE_DIR to your knowledge folder")
        return
    readable = 0
    for path in entry_paths(root):
        try:
            load_entry(root, path)
            readable += 1
        except KnowledgeError as exc:
            f = exc.finding
            yield Check(f"knowledge: {f.entry}.md" + (f" line {f.line}" if f.line else ""), False, f.problem, f.fix)
    if readable:
        yield Check("knowledge", True, f"{readable} entries read from {root} (`vigil knowledge check` lists "
                                       "duplicates and entries without a source)")
    else:
        yield Check("knowledge", False, f"no entries in {root}: no answer can be drafted",
                    "add Markdown entries with front matter (see knowledge/README.md in the repository)")


def rules(settings: Settings) -> Iterator[Check]:
    """The rule files valid (`vigil rules check`) and every rule's examples passing (`rules test`)."""
    from plugin.decision.rulebook import check_rules
    from plugin.decision.ruletest import run_examples
    loaded, problems = check_rules(settings.rules_dir)
    for problem in problems:
        yield Check("rules", False, str(problem), "fix the rule file at that line; `vigil rules check` says the same")
    if problems:
        return
    failed = [r for r in run_examples(loaded) if not r.passed]
    for r in failed:
        yield Check(f"rules: {r.rule}", False, f"{r.expect} example {r.changes()}: {r.detail}",
                    "fix the rule or its example; `vigil rules test` shows the table")
    if not failed:
        yield Check("rules", True, f"{len(loaded)} rules in {settings.rules_dir}, every example passes")
