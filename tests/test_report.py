"""`vigil eval --out DIR`: every suite on small inputs, and the report a support lead reads.

The command runs once per module (a tiny labelled set written here, the first 40 customer-care
conversations, the first 20 help-desk tickets); the tests read what it wrote.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin.evaluation import report
from plugin.cli import main
from plugin.evaluation.labelled import CONFUSION_LABELS, action_label, evaluate
from plugin.learning.cases import Case
from plugin.evaluation.learning import helpdesk_cases
from connectors.events import Message
from plugin.model import ModelCall, Note
from plugin.evaluation.report_html import PLOTS, write_files
from plugin.settings import Settings

from .conftest import REPO

PNG = b"\x89PNG\r\n\x1a\n"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
CARE_CASES, TICKETS = 40, 20
HEADINGS = ("Decisions on the labelled sets", "The answer confidence and its threshold",
            "Grounding on real customer-care conversations", "Learning curve",
            "Replay of real help-desk tickets", "Cost")


def _conversation(ticket_id: str, messages: list[tuple[str, bool, str, list[str]]], tags=(), sources=None):
    return {"source": "zendesk", "ticket_id": ticket_id, "subject": messages[0][2][:40], "status": "open",
            "tags": list(tags), "messages": [
                {"author_role": role, "public": public, "body": body, "expect": expect,
                 "created_at": (T0 + timedelta(minutes=10 * i)).isoformat(),
                 **({"expect_sources": sources} if "answer" in expect and sources else {})}
                for i, (role, public, body, expect) in enumerate(messages)]}


TINY = [
    _conversation("tiny-1", [("customer", True, "I forgot my password. How do I reset it?", ["answer"]),
                             ("analyst", True, "Hi! I will send you a reset link now.", []),
                             ("customer", True, "thanks, that worked", [])],
                  sources=["account-access/reset-password"]),
    _conversation("tiny-2", [("customer", True, "Our whole production system is down and we are losing "
                                                "sales every hour. Fix it now!", ["flag"]),
                             ("analyst", True, "We are on it and will update you within the hour.", [])]),
    _conversation("tiny-3", [("customer", True, "How can I change the shipping address of my order?",
                              ["answer", "flag"])], tags=["vip"],
                  sources=["shipping-issue/change-shipping-address-or-item"]),
    _conversation("tiny-4", [("customer", True, "hello, just saying hi", []),
                             ("customer", True, "I forgot my username, how do I get it back?", ["answer"])],
                  sources=["account-access/recover-username"]),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("labelled") / "tiny.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in TINY), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny):
    """`vigil eval --out DIR` as a user runs it, with the suites' inputs cut down."""
    out = tmp_path_factory.mktemp("report") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        mp.setenv("VIGIL_HOME", str(tmp_path_factory.mktemp("home")))
        mp.setenv("VIGIL_KNOWLEDGE_DIR", str(REPO / "knowledge"))
        mp.setenv("VIGIL_RULES_DIR", str(REPO / "rules"))
        mp.setenv("OPENAI_API_KEY", "")  # offline, whatever the machine has configured
        mp.setenv("OPENAI_BASE_URL", "")
        mp.setattr(report, "write_report", partial(
            report.write_report, labelled={"tiny": tiny}, care_cases=CARE_CASES,
            helpdesk_tickets=TICKETS, real_questions=12, progress=False))
        result = CliRunner().invoke(main, ["eval", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "figures.json").read_text(encoding="utf-8"))


def _fraction_or_none(v) -> bool:
    return v is None or 0 <= v <= 1


def test_the_command_says_where_the_report_is_and_one_line_per_suite(run):
    out, output, _ = run
    lines = output.splitlines()
    assert lines[0].startswith(f"report: {out / 'report.html'}")
    assert [line.split(" ")[0] for line in lines[1:]] == [
        "decisions", "calibration:", "grounding:", "learning", "real", "reading", "helpdesk:", "cost:"]
    assert "crashes 0" in lines[7] and "offline: no model configured" in lines[8]


def test_figures_json_has_every_suite(run):
    figures = run[2]
    assert set(figures) == {"decisions", "calibration", "grounding", "learning_curve", "real_sets", "reading",
                            "helpdesk", "cost", "run"}
    assert figures["run"]["runtime_seconds"] > 0 and figures["run"]["model"] == "offline: no model configured"


