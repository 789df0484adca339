"""The processes and the database: `vigil serve`, `vigil worker`, `vigil db upgrade`."""

from __future__ import annotations

import logging

import click

from plugin.cli import database_unreachable, load_or_fail, main, runtime_or_fail


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the webhook server: VIGIL_WEB_WORKERS processes, and a decider process beside them
    unless VIGIL_REDIS_URL sends tickets to `vigil worker` processes."""
    from sqlalchemy.exc import OperationalError

    from plugin.decision.rulebook import RuleFileError, load_rules
    from plugin.runtime import build_web
    from plugin.web.serving import serve as run
    from plugin.work.dispatch import Wake
    logging.getLogger().setLevel(logging.INFO)
    settings = load_or_fail()
    # Fail here, once, not in every process; the web processes themselves never read the rules.
    try:
        load_rules(settings.rules_dir)
    except RuleFileError as exc:
        raise click.ClickException(f"the rule files are not valid:\n{exc}") from None
    try:
        web = build_web(settings, Wake())
    except OperationalError as exc:
        raise database_unreachable(settings, exc) from None
    web.close()
    if not web.connectors:
        raise click.ClickException(
            "no helpdesk connector can start: " + "; ".join(f"{k}: {v}" for k, v in web.refused.items()))
    click.echo(f"vigil: webhooks on http://{host}:{port}/webhooks/{{{','.join(sorted(web.connectors))}}}"
               f" ({settings.web_workers} web process{'es' if settings.web_workers > 1 else ''}, "
               + ("workers via Redis" if settings.redis_url else "a decider process") + ")"
               + (" (shadow mode: nothing is posted)" if settings.shadow else ""))
    try:
        run(settings, host, port)
    finally:
        click.echo("vigil: stopped")


@main.command()
def worker() -> None:
    """Decide queued tickets and post notes (scale-out: needs VIGIL_REDIS_URL). Run several."""
    from plugin.work.queue import TicketQueue, run_worker
    logging.getLogger().setLevel(logging.INFO)
    settings = load_or_fail()
    if not settings.redis_url:
        raise click.ClickException("`vigil worker` takes tickets from Redis: set VIGIL_REDIS_URL "
                                   "(without it, `vigil serve` decides in a process of its own)")
    runtime = runtime_or_fail(settings, with_connectors=True)
    assert isinstance(runtime.dispatcher, TicketQueue)  # with a Redis URL, tickets it hands back go there
    click.echo(f"vigil: worker {runtime.processor.holder} taking tickets from Redis"
               + (" (shadow mode: nothing is posted)" if settings.shadow else ""))
    try:
        run_worker(runtime.processor, runtime.loop, runtime.dispatcher)
    finally:
        runtime.close()
    click.echo("vigil: worker stopped")


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations the database lacks (run once, before starting processes)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    from plugin.store import schema
    from plugin.store import driver_url
    settings = load_or_fail()
    settings.home.mkdir(parents=True, exist_ok=True)  # where a new SQLite database goes
    engine = create_engine(driver_url(settings.store_url))
    try:
        before, after = schema.upgrade(engine)
    except OperationalError as exc:
        raise database_unreachable(settings, exc) from None
    finally:
        engine.dispose()
    click.echo(f"database schema: {before or 'empty'} -> {after}")
