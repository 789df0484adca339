"""The `vigil` command."""

from __future__ import annotations

import json
import logging
from datetime import timezone
import sys
from pathlib import Path

import click

from connectors.base import DeliveryError
from plugin.replay import ReplayError, events_for, read_conversations, validated
from plugin.rulebook import RuleFileError, check_rules
from plugin.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def _runtime(settings: Settings, with_connectors: bool = False):
    from plugin.runtime import build_runtime
    try:
        return build_runtime(settings, with_connectors=with_connectors)
    except RuleFileError as exc:
        raise click.ClickException(f"the rule files are not valid:\n{exc}") from None


def _emit(obj: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False) if as_json else text)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what the plugin does.")
def main(verbose: bool) -> None:
    """Vigil for helpdesks: proactive internal notes for support analysts."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the webhook server: VIGIL_WEB_WORKERS processes, each with its worker unless
    VIGIL_REDIS_URL sends tickets to `vigil worker` processes."""
    from plugin.serving import serve as run
    logging.getLogger().setLevel(logging.INFO)
    settings = _settings()
    runtime = _runtime(settings, with_connectors=True)  # fail here, once, not in every process
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
    from plugin.queue import run_worker
    logging.getLogger().setLevel(logging.INFO)
    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException("`vigil worker` takes tickets from Redis: set VIGIL_REDIS_URL "
                                   "(without it, `vigil serve` runs the worker itself)")
    runtime = _runtime(settings, with_connectors=True)
    click.echo(f"vigil: worker {runtime.worker.holder} taking tickets from Redis"
               + (" (shadow mode: nothing is posted)" if settings.shadow else ""))
    run_worker(runtime, settings.redis_url)
    click.echo("vigil: worker stopped")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def replay(file: Path, as_json: bool) -> None:
    """Push recorded conversations through the pipeline; print one decision per message."""
    try:
        conversations = read_conversations(file)
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    runtime = _runtime(_settings())
    try:
        for conversation in conversations:
            runtime.store.forget_ticket(conversation["source"], conversation["ticket_id"])
            for event in events_for(conversation):
                for outcome in runtime.pipeline.handle(event, shadow=True):
                    if outcome.message_index is None and outcome.decision.action == "silent":
                        continue  # a status change nobody acted on is not a message's decision
                    d, note = outcome.decision, outcome.note
                    record = {"ticket_id": event.ticket_id, "message_index": outcome.message_index,
                              "event": event.kind, "action": d.action, "rule": d.rule,
                              "reason": d.reason, "note": note.body if note else None,
                              "sources": list(note.sources) if note else []}
                    _emit(record, as_json, f"{event.ticket_id} #{outcome.message_index}: {d.action}"
                          f"{' (' + d.rule + ')' if d.rule else ''} - {d.reason}"
                          + (f"\n{_indent(note.body)}" if note else ""))
    finally:
        runtime.close()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


