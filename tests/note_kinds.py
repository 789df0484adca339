"""One note of each kind, made by the pipeline from a conversation: for the renderers' tests."""

from __future__ import annotations

from datetime import timedelta

from connectors.events import Event, TicketRef

from .test_action_notes import FURIOUS
from .test_answer_layout import said, shipped
from .test_pipeline import T0, msg_event


def notes_of_every_kind(runtime) -> dict[str, str]:
    handle = runtime.pipeline.handle
    out = {}
    [answer] = handle(msg_event("How do I reset my password? I can't log in.", ticket="1"))
    out["answer"] = answer.note.body
    out["answer-structured"] = structured_answer(runtime.pipeline.settings).body
    [flag] = handle(msg_event(FURIOUS, ticket="2"))
    out["flag"] = flag.note.body
    handle(msg_event("My jacket arrived torn, what now? The order was $120.", ticket="3"))
    [nudge] = runtime.pipeline.sweep_ticket(runtime.store.tickets.find_ticket(TicketRef("zendesk", "3")), T0 + timedelta(hours=5))
    out["nudge"] = nudge.note.body
    handle(msg_event("How long does a refund take to reach my card?", ticket="4"))
    handle(msg_event("I've refunded the order; it takes 5 to 7 business days.", role="analyst", minutes=20, ticket="4"))
    handle(Event("zendesk", "4", "status_changed", T0 + timedelta(minutes=30), status="solved", previous_status="open"))
    [brief] = handle(Event("zendesk", "4", "status_changed", T0 + timedelta(days=3), status="open",
                           previous_status="solved"))
    out["brief"] = brief.note.body
    handle(msg_event("The zipper on my new jacket broke. Can I get a replacement?", ticket="5"))
    handle(msg_event("Sorry! Could you send me a photo of the zipper? I'll then arrange the replacement.",
                     role="analyst", minutes=10, ticket="5"))
    [summary] = handle(msg_event("@vigil summary", role="analyst", public=False, minutes=15, ticket="5"))
    out["summary"] = summary.note.body
    return out


def structured_answer(settings):
    """The shipped return entry (conditions by membership level, then its steps) for a Silver member."""
    from plugin.notes.drafting import draft_answer
    question = said("I'm a Silver member and kept the receipt. The shirt is too small: can I return it?")
    why = ("A customer asked an in-scope question that the knowledge base answers with confidence. "
           "The question matches \u201cReturn an item\u201d (evidence 0.71). (Rule: answer-customer-question.)")
    return draft_answer(question, [shipped("product-defect/return-an-item")], why, settings)
