"""`vigil doctor`: one command an admin runs before leaving shadow mode.

A checklist: the settings, each configured helpdesk (its own checks: Connector.doctor()),
the model and embeddings endpoints, the database, Redis, the knowledge base and the rules. Each failure is one red
line with its fix; the exit code is 1 if any check failed.
"""

from __future__ import annotations

import sys

import click

from connectors.base import Check
from plugin.cli import checks, main
from plugin.settings import Settings, SettingsError, load_settings


@main.command()
@click.option("--ticket", help="Also post one internal test note on this sandbox ticket and read it back "
                               "(zendesk:42, or 42 if one helpdesk is configured).")
def doctor(ticket: str | None) -> None:
    """Check the whole setup; print each failure with its fix."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        _show(Check("settings", False, str(exc), "fix that setting in vigil.toml or the environment"))
        sys.exit(1)
    failed = 0
    for check in _checks(settings, ticket):
        _show(check)
        failed += not check.ok
    click.echo(f"{failed} problem(s) to fix" if failed else "all checks passed")
    sys.exit(1 if failed else 0)


def _checks(settings: Settings, ticket: str | None):
    yield Check("settings", True, "shadow mode: notes are drafted, none is posted (VIGIL_SHADOW=0 leaves it)"
                if settings.shadow else "live: notes are posted")
    yield from _helpdesks(settings, ticket)
    yield from checks.model(settings)
    yield from checks.embeddings(settings)
    yield checks.database(settings)
    yield from checks.redis(settings)
    yield from checks.knowledge(settings)
    yield from checks.rules(settings)


def _helpdesks(settings: Settings, ticket: str | None):
    import connectors
    enabled, refused = connectors.build(settings)
    defaults = {name: cls() for name, cls in connectors.settings_classes().items()}
    for name, why in refused.items():
        if settings.helpdesks[name] != defaults[name]:  # partly configured: say what is missing
            yield Check(name, False, why, f"see connectors/{name}/SETUP.md")
    if not enabled:
        yield Check("helpdesks", False, "no helpdesk is configured",
                    "configure Zendesk or Jira (connectors/zendesk/SETUP.md, connectors/jira/SETUP.md)")
    for connector in enabled.values():
        yield from connector.doctor()
    if ticket:
        name, _, ticket_id = ticket.rpartition(":")
        if not name and len(enabled) == 1:
            name = next(iter(enabled))
        if name not in enabled:
            yield Check("test note", False, f"no configured helpdesk {name or '?'} for ticket {ticket!r}",
                        f"name the helpdesk: --ticket {'|'.join(sorted(enabled)) or 'zendesk'}:ID")
        else:
            yield enabled[name].post_test_note(ticket_id)


def _show(check: Check) -> None:
    if check.ok:
        click.echo(f"[ok]   {check.name}: {check.detail}")
    else:
        click.echo(click.style(f"[FAIL] {check.name}: {check.detail}", fg="red"))
        if check.fix:
            click.echo(f"       fix: {check.fix}")
