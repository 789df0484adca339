"""Configuration: defaults <- vigil.toml <- VIGIL_* environment (the environment wins).

Any setting can also come from a file: VIGIL_<NAME>_FILE=/run/secrets/name.

Secrets are read like any other setting but never printed: `Settings.redacted()` is what
logs and error messages show.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import sys
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from connectors import settings_classes
from connectors.settings import coerce, field_types, secret_fields

log = logging.getLogger(__name__)

# Each helpdesk's own settings class (connectors/<name>/settings.py), by name. Its fields are
# settings named <name>_<field> (zendesk_url, VIGIL_ZENDESK_URL) like any other here.
HELPDESKS: dict[str, type] = settings_classes()

SECRET_FIELDS = frozenset({
    "database_url", "redis_url",  # may carry a password
    "openai_api_key", "github_token", "git_webhook_secret", "admin_token", "embeddings_api_key",
    *(f"{name}_{field}" for name, cls in HELPDESKS.items() for field in secret_fields(cls)),
})


# The rules the package ships (a copy of the repository's rules/), used when no rules
# directory is configured and there is none here.
SHIPPED_RULES = Path(__file__).resolve().parent / "decision" / "default_rules"


class SettingsError(ValueError):
    """The configuration cannot work; the message says which setting and why."""


class Helpdesks(Mapping[str, Any]):
    """Each helpdesk's settings by name: read-only and hashable, like Settings itself."""

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = tuple(sorted(items.items()))

    def __getitem__(self, name: str) -> Any:
        for key, value in self._items:
            if key == name:
                return value
        raise KeyError(name)

    def __iter__(self) -> typing.Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Helpdesks) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Helpdesks({dict(self._items)!r})"


# "zendesk_url" -> ("zendesk", "url"): every helpdesk setting by its flat name.
_FLAT = {f"{name}_{field}": (name, field) for name, cls in HELPDESKS.items() for field in field_types(cls)}


