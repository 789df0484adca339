"""The learning loop on the real data in data/: safe proposals, knowledge that helps, a sample to grade."""

from __future__ import annotations

import pytest

from plugin.evaluation import grounding
from plugin.evaluation.learning import (CARE_HELP_DOMAINS, _figures, helpdesk_cases, loop_closes, summary,
                                        twitter_cases)
from plugin.settings import Settings

from ..conftest import REPO


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", knowledge_dir=REPO / "knowledge", rules_dir=REPO / "rules",
                    learn_help_domains=CARE_HELP_DOMAINS)


def test_real_tickets_read_as_cases():
    cases = helpdesk_cases()
    assert len(cases) == 360
    assert all(c.messages and c.messages == tuple(sorted(c.messages, key=lambda m: m.created_at)) for c in cases)
    assert {m.author_role for c in cases for m in c.messages} == {"customer", "analyst"}
    assert any(not m.public for c in cases for m in c.messages)  # internal comments are kept as such


@pytest.mark.parametrize("name", ["helpdesk", "customer_care"])
def test_proposals_from_real_tickets_carry_nothing_a_reviewer_must_remove(settings, name):
    cases = helpdesk_cases()[:120] if name == "helpdesk" else twitter_cases(grounding.load_cases()[:150])
    figures = _figures(cases, settings)
    assert figures["proposals"] > 0
    assert figures["leaks"] == {"personal_data": 0, "customer_links": 0, "greetings": 0, "signatures": 0}
    assert figures["lessons"] + figures["skipped"] == len(cases)  # every case: a lesson, or a stated reason
    assert len(figures["confidence"]) > 2  # not the same figure everywhere


def test_the_loop_closes_and_leaves_a_sample_to_grade(settings, tmp_path):
    result = loop_closes(settings, sample=tmp_path / "review.md")
    assert result["after"]["in_kb"] > 0
    assert result["after"]["hit_at_1"] > result["before"]["hit_at_1"]
    sample = (tmp_path / "review.md").read_text()
    assert sample.count("\nverdict: \n") == min(25, result["learned_entries"])
    lines = summary({"extractors": ["offline"], "review_samples": [], "offline": {
        "helpdesk": _figures(helpdesk_cases()[:30], settings), "customer_care": _figures([], settings),
        "loop": result}})
    assert any(line.startswith("  later tickets: right first") and "->" in line for line in lines)


def test_both_extractors_side_by_side_on_the_same_cases(settings):
    """With a model configured (the real openai client, a loopback server), each figure twice."""
    import json

    from plugin.evaluation.learning import compare
    from tests.fakehttp import FakeServer, Reply

    def model(request) -> Reply:
        """A model that restates the question and keeps the analyst's first help link, or skips."""
        data = json.loads(request.json()["messages"][1]["content"])
        asked = next(m["text"] for m in data["TICKET"] if m["role"] == "customer")
        lesson = {"question": "How do I " + " ".join(asked.split()[1:8]).rstrip("?.!") + "?", "cause": "",
                  "steps": ["Follow the steps in the help article."], "links": data["HELP_LINKS"][:1],
                  "skip": "" if data["HELP_LINKS"] else "the reply gives no help document"}
        return Reply(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": json.dumps(lesson)}}]})
    cases = twitter_cases(grounding.load_cases()[:40])
    with FakeServer() as server:
        server.script("POST", "/v1/chat/completions", model)
        figures = compare(cases, settings.replace(openai_base_url=f"{server.url}/v1", openai_api_key="k",
                                                  llm_model="m"))
        assert len(server.received("POST", "/v1/chat/completions")) == len(cases)  # one call per case
    assert list(figures) == ["offline", "model:m"]
    offline, by_model = figures["offline"], figures["model:m"]
    assert offline["cases"] == by_model["cases"] == len(cases)
    assert by_model["skipped_because"].get("the model", 0) > 0  # its reasoned skips are believed
    assert by_model["lessons"] != offline["lessons"] or by_model["proposals"] != offline["proposals"]
    assert by_model["leaks"] == {"personal_data": 0, "customer_links": 0, "greetings": 0, "signatures": 0}