@main.group(invoke_without_command=True)
@click.option("--ticket", help="Only this ticket's notes.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def notes(ctx: click.Context, ticket: str | None, as_json: bool) -> None:
    """List the notes drafted so far."""
    if ctx.invoked_subcommand:
        return
    runtime = _runtime(_settings())
    try:
        for note in runtime.store.list_notes(ticket):
            _emit(note, as_json, f"[{note['status']}] {note['source']} {note['ticket_id']} "
                  f"({note['rule']}): {note['body'].splitlines()[0]}")
    finally:
        runtime.close()


@notes.command("retry")
@click.option("--ticket", help="Only this ticket's failed notes.")
def notes_retry(ticket: str | None) -> None:
    """Queue failed notes again and try to post them now."""
    runtime = _runtime(_settings(), with_connectors=True)
    try:
        count = runtime.store.retry_failed_notes(ticket)
        runtime.worker.deliver_notes()
        click.echo(f"{count} failed note(s) queued again")
        for note in runtime.store.list_notes(ticket):
            if note["status"] == "failed":
                click.echo(f"still failing: note {note['id']} on {note['ticket_id']}: {note['last_error']}")
    finally:
        runtime.close()


@main.command()
@click.option("--pull", is_flag=True, help="First fast-forward the knowledge repository from its upstream.")
def index(pull: bool) -> None:
    """Rebuild the knowledge index from scratch."""
    settings = _settings()
    from plugin.retrieval import KnowledgeIndex
    if pull:
        # Pull, then update the index in place: a running server shares it and picks the
        # change up at its next refresh, so nothing is deleted under it.
        from plugin.learning.sync import pull as pull_
        try:
            click.echo(f"knowledge: {pull_(settings.knowledge_dir)}")
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        knowledge = KnowledgeIndex(settings.knowledge_dir, settings.index_dir)
        try:
            click.echo(f"{knowledge.refresh()} knowledge entries indexed")
        finally:
            knowledge.close()
        return
    knowledge = KnowledgeIndex(settings.knowledge_dir, settings.index_dir)
    try:
        count = knowledge.rebuild()
    finally:
        knowledge.close()
    click.echo(f"indexed {count} knowledge entries from {settings.knowledge_dir}")
    for error in knowledge.errors:
        click.echo(f"skipped: {error}", err=True)
    if knowledge.errors:
        sys.exit(1)


@main.command()
@click.option("--from", "from_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Resolved conversations (replay format, status solved/closed).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="Pull tickets resolved since this date from the configured helpdesks.")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path),
              help="The git repository holding knowledge/ and rules/ (default: the one holding the knowledge).")
@click.option("--json", "as_json", is_flag=True)
def learn(from_file: Path | None, since, repo: Path | None, as_json: bool) -> None:
    """Learn from resolved tickets; propose knowledge changes as a branch and pull request."""
    from plugin.learning.cases import cases_from_conversations, cases_from_file
    from plugin.learning.loop import learn as learn_, repo_of
    from plugin.learning.publish import PublishError
    from plugin.model import utcnow
    if bool(from_file) == bool(since):
        raise click.UsageError("give exactly one of --from FILE or --since DATE")
    settings = _settings()
    runtime = _runtime(settings, with_connectors=bool(since))
    try:
        try:
            if from_file:
                cases = cases_from_file(from_file)
            else:
                since = since.replace(tzinfo=timezone.utc)
                cases = cases_from_conversations([
                    validated(c, f"{name} ticket {c.get('ticket_id')}")
                    for name, connector in runtime.connectors.items() for c in connector.fetch_resolved(since)])
            repo = repo or repo_of(settings.knowledge_dir)
            report = learn_(cases, settings, repo, runtime.store, utcnow())
        except (ReplayError, PublishError) as exc:
            raise click.ClickException(str(exc)) from None
        except DeliveryError as exc:  # the helpdesk API refused or rate-limited the listing
            wait = f"; retry after {exc.retry_after:.0f} s" if exc.retry_after else ""
            raise click.ClickException(f"could not list resolved tickets: {exc}{wait}") from None
        for p in report.proposals:
            _emit({"kind": p.kind, "path": p.path, "tickets": list(p.tickets), "why": p.why}, as_json,
                  f"{p.kind:<7} {p.path}  ({', '.join(p.tickets)})")
        for p, why in report.refused:
            _emit({"refused": p.path, "kind": p.kind, "why": why}, as_json, f"refused {p.path}: {why}")
        summary = {"cases": report.cases, "lessons": report.lessons, "proposals": len(report.proposals),
                   "refused": len(report.refused), "branch": [p.branch for p in report.published],
                   "pull_request": [p.url for p in report.published if p.url]}
        _emit(summary, as_json, f"{report.cases} resolved cases, {report.lessons} lessons, "
              f"{len(report.proposals)} proposals on {', '.join(summary['branch']) or 'no branch'}"
              + (f" ({', '.join(summary['pull_request'])})" if summary["pull_request"] else ""))
    finally:
        runtime.close()


@main.command()
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def proposals(repo: Path | None, as_json: bool) -> None:
    """The proposals made so far and what became of them (open, merged, closed)."""
    from plugin.learning.loop import refresh_states, repo_of
    settings = _settings()
    runtime = _runtime(settings)
    try:
        rows = refresh_states(runtime.store, settings, repo or repo_of(settings.knowledge_dir))
        for row in rows:
            _emit(row, as_json, f"[{row['state']}] {row['kind']:<7} {row['path']}  {row['url'] or row['branch']}")
        decided = [r for r in rows if r["state"] != "open"]
        if decided and not as_json:
            merged = sum(r["state"] == "merged" for r in decided)
            click.echo(f"acceptance: {merged} of {len(decided)} decided proposals merged")
    finally:
        runtime.close()


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations the database lacks (run once, before starting processes)."""
    from sqlalchemy import create_engine

    from plugin import schema
    from plugin.store import driver_url
    settings = _settings()
    engine = create_engine(driver_url(settings.store_url))
    try:
        before, after = schema.upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"database schema: {before or 'empty'} -> {after}")


@main.group()
def knowledge() -> None:
    """Check the knowledge base."""


@knowledge.command("check")
def knowledge_check() -> None:
    """Report malformed entries, entries without a source, and duplicates."""
    from plugin.knowledge import check_knowledge
    settings = _settings()
    count, findings = check_knowledge(settings.knowledge_dir)
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        raise click.ClickException(f"{len(findings)} problem(s) in {count} entries of {settings.knowledge_dir}")
    click.echo(f"{count} entries in {settings.knowledge_dir}: ok")


@main.group()
def rules() -> None:
    """Validate and test the rule files."""


@rules.command("check")
def rules_check() -> None:
    """Validate the rule files; print each problem with file and line."""
    settings = _settings()
    loaded, problems = check_rules(settings.rules_dir)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {settings.rules_dir}")
    click.echo(f"{len(loaded)} rules in {settings.rules_dir}: ok")


@rules.command("test")
def rules_test() -> None:
    """Run every rule's fire/silent examples against the engine; print a table."""
    from plugin.ruletest import run_examples
    settings = _settings()
    loaded, problems = check_rules(settings.rules_dir)
    if problems:
        raise click.ClickException("the rule files are not valid:\n" + "\n".join(map(str, problems)))
    results = run_examples(loaded)
    width = max(len(r.rule) for r in results)
    for r in results:
        click.echo(f"{'ok  ' if r.passed else 'FAIL'} {r.rule:<{width}} {r.expect:<6} "
                   f"{r.changes()} -> {r.detail}")
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("ticket_id")
@click.option("--json", "as_json", is_flag=True)
def explain(ticket_id: str, as_json: bool) -> None:
    """Show a ticket's timeline: each decision, the rules considered, the notes."""
    runtime = _runtime(_settings())
    try:
        ticket = runtime.store.find_ticket(None, ticket_id)
        if ticket is None:
            raise click.ClickException(f"no ticket {ticket_id!r} in {runtime.settings.home}")
        for step in runtime.store.timeline(ticket):
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
    finally:
        runtime.close()


@main.command("eval")
@click.option("--set", "labelled", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("tests/eval/decisions.jsonl"), show_default=True,
              help="Labelled conversations (replay format with `expect` per message).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--mistakes", is_flag=True, help="List every false positive and false negative.")
@click.option("--calibrate", is_flag=True,
              help="Sweep the answer threshold on half the set; report it on the other half.")
@click.option("--grounding", is_flag=True,
              help="hit@1 / hit@3 and correct silence on the customer-care conversations in data/.")
@click.option("--learning", is_flag=True,
              help="What the learning loop proposes from the real tickets in data/, and whether it helps.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run every suite on the full data and write report.html, figures.json and the plots here.")
def evaluate_(labelled: Path, as_json: bool, mistakes: bool, calibrate: bool, grounding: bool,
              learning: bool, out: Path | None) -> None:
    """Precision and recall of the decisions on a labelled set."""
    from plugin.evaluation import calibrate as calibrate_, evaluate
    if out:
        from plugin import report as report_
        try:
            written = report_.write_report(out, _settings())
        except RuleFileError as exc:
            raise click.ClickException(f"the rule files are not valid:\n{exc}") from None
        click.echo(f"report: {written.html} (figures: {written.figures_json}; "
                   f"{len(written.plots)} plots; {written.figures['run']['runtime_seconds']} s)")
        for line in written.summary:
            click.echo(line)
        return
    if learning:
        from plugin.learning.measure import measure_learning
        report = measure_learning(_settings())
        if as_json:
            click.echo(json.dumps(report))
            return
        for name in ("helpdesk", "customer_care"):
            r = report[name]
            click.echo(f"{name}: {r['cases']} resolved cases -> {r['proposals']} proposals {r['by_kind']}; "
                       f"lessons merged into existing entries {r['lessons_merged_into_existing']}, "
                       f"into each other {r['lessons_merged_together']}; refused by gates "
                       f"{r['refused_by_gates']}; personal-data findings {r['personal_data_findings']}")
        loop = report["loop"]
        click.echo(f"loop: {loop['learned_entries']} entries learned from the first 70 % of customer care; "
                   f"on the later conversations whose document was learned ({loop['after']['in_kb']}): "
                   f"hit@3 {loop['before']['hit_at_3']} before, {loop['after']['hit_at_3']} after; "
                   f"correct silence elsewhere {loop['before']['correct_silence']} -> {loop['after']['correct_silence']}")
        return
    if grounding:
        from plugin.grounding import DATA, evaluate_grounding
        report = evaluate_grounding(DATA, _settings())
        if as_json:
            click.echo(json.dumps(report))
            return
        click.echo(f"knowledge from {report['knowledge_cases']} earlier conversations "
                   f"({report['knowledge_entries']} entries); {report['test_cases']} later ones replayed")
        click.echo(f"document in the knowledge base ({report['in_kb']}): hit@1 {report['hit_at_1']}, "
                   f"hit@3 {report['hit_at_3']}, answered {report['answered']}")
        click.echo(f"document not in it ({report['not_in_kb']}): correct silence {report['correct_silence']}")
        return
    if calibrate:
        result = calibrate_(labelled, _settings())
        if as_json:
            click.echo(json.dumps(result))
            return
        click.echo(f"calibration half: {result['calibration_conversations']} conversations")
        for p in result["sweep"]:
            click.echo(f"  retrieval_score >= {p['threshold']:<6} precision {p['precision']!s:<6} recall {p['recall']}")
        chosen, held = result["chosen"], result["held_out"]
        click.echo(f"chosen: {chosen['threshold']} (highest recall at precision >= {result['min_precision']})")
        click.echo(f"held-out half ({result['held_out_conversations']} conversations): "
                   f"precision {held['precision']}, recall {held['recall']}")
        return
    try:
        report = evaluate(labelled, _settings())
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report if mistakes else {k: v for k, v in report.items() if k != "mistakes"}))
        return
    click.echo(f"{report['conversations']} conversations, {report['messages']} messages ({labelled})")
    click.echo(f"{'action':<8} {'precision':>9} {'recall':>7} {'tp':>4} {'fp':>4} {'fn':>4}")
    for action, s in report["scores"].items():
        click.echo(f"{action:<8} {s['precision']!s:>9} {s['recall']!s:>7} {s['tp']:>4} {s['fp']:>4} {s['fn']:>4}")
    click.echo(f"answers citing an expected source: {report['answers_citing_an_expected_source']}")
    if mistakes:
        for m in report["mistakes"]:
            click.echo(f"{m['kind']} {m['action']:<6} {m['ticket_id']}#{m['message_index']}: {m['body']!r}"
                       + (f"\n    {m['reason']}" if m["reason"] else ""))


if __name__ == "__main__":  # pragma: no cover
    main()
