"""The learning loop on the real data in data/: safe proposals, and knowledge that helps."""

from __future__ import annotations

import pytest

from plugin.evaluation.learning import _figures, helpdesk_cases, loop_closes, twitter_cases
from plugin.evaluation import grounding
from plugin.settings import Settings

from ..conftest import REPO


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", knowledge_dir=REPO / "knowledge", rules_dir=REPO / "rules")


def test_real_tickets_read_as_cases():
    cases = helpdesk_cases()
    assert len(cases) == 360
    assert all(c.messages and c.messages == tuple(sorted(c.messages, key=lambda m: m.created_at)) for c in cases)
    assert {m.author_role for c in cases for m in c.messages} == {"customer", "analyst"}
    assert any(not m.public for c in cases for m in c.messages)  # internal comments are kept as such


@pytest.mark.parametrize("name", ["helpdesk", "customer_care"])
def test_proposals_from_real_tickets_carry_no_personal_data(settings, name):
    cases = helpdesk_cases()[:120] if name == "helpdesk" else twitter_cases(grounding.load_cases()[:150])
    figures = _figures(cases, settings)
    assert figures["proposals"] > 0
    assert figures["personal_data_findings"] == 0


def test_the_loop_closes(settings):
    result = loop_closes(settings)
    assert result["after"]["in_kb"] > 0
    assert result["after"]["hit_at_3"] > result["before"]["hit_at_3"]
