"""The suites on real public sets, and the reading of real messages: splits, scoring, floors."""

from __future__ import annotations

import dataclasses

import pytest

from plugin.evaluation import reading, realsets
from plugin.settings import Settings

from .conftest import REPO


def test_stackfaq_splits_threads_not_rephrasings():
    questions = realsets.stackfaq().questions
    assert len(questions) > 1000
    parts: dict[str, set[str]] = {}
    for q in questions:
        thread = q.conversation["ticket_id"].rsplit("-", 1)[0]
        parts.setdefault(thread, set()).add(q.part)
    assert all(len(p) == 1 for p in parts.values())  # no thread has rephrasings on both sides
    unanswerable = sum(not q.right for q in questions) / len(questions)
    assert 0.15 < unanswerable < 0.4 and {q.part for q in questions} == set(realsets.PARTS)


def test_customer_care_questions_come_after_the_knowledge_in_time():
    real = realsets.customer_care()
    dev = [q for q in real.questions if q.part == "dev"]
    report = [q for q in real.questions if q.part == "report"]
    last_dev = max(m["created_at"] for q in dev for m in q.conversation["messages"][:1])
    assert dev and report and all(q.conversation["messages"][0]["created_at"] >= last_dev for q in report)


def _row(right, answers, ranked=(), bm25s=None):
    return {"right": list(right), "answers": [list(a) for a in answers], "ranked": list(ranked), "bm25s": bm25s}


def test_figures_count_a_right_entry_only_when_cited_first():
    rows = [_row(["a"], [["a", "b"]], ["a"], "a"),  # right first
            _row(["a"], [["b", "a"]], ["b"], "b"),  # answered, but a wrong entry first
            _row(["a"], [], ["a"], "a"),  # left alone though answerable
            _row([], [["c"]], ["c"], "c"),  # answered though nothing answers it
            _row([], [], [], None)]
    f = realsets.figures(rows)
    assert (f["answerable"], f["unanswerable"], f["answers"]) == (3, 2, 3)
    assert f["right_first"] == round(1 / 3, 3) and f["answered_right"] == round(1 / 3, 3)
    assert f["silence"] == 0.5 and f["ranking"] == round(2 / 3, 3) and f["bm25s"] == round(2 / 3, 3)


def test_always_answering_drops_only_the_confidence_condition():
    from plugin.decision.rulebook import load_rules
    rules = load_rules(REPO / "rules")
    loose = realsets.always_answering(rules)
    for before, after in zip(rules, loose):
        dropped = {c.fact for c in before.conditions} - {c.fact for c in after.conditions}
        assert dropped <= ({realsets.CONFIDENCE} if before.action == "answer" else set())
    assert any(len(after.conditions) < len(before.conditions) for before, after in zip(rules, loose))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    real = realsets.stackfaq()
    by_part = [q for q in real.questions if q.part == "dev"][:40]
    small = dataclasses.replace(real, questions=by_part)
    settings = Settings(home=tmp_path_factory.mktemp("home"), knowledge_dir=REPO / "knowledge",
                        rules_dir=REPO / "rules")
    return realsets.run_set(small, settings, parts=("dev",))


def test_a_set_runs_through_the_pipeline_and_answers_some_right(small_run):
    f = small_run["dev"]
    assert f["questions"] == 40 and small_run["entries"] > 50
    assert f["answers"] > 0 and f["right_first"] > 0.5  # real answers, mostly the right thread
    assert f["ranking"] >= f["answered_right"]  # answering always can only answer more


def test_bm25s_baseline_ranks_the_right_thread(small_run):
    pytest.importorskip("bm25s")
    assert small_run["dev"]["bm25s"] > 0.5


def test_the_labelled_real_messages_name_real_messages_and_both_parts():
    messages = reading.load()
    assert len(messages) >= 850 and all(m["text"] for m in messages)
    assert {m["part"] for m in messages} == {"dev", "report"}
    assert len({(m["source"], m["id"]) for m in messages}) == len(messages)  # each message labelled once
    report = [m for m in messages if m["part"] == "report"]
    assert sum(bool(m["flag"]) for m in report) >= 40  # enough positives for a flag figure to mean something


def test_reading_floors_on_the_report_part():
    """Floors under the figures measured when the cues were last changed (README): the
    report part was never used to tune them, so a loss here is a loss on real text."""
    report = reading.measure(reading.load())["report"]
    assert report["flag"]["precision"] >= 0.7 and report["flag"]["recall"] >= 0.55, report
    security = report["flag"]["security"]  # a P0 note: most of them must name a security event
    assert security["flagged"] >= 5 and security["right"] >= 0.8 * security["flagged"], security
    assert report["asks"]["precision"] >= 0.9 and report["asks"]["recall"] >= 0.85, report


def test_security_flags_are_counted_apart_by_whether_they_name_a_security_event():
    rows = [{"part": "report", "asks": True, "flag": ["security"], "text": "someone hacked my account"},
            {"part": "report", "asks": True, "flag": [], "text": "my account was hacked, a game's quest says"},
            {"part": "report", "asks": True, "flag": ["negative_emotion"], "text": "these crooks hacked my bill"},
            {"part": "report", "asks": True, "flag": ["security"], "text": "I never got the code"}]
    flag = reading.measure(rows)["report"]["flag"]
    assert flag["security"] == {"flagged": 3, "right": 1, "deserved": 2}
    assert flag["precision"] == round(2 / 3, 3) and flag["right_kind"] == round(2 / 3, 3)


def test_a_label_naming_no_message_is_an_error(tmp_path):
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"source": "helpdesk", "id": "no-such-comment", "part": "dev", "asks": true, "flag": []}\n')
    with pytest.raises(ValueError, match="no-such-comment"):
        reading.load(bad)


def test_the_ranking_measure_answers_whatever_the_message_reads_as():
    from plugin.decision.rulebook import load_rules
    rules = load_rules(REPO / "rules")
    answering = realsets.ranking_alone(rules)
    assert answering and [r.name for r in answering] == [r.name for r in rules if r.action == "answer"]
    for rule in answering:
        assert {c.fact for c in rule.conditions}.isdisjoint({realsets.CONFIDENCE, *realsets.READING})
        assert {c.fact for c in rule.conditions} & {"role", "event"}  # still customers' (or analysts') messages
