"""The processes and the database: `vigil serve`, `vigil worker`, `vigil db upgrade`."""

from __future__ import annotations

import logging

import click

from plugin.cli import load_or_fail, main, runtime_or_fail


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the webhook server: VIGIL_WEB_WORKERS processes, each with its worker unless
    VIGIL_REDIS_URL sends tickets to `vigil worker` processes."""
    from plugin.web.serving import serve as run
    logging.getLogger().setLevel(logging.INFO)
    settings = load_or_fail()
    runtime = runtime_or_fail(settings, with_connectors=True)  # fail here, once, not in every process
    runtime.close()
    if not runtime.connectors:
        raise click.ClickException(
            "no helpdesk connector can start: " + "; ".join(f"{k}: {v}" for k, v in runtime.refused.items()))
    click.echo(f"vigil: webhooks on http://{host}:{port}/webhooks/{{{','.join(sorted(runtime.connectors))}}}"
               f" ({settings.web_workers} web process{'es' if settings.web_workers > 1 else ''}, "
               + ("workers via Redis" if settings.redis_url else "embedded worker") + ")"
               + (" (shadow mode: nothing is posted)" if settings.shadow else ""))
    try:
        run(settings, host, port)
    finally:
        click.echo("vigil: stopped")


@main.command()
def worker() -> None:
    """Decide queued tickets and post notes (scale-out: needs VIGIL_REDIS_URL). Run several."""
    from plugin.work.queue import run_worker
    logging.getLogger().setLevel(logging.INFO)
    settings = load_or_fail()
    if not settings.redis_url:
        raise click.ClickException("`vigil worker` takes tickets from Redis: set VIGIL_REDIS_URL "
                                   "(without it, `vigil serve` runs the worker itself)")
    runtime = runtime_or_fail(settings, with_connectors=True)
    click.echo(f"vigil: worker {runtime.worker.holder} taking tickets from Redis"
               + (" (shadow mode: nothing is posted)" if settings.shadow else ""))
    run_worker(runtime, settings.redis_url)
    click.echo("vigil: worker stopped")


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations the database lacks (run once, before starting processes)."""
    from sqlalchemy import create_engine

    from plugin.store import schema
    from plugin.store import driver_url
    settings = load_or_fail()
    engine = create_engine(driver_url(settings.store_url))
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"database schema: {before or 'empty'} -> {after}")
