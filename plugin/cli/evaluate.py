"""`vigil eval`: the labelled sets, calibration, grounding, learning, the HTML report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click

from plugin.cli import load_or_fail, main
from plugin.replay import ReplayError


@main.command("eval")
@click.option("--set", "labelled", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("tests/eval/decisions.jsonl"), show_default=True,
              help="Labelled conversations (replay format with `expect` per message).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--mistakes", is_flag=True, help="List every false positive and false negative.")
@click.option("--calibrate", is_flag=True,
              help="Fit the answer confidence on the dev parts of the labelled sets; its calibration curve.")
@click.option("--write", is_flag=True, help="With --calibrate: save the fitted model (plugin/decision/answerability.yml).")
@click.option("--grounding", is_flag=True,
              help="hit@1 / hit@3 and correct silence on the customer-care conversations in data/.")
@click.option("--learning", is_flag=True,
              help="What the learning loop proposes from the real tickets in data/, and whether it helps.")
@click.option("--real", "real", type=click.Choice(["all", "stackfaq", "customer_care"]),
              help="Answers and silence on the real public sets in data/ (dev and report parts).")
@click.option("--reading", is_flag=True,
              help="Question and risk reading on the labelled real messages (tests/eval/reading/real_messages.jsonl).")
@click.option("--review-sample", type=click.Path(dir_okay=False, path_type=Path),
              help="With --learning: where to write proposals for a human to grade (default: in VIGIL_HOME).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run every suite on the full data and write report.html, figures.json and the plots here.")
def evaluate_(labelled: Path, as_json: bool, mistakes: bool, calibrate: bool, write: bool, grounding: bool,
              learning: bool, real: str | None, reading: bool, review_sample: Path | None, out: Path | None) -> None:
    """Precision and recall of the decisions on a labelled set."""
    missing = [name for name in ("matplotlib", "tqdm") if importlib.util.find_spec(name) is None]
    if missing:  # the runtime does without them; the offline measures need them
        raise click.ClickException(f"`vigil eval` needs the eval extra ({', '.join(missing)} missing): "
                                   "pip install 'vigil-helpdesk[eval]'")
    from plugin.decision.rulebook import RuleFileError
    from plugin.evaluation.labelled import evaluate
    if out:
        from plugin.evaluation import report as report_
        try:
            written = report_.write_report(out, load_or_fail())
        except RuleFileError as exc:
            raise click.ClickException(f"the rule files are not valid:\n{exc}") from None
        click.echo(f"report: {written.html} (figures: {written.figures_json}; "
                   f"{len(written.plots)} plots; {written.figures['run']['runtime_seconds']} s)")
        for line in written.summary:
            click.echo(line)
        return
    if real:
        from plugin.evaluation import realsets
        results = [realsets.run_set(realsets.SETS[name](), load_or_fail())
                   for name in (realsets.SETS if real == "all" else [real])]
        if as_json:
            click.echo(json.dumps([{k: v for k, v in r.items() if k != "rows"} for r in results]))
            return
        for result in results:
            for line in realsets.lines(result):
                click.echo(line)
        return
    if reading:
        from plugin.evaluation import reading as reading_
        figures = reading_.measure(reading_.load())
        if as_json:
            click.echo(json.dumps(figures))
            return
        for line in reading_.lines(figures):
            click.echo(line)
        return
    if learning:
        from plugin.evaluation.learning import measure_learning, summary
        settings = load_or_fail()
        sample = review_sample or settings.home / "learning-review.md"
        report = measure_learning(settings, sample)
        if as_json:
            click.echo(json.dumps(report))
            return
        for line in summary(report):
            click.echo(line)
        click.echo(f"review sample to grade: {', '.join(report['review_samples'])}")
        return
    if grounding:
        from plugin.evaluation.grounding import DATA, evaluate_grounding
        report = evaluate_grounding(DATA, load_or_fail())
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
        from plugin.evaluation import calibration
        result = calibration.calibrate(load_or_fail())
        if write:
            click.echo(f"written: {calibration.write(result)}")
        if as_json:
            click.echo(json.dumps({k: v for k, v in result.items() if k != "model"}))
            return
        for line in calibration.lines(result):
            click.echo(line)
        return
    try:
        report = evaluate(labelled, load_or_fail())
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
