"""The decisions against the labelled sets: the bar runs in CI, on every change."""

from __future__ import annotations


import pytest

from plugin.evaluation.labelled import evaluate, with_answer_threshold
from plugin.decision.rulebook import load_rules
from plugin.settings import Settings

from .conftest import REPO

EVAL = REPO / "tests" / "eval"


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"), knowledge_dir=REPO / "knowledge",
                    rules_dir=REPO / "rules")


@pytest.fixture(scope="module")
def tuned(settings):
    return evaluate(EVAL / "decisions.jsonl", settings)


@pytest.mark.parametrize("action", ["answer", "flag"])
def test_the_bar_on_the_labelled_set(tuned, action):
    scores = tuned["scores"][action]
    assert scores["precision"] >= 0.9 and scores["recall"] >= 0.7, scores


@pytest.mark.parametrize("name, action, precision, recall", [
    # Floors a little under the README's figures on the two sets written without sight of
    # the code: a change that loses ground there fails here, before it reaches an analyst.
    ("holdout", "answer", 0.75, 0.65), ("holdout", "flag", 0.85, 0.9),
    ("sealed", "answer", 0.85, 0.6), ("sealed", "flag", 0.9, 0.9),
])
def test_floors_on_the_held_out_sets(settings, name, action, precision, recall):
    scores = evaluate(EVAL / f"{name}.jsonl", settings)["scores"][action]
    assert scores["precision"] >= precision and scores["recall"] >= recall, scores


def test_the_mistakes_listed_are_the_false_positives_and_negatives_counted(tuned):
    for action, scores in tuned["scores"].items():
        for kind in ("fp", "fn"):
            listed = [m for m in tuned["mistakes"] if (m["action"], m["kind"]) == (action, kind)]
            assert len(listed) == scores[kind], (action, kind)


def test_answers_cite_an_expected_source(tuned):
    assert tuned["answers_citing_an_expected_source"] >= 0.9


def test_the_threshold_matters(settings):
    """A confidence threshold of zero answers everything: precision must collapse (the metric can fail)."""
    loose = evaluate(EVAL / "decisions.jsonl", settings, with_answer_threshold(load_rules(REPO / "rules"), 0.0))
    assert loose["scores"]["answer"]["precision"] < 0.9