@dataclass(frozen=True, init=False)
class Settings:
    """Every setting. The helpdesks' own live in `helpdesks` and read flat: settings.zendesk_url.

    Built like a dataclass, Settings(home=..., zendesk_url=...); the helpdesk names are
    routed to their helpdesk's settings.
    """

    home: Path = Path(".vigil")
    database_url: str = ""  # e.g. postgresql://vigil@db/vigil; empty: SQLite in home
    # Scale-out: with a Redis URL, web processes queue each ticket for `vigil worker` processes
    # (RQ); without it, each `vigil serve` process runs the embedded worker thread.
    redis_url: str = ""  # e.g. redis://127.0.0.1:6379/0
    web_workers: int = 1  # `vigil serve` processes (gunicorn on Linux when more than 1)
    knowledge_dir: Path = Path("knowledge")
    rules_dir: Path = Path("rules")
    # The knowledge repository's web view (e.g. https://github.com/acme/kb/blob/main/knowledge):
    # a note links an entry without a `sources` URL to this joined with the entry's path.
    knowledge_url: str = ""
    shadow: bool = False

    openai_api_key: str = ""
    openai_base_url: str = ""
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = 20.0
    llm_calls_per_ticket: int = 5  # past these budgets the offline drafter writes the note
    llm_calls_per_hour: int = 200

    # Semantic retrieval (plugin/knowledge/embeddings.py): off unless the URL and model are set.
    embeddings_url: str = ""  # base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1
    embeddings_model: str = ""
    embeddings_api_key: str = ""  # empty: openai_api_key
    embeddings_query_type: str = "query"  # sent as input_type (E5, NVIDIA); empty: not sent
    embeddings_passage_type: str = "passage"
    embeddings_query_prefix: str = ""  # e.g. "query: " for E5 behind a server without input_type
    embeddings_passage_prefix: str = ""
    embeddings_timeout_seconds: float = 1.0  # for a question's vector; past it, BM25F alone

    # Learning: proposals go to a branch and a pull request, never to the default branch.
    learn_batch: str = "day"  # one pull request per "ticket", per "day" (per run), or per N proposals
    learn_on_resolve: bool = False  # learn from each ticket the worker sees solved (else: vigil learn)
    # The desk's own help-document domains, "help.example.com=Brand, example.com/help": the only
    # links a learned answer keeps (never one the customer sent); the brand scopes the entry.
    learn_help_domains: str = ""
    learn_max_entries: int = 10  # at most this many entries per pull request
    learn_min_confidence: float = 0.3  # proposals a reviewer would likely close are dropped
    github_token: str = ""  # with github_repo: pull requests on GitHub; else branches in the local repo
    github_repo: str = ""  # owner/name
    github_base: str = "main"
    github_api_url: str = "https://api.github.com"
    git_webhook_secret: str = ""  # signs POST /webhooks/git (push): pull merged knowledge, reindex

    # Opens GET /dashboard and GET /metrics (Bearer token, or ?token= once in a browser); empty: both off.
    admin_token: str = ""

    webhook_rate_limit: float = 200.0  # requests per second per source per web process; more get 429
    # A worker holds a ticket this long per delivery; one that dies frees the ticket after it.
    lease_seconds: float = 60.0
    sweep_interval_seconds: float = 300.0  # how often waiting tickets are checked for a nudge
    index_refresh_seconds: float = 30.0  # how often the worker looks for changed knowledge files
    delivery_max_attempts: int = 5
    delivery_backoff_seconds: float = 2.0
    # Deciding: a comment's first and last characters up to this many are read (the whole text is
    # stored); a delivery whose deciding fails, or never finishes (the process died or hung),
    # this many times in a row is set aside as failed (`vigil deliveries`, dashboard) to retry by hand.
    decide_max_chars: int = 8000
    decide_max_attempts: int = 3
    helpdesks: Helpdesks = Helpdesks({})  # each helpdesk's own settings (connectors/<name>/settings.py)

    def __init__(self, **values: Any) -> None:
        given = values.pop("helpdesks", None) or {}
        own: dict[str, dict[str, Any]] = {}
        for key in [key for key in values if key not in _CORE]:
            if key not in _FLAT:
                raise TypeError(f"Settings has no setting {key!r}")
            name, field = _FLAT[key]
            own.setdefault(name, {})[field] = values.pop(key)
        for name, default in _CORE.items():
            object.__setattr__(self, name, values.get(name, default))
        helpdesks = {}
        for name, cls in HELPDESKS.items():
            base = given.get(name) or cls()
            helpdesks[name] = dataclasses.replace(base, **own[name]) if name in own else base
        object.__setattr__(self, "helpdesks", Helpdesks(helpdesks))

    def __getattr__(self, key: str) -> Any:
        """A helpdesk's setting by its flat name: settings.zendesk_url."""
        if key not in _FLAT or "helpdesks" not in self.__dict__:
            raise AttributeError(f"Settings has no setting {key!r}")
        name, field = _FLAT[key]
        return getattr(self.helpdesks[name], field)

    @property
    def store_url(self) -> str:
        """The database: VIGIL_DATABASE_URL when set, else SQLite in the home folder."""
        return self.database_url or f"sqlite:///{self.home / 'vigil.db'}"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def embeddings_on(self) -> bool:
        return bool(self.embeddings_url and self.embeddings_model)

    @property
    def model_configured(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    def redacted(self) -> dict[str, Any]:
        """Return the settings as a dict with every secret replaced by '***'."""
        out = {}
        for name in setting_names():
            value = getattr(self, name)
            out[name] = "***" if name in SECRET_FIELDS and value else (
                str(value) if isinstance(value, Path) else value)
        return out

    def __repr__(self) -> str:
        return f"Settings({self.redacted()!r})"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


# The plugin's own settings and their defaults (every field but `helpdesks`).
_CORE = {f.name: f.default for f in fields(Settings) if f.name != "helpdesks"}


def setting_names() -> list[str]:
    """Every setting's flat name, the helpdesks' included."""
    return [*_CORE, *_FLAT]


def _types() -> dict[str, Any]:
    """Every setting's flat name and type."""
    hints = typing.get_type_hints(Settings)
    return {**{name: hints[name] for name in _CORE},
            **{flat: field_types(HELPDESKS[name])[field] for flat, (name, field) in _FLAT.items()}}


# Environment names that are not VIGIL_<FIELD>: the openai client's own variables.
_ENV_ALIASES = {"openai_api_key": "OPENAI_API_KEY", "openai_base_url": "OPENAI_BASE_URL"}


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    try:
        return coerce(name, kind, raw)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _from_environment(names: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The settings the environment gives: VIGIL_<NAME>, or VIGIL_<NAME>_FILE naming a file
    that holds the value (how container platforms mount secrets; one trailing newline and
    surrounding spaces are not part of it)."""
    _check_stray(names, environ)
    values = {}
    for name in names:
        env_name = _ENV_ALIASES.get(name, f"VIGIL_{name.upper()}")
        file_name = f"VIGIL_{name.upper()}_FILE"
        if env_name in environ and file_name in environ:
            raise SettingsError(f"{name}: both {env_name} and {file_name} are set; keep one")
        if file_name in environ:
            path = Path(environ[file_name])
            # The error says why, never what the file holds: it holds a secret.
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"{name}: {file_name} names {path}, which cannot be read "
                                    f"({exc.strerror})") from None
            except UnicodeDecodeError:
                raise SettingsError(f"{name}: {file_name} names {path}, which is not UTF-8 text") from None
            if not value:
                raise SettingsError(f"{name}: {file_name} names {path}, which is empty")
            values[name] = value
        elif env_name in environ:
            values[name] = environ[env_name]
    return values


def _check_stray(names: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """A VIGIL_ variable that names no setting is a typo or a retired setting, never silence:
    VIGIL_SHADOW_MODE=1 would otherwise leave a plugin meant to stay in shadow posting notes."""
    meant = {"VIGIL_CONFIG", *(f"VIGIL_{name.upper()}_FILE" for name in names),
             *(_ENV_ALIASES.get(name, f"VIGIL_{name.upper()}") for name in names)}
    # VIGIL_TEST_* are the test suite's own (where its servers are), not the plugin's.
    strays = (v for v in environ if v.startswith("VIGIL_") and not v.startswith("VIGIL_TEST_") and v not in meant)
    for variable in sorted(strays):
        setting = variable.removeprefix("VIGIL_").removesuffix("_FILE").lower()
        if setting in RETIRED:
            raise SettingsError(f"{variable}: {setting} is no longer a setting: {RETIRED[setting]}")
        close = [_ENV_ALIASES[setting]] if setting in _ENV_ALIASES else \
            difflib.get_close_matches(variable, sorted(meant), n=1)
        log.warning("%s names no setting and is ignored%s", variable,
                    f" (did you mean {close[0]}?)" if close else "")


# Settings that became rule data: where the policy lives now.
RETIRED = {
    "flag_window_hours": "the flag window is a condition of each flag rule in rules/risk.yml "
                         "(minutes_since_<kind>_flag > 360); change it there",
}


def load_settings(config_file: str | os.PathLike | None = None,
                  environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, then vigil.toml (or VIGIL_CONFIG), then the environment."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = Path(config_file or environ.get("VIGIL_CONFIG") or "vigil.toml")
    if path.exists():
        try:
            values.update(tomllib.loads(path.read_text()).get("vigil", {}))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: {exc}") from None
    known = _types()
    retired = sorted(set(values) & set(RETIRED))
    if retired:
        raise SettingsError(f"{path}: {retired[0]} is no longer a setting: {RETIRED[retired[0]]}")
    unknown = set(values) - set(known)
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    values.update(_from_environment(known, environ))
    values.update(overrides)
    if "rules_dir" not in values and not Settings.rules_dir.is_dir():
        values["rules_dir"] = SHIPPED_RULES  # e.g. installed from a wheel, run outside a checkout
    settings = Settings(**{name: _coerce(name, known[name], value) for name, value in values.items()})
    policy = settings.learn_batch
    if not (policy in ("ticket", "day") or (policy.isdigit() and int(policy) > 0)):
        # Anything else would never come due in the worker: resolved tickets would pile up.
        raise SettingsError(f"learn_batch: expected ticket, day or a number of proposals, got {policy!r}")
    _check_learning(settings)
    return settings


def _check_learning(settings: Settings) -> None:
    """Learning settings that would silently keep no link, or publish nothing, are refused."""
    for item in filter(None, (part.strip() for part in settings.learn_help_domains.split(","))):
        if not re.fullmatch(r"(?:https?://)?[\w-]+(?:\.[\w-]+)+(?:/[^\s=]*)?(?:\s*=\s*[^,=]+)?", item):
            raise SettingsError(f"learn_help_domains: {item!r} is not a domain, optionally with a path and "
                                "=Brand (e.g. help.example.com=Example)")
    if settings.learn_max_entries < 1:
        raise SettingsError(f"learn_max_entries: expected at least 1 entry per pull request, got {settings.learn_max_entries}")
    if not 0 <= settings.learn_min_confidence < 1:
        raise SettingsError(f"learn_min_confidence: expected a number from 0 to below 1, got {settings.learn_min_confidence}")
