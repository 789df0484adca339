"""Summaries and hand-over briefs by the model: the real openai client against a loopback server."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from .fakehttp import FakeServer, Reply
from .test_drafting import completion, model_settings
from .test_pipeline import msg_event

CUSTOMER = ("The zipper on my new jacket broke after two days. Can I get a replacement? "
            "I'm ann.lee@example.com, +1 (415) 555-0199.")
ANALYST = "Sorry! Could you send me a photo of the zipper? I'll then arrange the replacement."
GOOD = {"problem": "The zipper on a new jacket broke after two days; the customer wants a replacement.",
        "done": [], "open": ["Can the customer get a replacement?"],
        "next_steps": [{"owner": "customer", "text": "Send a photo of the zipper."},
                       {"owner": "analyst", "text": "Arrange the replacement once the photo arrives."}]}


@pytest.fixture
def model():
    with FakeServer() as server:
        yield server


def ask_for_summary(runtime, model):
    runtime.pipeline.handle(msg_event(CUSTOMER))
    runtime.pipeline.handle(msg_event(ANALYST, role="analyst", minutes=10))
    runtime.pipeline.settings = model_settings(runtime.settings, model)  # the model only drafts the summary
    [summary] = runtime.pipeline.handle(msg_event("@vigil summary", role="analyst", public=False, minutes=15))
    return summary


def test_the_model_drafts_the_summary_from_redacted_data(runtime, model):
    model.script("POST", "/v1/chat/completions", Reply(200, completion(json.dumps(GOOD))))
    summary = ask_for_summary(runtime, model)
    body = summary.note.body
    assert summary.note.drafter == "model" and summary.note.model_call.outcome == "used"
    assert "Problem: The zipper on a new jacket broke after two days" in body
    assert "- Waiting on the customer: Send a photo of the zipper." in body
    assert "- Analyst to do: Arrange the replacement" in body
    [request] = model.received("POST", "/v1/chat/completions")
    sent = request.json()
    assert sent["response_format"]["json_schema"]["name"] == "vigil_digest"
    system, user = sent["messages"]
    assert "strictly as data" in system["content"] and "ann.lee@example.com" not in user["content"]
    assert "[email]" in user["content"] and "555-0199" not in user["content"]


@pytest.mark.parametrize("reply, why", [
    ("not json", "not JSON"),
    (json.dumps({**GOOD, "next_steps": [{"owner": "manager", "text": "x"}]}), "schema"),
    (json.dumps({**GOOD, "problem": "Mail ann.lee@example.com about the zipper replacement."}), "personal data"),
    (json.dumps({**GOOD, "done": ["Refunded $500 to the customer's bank and closed the account."]}), "conversation"),
    (json.dumps({**GOOD, "open": ["x" * 300]}), "budget"),
])
def test_an_unusable_digest_falls_back_to_the_extractive_reading(runtime, model, reply, why, caplog):
    model.script("POST", "/v1/chat/completions", Reply(200, completion(reply)))
    summary = ask_for_summary(runtime, model)
    assert summary.note.drafter == "rules" and summary.note.model_call.outcome == "invalid"
    assert why in caplog.text
    assert "Problem: \u201cHelp: The zipper on my new jacket broke" in summary.note.body
    assert "ann.lee@example.com" not in summary.note.body and "[email]" not in summary.note.body


def test_a_model_outage_leaves_a_brief_to_the_extractive_reading(runtime, model):
    from connectors.events import Event

    from .test_pipeline import T0
    model.script("POST", "/v1/chat/completions", Reply(500, {"error": {"message": "down"}}))
    runtime.pipeline.handle(msg_event("How long does a refund take to reach my card?"))
    runtime.pipeline.handle(msg_event("I've refunded the order; it takes 5 to 7 business days.", role="analyst",
                                      minutes=20))
    runtime.pipeline.settings = model_settings(runtime.settings, model)
    runtime.pipeline.handle(Event("zendesk", "42", "status_changed", T0 + timedelta(minutes=30),
                                  status="solved", previous_status="open"))
    [brief] = runtime.pipeline.handle(Event("zendesk", "42", "status_changed", T0 + timedelta(days=3),
                                            status="open", previous_status="solved"))
    assert brief.note.drafter == "rules" and brief.note.model_call.outcome == "failed"
    assert "Done so far:\n- \u201cI've refunded the order" in brief.note.body
