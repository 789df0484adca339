"""The rule files: `vigil rules check`, `vigil rules test`."""

from __future__ import annotations

import sys

import click

from plugin.cli import load_or_fail, main


@main.group()
def rules() -> None:
    """Validate and test the rule files."""


@rules.command("check")
def rules_check() -> None:
    """Validate the rule files; print each problem with file and line."""
    from plugin.decision.rulebook import check_rules
    settings = load_or_fail()
    loaded, problems = check_rules(settings.rules_dir)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {settings.rules_dir}")
    click.echo(f"{len(loaded)} rules in {settings.rules_dir}: ok")


@rules.command("test")
def rules_test() -> None:
    """Run every rule's fire/silent examples against the engine; print a table."""
    from plugin.decision.rulebook import check_rules
    from plugin.decision.ruletest import run_examples
    settings = load_or_fail()
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
