"""The knowledge base: `vigil index`, `vigil knowledge check`, `vigil learn`, `vigil proposals`."""

from __future__ import annotations

import sys
from datetime import timezone
from pathlib import Path

import click

from connectors.base import DeliveryError
from plugin.cli import emit, load_or_fail, main, open_runtime, open_store
from plugin.replay import ReplayError, validated


@main.command()
@click.option("--pull", is_flag=True, help="First fast-forward the knowledge repository from its upstream.")
def index(pull: bool) -> None:
    """Rebuild the knowledge index from scratch."""
    settings = load_or_fail()
    if pull:
        # Pull, then update the index in place: a running server shares it and picks the
        # change up at its next refresh, so nothing is deleted under it.
        from plugin.learning.sync import pull as pull_
        try:
            click.echo(f"knowledge: {pull_(settings.knowledge_dir)}")
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        knowledge = _knowledge_index(settings)
        try:
            click.echo(f"{knowledge.refresh()} knowledge entries indexed")
            _embed_missing(knowledge)
        finally:
            knowledge.close()
        return
    knowledge = _knowledge_index(settings)
    try:
        count = knowledge.rebuild()
        click.echo(f"indexed {count} knowledge entries from {settings.knowledge_dir}")
        _embed_missing(knowledge)
    finally:
        knowledge.close()
    for error in knowledge.errors:
        click.echo(f"skipped: {error}", err=True)
    if knowledge.errors:
        sys.exit(1)


def _knowledge_index(settings):
    """The index, with the entries' cached vectors when an embeddings endpoint is configured."""
    from plugin.knowledge.retrieval import KnowledgeIndex
    vectors = None
    if settings.embeddings_on:
        from plugin.knowledge.embeddings import Embedder, EntryVectors
        from plugin.store import Store
        settings.home.mkdir(parents=True, exist_ok=True)
        vectors = EntryVectors(Embedder(settings), Store(settings.store_url))
    return KnowledgeIndex(settings.knowledge_dir, settings.index_dir, vectors)


def _embed_missing(knowledge) -> None:
    """Compute the entry vectors the store lacks, in the foreground, with a progress bar
    (click's: tqdm belongs to the eval extra, not to the runtime)."""
    from plugin.knowledge.embeddings import EmbeddingsError
    vectors = knowledge.vectors
    if not vectors or not vectors.missing:
        return
    with click.progressbar(length=vectors.missing, label="entry vectors", file=sys.stderr) as bar:
        try:
            vectors.compute_missing(bar.update)
        except EmbeddingsError as exc:
            raise click.ClickException(f"embeddings endpoint: {exc}; the keyword index is written, and "
                                       "`vigil serve` computes the missing vectors in the background") from None
    click.echo(f"entry vectors: {bar.pos} computed, stored by content hash")


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
    settings = load_or_fail()
    with open_runtime(settings, with_connectors=bool(since)) as runtime:
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
            emit({"kind": p.kind, "path": p.path, "tickets": list(p.tickets), "why": p.why}, as_json,
                  f"{p.kind:<7} {p.path}  ({', '.join(p.tickets)})")
        for p, why in report.refused:
            emit({"refused": p.path, "kind": p.kind, "why": why}, as_json, f"refused {p.path}: {why}")
        for ticket, why in report.skipped:  # every case that taught nothing says why
            emit({"skipped": ticket, "why": why}, as_json, f"skipped {ticket}: {why}")
        branches = [p.branch for p in report.published]
        pulls = [p.url for p in report.published if p.url]
        summary = {"cases": report.cases, "lessons": report.lessons, "proposals": len(report.proposals),
                   "refused": len(report.refused), "skipped": len(report.skipped),
                   "branch": branches, "pull_request": pulls}
        emit(summary, as_json, f"{report.cases} resolved cases, {report.lessons} lessons, "
              f"{len(report.proposals)} proposals on {', '.join(branches) or 'no branch'}"
              + (f" ({', '.join(pulls)})" if pulls else ""))


@main.command()
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def proposals(repo: Path | None, as_json: bool) -> None:
    """The proposals made so far and what became of them (open, merged, edited then merged, closed)."""
    from plugin.learning.confidence import acceptance
    settings = load_or_fail()
    with open_store(settings) as store:
        rows = store.learning.list_proposals()
        if any(row["state"] == "open" for row in rows):  # ask the git host only about open ones
            from plugin.learning.loop import refresh_states, repo_of
            rows = refresh_states(store, settings, repo or repo_of(settings.knowledge_dir))
        for row in rows:
            emit(row, as_json, f"[{row['state']}] {row['kind']:<7} {row['path']}  {row['url'] or row['branch']}")
        outcomes = acceptance((r["confidence"], r["state"]) for r in rows)
        if outcomes["decided"] and not as_json:
            click.echo(f"acceptance: {outcomes['merged']} merged as proposed, {outcomes['edited']} after edits, "
                       f"{outcomes['closed']} closed: {outcomes['accepted']:.0%} of {outcomes['decided']} decided")


@main.group()
def knowledge() -> None:
    """Check the knowledge base."""


@knowledge.command("check")
def knowledge_check() -> None:
    """Report malformed entries, entries without a source, and duplicates."""
    from plugin.knowledge.entries import check_knowledge
    settings = load_or_fail()
    count, findings = check_knowledge(settings.knowledge_dir)
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        raise click.ClickException(f"{len(findings)} problem(s) in {count} entries of {settings.knowledge_dir}")
    click.echo(f"{count} entries in {settings.knowledge_dir}: ok")
