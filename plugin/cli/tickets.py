"""What the plugin did and would do: `vigil replay`, `vigil notes`, `vigil deliveries`, `vigil explain`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connectors.events import TicketRef
from plugin.cli import emit, load_or_fail, main, open_runtime, open_store
from plugin.replay import ReplayError, events_for, read_conversations

if TYPE_CHECKING:
    from plugin.settings import Settings
    from plugin.store import Store, TicketRow


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def replay(file: Path, as_json: bool) -> None:
    """Push recorded conversations through the pipeline; print one decision per message."""
    try:
        conversations = read_conversations(file)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    with open_runtime(load_or_fail()) as runtime:
        for conversation in conversations:
            runtime.store.tickets.forget_ticket(TicketRef(conversation["source"], conversation["ticket_id"]))
            for event in events_for(conversation):
                for outcome in runtime.pipeline.handle(event, shadow=True):
                    if outcome.message_index is None and outcome.decision.action == "silent":
                        continue  # a status change nobody acted on is not a message's decision
                    d, note = outcome.decision, outcome.note
                    record = {"ticket_id": event.ticket_id, "message_index": outcome.message_index,
                              "event": event.kind, "action": d.action, "rule": d.rule,
                              "reason": d.reason, "note": note.body if note else None,
                              "sources": list(note.sources) if note else []}
                    emit(record, as_json, f"{event.ticket_id} #{outcome.message_index}: {d.action}"
                          f"{' (' + d.rule + ')' if d.rule else ''} - {d.reason}"
                          + (f"\n{_indent(note.body)}" if note else ""))


def _ticket(store: Store, settings: Settings, text: str) -> TicketRow:
    """The ticket named on the command line ("zendesk:42", or "42" if one helpdesk has it)."""
    try:
        return store.tickets.resolve(text)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(f"{exc} in {settings.home}") from None


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@main.group(invoke_without_command=True)
@click.option("--ticket", help="Only this ticket's notes: zendesk:42, or 42 if one helpdesk has it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def notes(ctx: click.Context, ticket: str | None, as_json: bool) -> None:
    """List the notes drafted so far."""
    if ctx.invoked_subcommand:
        return
    settings = load_or_fail()
    with open_store(settings) as store:
        for note in store.notes.list_notes(_ticket(store, settings, ticket).ref if ticket else None):
            emit(note, as_json, f"[{note['status']}] {note['source']} {note['ticket_id']} "
                  f"({note['rule']}): {note['body'].splitlines()[0]}")


@notes.command("retry")
@click.option("--ticket", help="Only this ticket's failed notes.")
def notes_retry(ticket: str | None) -> None:
    """Queue failed notes again and try to post them now."""
    with open_runtime(load_or_fail(), with_connectors=True) as runtime:
        ref = _ticket(runtime.store, runtime.settings, ticket).ref if ticket else None
        count = runtime.store.notes.retry_failed_notes(ref)
        runtime.poster.deliver_notes()
        click.echo(f"{count} failed note(s) queued again")
        for note in runtime.store.notes.list_notes(ref):
            if note["status"] == "failed":
                click.echo(f"still failing: note {note['id']} on {note['ticket_id']}: {note['last_error']}")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deliveries(ctx: click.Context, as_json: bool) -> None:
    """List the webhook deliveries that failed to be decided, and comments left unread, with why."""
    if ctx.invoked_subcommand:
        return
    with open_store(load_or_fail()) as store:
        for d in store.inbox.failed_deliveries():
            emit(dict(d, state="failed"), as_json, f"[failed] delivery {d['id']} ({d['source']} {d['delivery_id']}, "
                 f"ticket {d['ticket']}, {d['handled']}/{d['events']} events handled): {d['error']}")
        for d in store.inbox.unread_deliveries():  # no delivery for its ticket came with it
            emit(dict(d, state="unread"), as_json, f"[unread] delivery {d['id']} ({d['source']} {d['delivery_id']}, "
                 f"received {d['received_at']}): {d['error']}")


@deliveries.command("retry")
@click.option("--id", "pk", type=int, help="Only this delivery (its number in `vigil deliveries`).")
def deliveries_retry(pk: int | None) -> None:
    """Decide failed deliveries again (after a fix), from the event that failed."""
    with open_runtime(load_or_fail(), with_connectors=True) as runtime:
        count = runtime.store.inbox.retry_failed_deliveries(pk)
        runtime.processor.drain()  # under the tickets' leases: safe beside running workers
        click.echo(f"{count} failed deliveries queued again")
        for d in runtime.store.inbox.failed_deliveries():
            click.echo(f"still failing: delivery {d['id']}: {d['error']}")


@main.command()
@click.argument("ticket_id")
@click.option("--json", "as_json", is_flag=True)
def explain(ticket_id: str, as_json: bool) -> None:
    """Show a ticket's timeline: each decision, the rules considered, the notes."""
    settings = load_or_fail()
    with open_store(settings) as store:
        ticket = _ticket(store, settings, ticket_id)
        for step in store.tickets.timeline(ticket):
            if as_json:
                click.echo(json.dumps(step, ensure_ascii=False))
                continue
            where = f"message #{step['message_index']}" if step["message_index"] is not None else step["event"]
            click.echo(f"{where}: {step['action']}{' by ' + step['rule'] if step['rule'] else ''}"
                       f" - {step['reason']}")
            for c in step["considered"]:
                mark = "fired" if c["fired"] else f"silent: {c['failed']}"
                click.echo(f"    {c['rule']} ({c['action']}): {mark}")
            if step["note"]:
                click.echo(f"    note [{step['note']['status']}]:\n{_indent(_indent(step['note']['body']))}")
