"""The `vigil` command: the group and what its commands share; the commands live in the
modules beside this one, one per concern.

Commands import what they need when they run: `vigil notes` must not pay for the rules
engine, the knowledge index or the vendor clients (benchmarks/cli_start.py).
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import click

from plugin.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from plugin.runtime import Runtime
    from plugin.store import Store


def load_or_fail() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def runtime_or_fail(settings: Settings, with_connectors: bool = False) -> "Runtime":
    from sqlalchemy.exc import OperationalError

    from plugin.decision.rulebook import RuleFileError
    from plugin.runtime import build_runtime
    try:
        return build_runtime(settings, with_connectors=with_connectors)
    except RuleFileError as exc:
        raise click.ClickException(f"the rule files are not valid:\n{exc}") from None
    except OperationalError as exc:
        raise database_unreachable(settings, exc) from None


@contextmanager
def open_runtime(settings: Settings, with_connectors: bool = False) -> Iterator["Runtime"]:
    """The runtime for one command, closed when it ends however it ends."""
    runtime = runtime_or_fail(settings, with_connectors)
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def open_store(settings: Settings) -> Iterator["Store"]:
    """The database alone, for the commands that only read it: no index, rules or connectors."""
    from sqlalchemy.exc import OperationalError

    from plugin.store import Store
    from plugin.store.schema import SchemaError
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        store = Store(settings.store_url)
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        raise database_unreachable(settings, exc) from None
    try:
        yield store
    finally:
        store.db.engine.dispose()


def database_unreachable(settings: Settings, exc: Exception) -> click.ClickException:
    """The database cannot be opened: where it was looked for (never the password) and why."""
    from sqlalchemy.engine import make_url
    where = make_url(settings.store_url).render_as_string(hide_password=True)
    why = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return click.ClickException(f"cannot open the database {where}: {why} (check VIGIL_DATABASE_URL)")


def emit(obj: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False) if as_json else text)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the plugin does.")
def main(verbose: bool) -> None:
    """Vigil for helpdesks: proactive internal notes for support analysts."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# The commands register themselves on `main` when imported.
from plugin.cli import doctor, evaluate, knowledge, rules, running, tickets  # noqa: E402,F401