def test_the_labelled_set_is_scored_and_the_confusion_table_adds_up(run):
    s = run[2]["decisions"]["tiny"]
    messages = [m for c in TINY for m in c["messages"]]
    assert (s["conversations"], s["messages"]) == (len(TINY), len(messages))
    counts = s["confusion"]["counts"]
    assert s["confusion"]["labels"] == list(CONFUSION_LABELS)
    assert sum(map(sum, counts)) == len(messages)
    for i, label in enumerate(CONFUSION_LABELS):  # row totals are the labels as written
        assert sum(counts[i]) == sum(action_label(m["expect"]) == label for m in messages)
    for action, sc in s["scores"].items():
        assert sc["tp"] + sc["fp"] + sc["fn"] + sc["tn"] == len(messages)
        assert sc["tp"] + sc["fn"] == sum(action in m["expect"] for m in messages)
        cells = [(e, t) for e in CONFUSION_LABELS for t in CONFUSION_LABELS]
        both = sum(counts[CONFUSION_LABELS.index(e)][CONFUSION_LABELS.index(t)]
                   for e, t in cells if action in e.split("+") and action in t.split("+"))
        assert both == sc["tp"]
        assert _fraction_or_none(sc["precision"]) and _fraction_or_none(sc["recall"])
    assert s["scores"]["answer"]["tp"] >= 2 and s["scores"]["flag"]["tp"] >= 1  # it did the obvious


def test_the_detailed_scores_are_evaluates_scores(run, tiny):
    settings = Settings(home=Path("unused"), knowledge_dir=REPO / "knowledge", rules_dir=REPO / "rules")
    assert run[2]["decisions"]["tiny"]["scores"] == evaluate(tiny, settings)["scores"]


def test_calibration_shows_the_model_in_force_and_its_curves(run):
    from plugin.decision.answerability import load_model
    c = run[2]["calibration"]
    model = load_model()
    assert c["weights"] == dict(zip(model.features, model.weights))
    curves = c["provenance"]["calibration"]
    assert set(curves) == {"dev", "report"} and curves["dev"]
    for by_source in curves.values():
        for source in by_source.values():
            assert sum(p["count"] for p in source["curve"]) == source["rows"]
            assert all(0 <= p["predicted"] <= 1 and 0 <= p["observed"] <= 1 for p in source["curve"])
    assert c["in_force"] and all(0 < t <= 1 for t in c["in_force"])  # what the shipped answer rules use


def test_grounding_counts_are_consistent(run):
    g = run[2]["grounding"]
    assert g["cases"] == CARE_CASES and g["test_cases"] == CARE_CASES - int(CARE_CASES * report.SPLIT)
    assert g["in_kb"] + g["not_in_kb"] == g["test_cases"]
    assert sum(s["in_kb"] + s["not_in_kb"] for s in g["by_company"].values()) == g["test_cases"]
    for s in [g, *g["by_company"].values()]:
        assert all(_fraction_or_none(s[k]) for k in ("hit_at_1", "hit_at_3", "answered", "correct_silence"))
        if s["in_kb"]:
            assert s["hit_at_1"] <= s["hit_at_3"] <= s["answered"]


def test_the_learning_curve_grows_from_an_empty_knowledge_base(run):
    curve, g = run[2]["learning_curve"], run[2]["grounding"]
    points = curve["points"]
    assert [p["fraction"] for p in points] == list(report.CURVE)
    assert [p["knowledge_cases"] for p in points] == [int(CARE_CASES * f) for f in report.CURVE]
    entries = [p["knowledge_entries"] for p in points]
    assert entries[0] == 0 and entries == sorted(entries)
    assert points[0]["hit_at_3"] == 0 and points[0]["answered"] == 0  # nothing to cite yet
    assert all(p["in_kb"] == curve["in_kb"] == g["in_kb"] for p in points)  # one denominator
    last = points[-1]  # all the earlier conversations: the grounding suite itself
    assert (last["hit_at_1"], last["hit_at_3"], last["knowledge_entries"]) == (
        g["hit_at_1"], g["hit_at_3"], g["knowledge_entries"])


def test_the_helpdesk_replay_survives_real_text(run):
    h = run[2]["helpdesk"]
    cases = helpdesk_cases()[:TICKETS]
    assert h["tickets"] == TICKETS and h["messages"] == sum(len(c.messages) for c in cases)
    assert h["crashes"] == 0 and h["errors"] == []
    assert sum(h["notes_per_ticket"].values()) == TICKETS
    assert sum(int(k) * v for k, v in h["notes_per_ticket"].items()) == h["notes"] == sum(h["notes_by_ticket"].values())
    assert set(h["notes_by_ticket"]) == {c.ticket_id for c in cases}
    assert sum(h["actions"].values()) == sum(r["count"] for r in h["rules"]) >= h["notes"]
    assert h["tickets_with_a_note"] == sum(n > 0 for n in h["notes_by_ticket"].values())


def test_the_cost_is_zero_offline(run):
    cost = run[2]["cost"]
    assert cost["mode"] == "offline" and cost["note"] == "offline: no model configured"
    assert (cost["calls"], cost["prompt_tokens"], cost["completion_tokens"]) == (0, 0, 0)
    assert cost["per_100_tickets"] == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    assert cost["tickets"] == TICKETS


def test_the_page_is_self_contained_with_every_plot(run):
    out, _, _ = run
    html = (out / "report.html").read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert re.search(rf"<h2[^>]*>\d\. {re.escape(heading)}</h2>", html), heading
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', html)
    assert len(images) == len(PLOTS)
    assert sorted(images) == sorted(base64.b64encode((out / f"{n}.png").read_bytes()).decode() for n in PLOTS)
    assert not re.search(r'(src|href)="(https?:|//)', html) and "<script" not in html and "<link" not in html
    assert "offline: no model configured" in html and "tiny" in html


def test_the_plots_are_png_files_next_to_the_page(run):
    out = run[0]
    for name in PLOTS:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 1000, name


def test_text_from_the_data_is_escaped(run, tmp_path):
    figures = copy.deepcopy(run[2])
    figures["grounding"]["by_company"]['<script>alert("x")</script>'] = figures["grounding"]["by_company"].popitem()[1]
    html, _, _ = write_files(tmp_path, figures, ["a <b>summary</b>"])
    text = html.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text and "a &lt;b&gt;summary" in text


def _case(ticket_id: str, *bodies: str) -> Case:
    return Case("jira", ticket_id, "", tuple(
        Message("customer" if i % 2 == 0 else "analyst", True, body, T0 + timedelta(minutes=5 * i))
        for i, body in enumerate(bodies)))


CASES = [_case("hd-a", "our production system is down and we are losing sales, urgent!",
               "we are looking into it", "how do i reset my password?"),
         _case("hd-b", "how do i reset my password", "sent")]


def test_an_exception_is_recorded_and_the_replay_goes_on(monkeypatch, tmp_path):
    from plugin.decision.pipeline import Pipeline
    real = Pipeline.handle

    def handle(self, event, shadow=None):
        if event.ticket_id == "hd-a" and event.kind == "message":
            raise UnicodeError("messy text")
        return real(self, event, shadow)
    monkeypatch.setattr(Pipeline, "handle", handle)
    settings = Settings(home=tmp_path / "home", knowledge_dir=REPO / "knowledge", rules_dir=REPO / "rules")
    h, _ = report.helpdesk_suite(CASES, settings)
    assert h["crashes"] == 1 and h["errors"][0]["ticket_id"] == "hd-a"
    assert h["errors"][0]["event_index"] == 1 and "UnicodeError: messy text" in h["errors"][0]["error"]
    assert h["notes_by_ticket"]["hd-b"] >= 1  # the next ticket was still replayed


def test_the_cost_counts_the_model_calls_per_100_tickets(monkeypatch, tmp_path):
    """With a model configured, every drafted note's call lands in model_calls and is counted."""
    import plugin.decision.pipeline
    drafted = []

    def perform(context):
        drafted.append(context.decision.action)
        return Note(f"note {len(drafted)}", (), "model", ModelCall("m", "v1", 100, 20, 0.1, "used"))
    monkeypatch.setattr(plugin.decision.pipeline, "perform", perform)
    settings = Settings(home=tmp_path / "home", knowledge_dir=REPO / "knowledge", rules_dir=REPO / "rules",
                        openai_base_url="http://127.0.0.1:9", llm_model="m")  # never reached: perform is stubbed
    _, cost = report.helpdesk_suite(CASES, settings)
    assert drafted and cost["mode"] == "model" and cost["calls"] == len(drafted)
    assert (cost["prompt_tokens"], cost["completion_tokens"]) == (100 * len(drafted), 20 * len(drafted))
    assert cost["per_100_tickets"]["calls"] == round(100 * len(drafted) / len(CASES), 1)
    assert "offline" not in report.summary_lines({**_stub_figures(), "cost": cost})[-1]


def _stub_figures() -> dict:
    score = {"precision": 1.0, "recall": 1.0}
    return {"decisions": {"x": {"messages": 1, "scores": {"answer": score, "flag": score}}},
            "calibration": {"in_force": [0.45], "weights": {}, "provenance": {}},
            "grounding": {"test_cases": 1, "in_kb": 1, "hit_at_1": 1.0, "hit_at_3": 1.0, "not_in_kb": 0,
                          "correct_silence": None},
            "learning_curve": {"in_kb": 1, "points": []},
            "helpdesk": {"tickets": 1, "messages": 1, "notes": 0, "median_notes": 0, "max_notes": 0,
                         "actions": {}, "crashes": 0}}


def test_without_out_the_command_is_unchanged(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VIGIL_KNOWLEDGE_DIR", str(REPO / "knowledge"))
    monkeypatch.setenv("VIGIL_RULES_DIR", str(REPO / "rules"))
    result = CliRunner().invoke(main, ["eval", "--set", str(tiny), "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)) == {"conversations", "messages", "scores",
                                              "answers_citing_an_expected_source"}


def test_the_reading_table_says_how_many_security_flags_name_a_security_event(run):
    out, _, figures = run
    html = (out / "report.html").read_text(encoding="utf-8")
    for part, r in figures["reading"].items():
        security = r["flag"]["security"]
        assert f"<td>{part}</td>" in html and f"<td>{security['right']} of {security['flagged']}</td>" in html
