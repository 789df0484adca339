"""Extractive answers keep an entry's structure: the customer's case first, the procedure whole."""

from __future__ import annotations

from datetime import datetime, timezone

from connectors.events import Message
from plugin.model import Hit
from plugin.notes.drafting import draft_answer
from plugin.notes.entry_parts import parse
from plugin.notes.extractive import MAX_LINES

from .conftest import REPO

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
# A structured entry: a lead, a condition list, then a six-step procedure.
PLANS = """Refunds of a subscription depend on the plan the customer is on:

- Starter: refunded within 14 days of the charge.
- Business: refunded within 30 days, pro rata after that.
- Enterprise: refunded only through the account manager.

Steps:
1. Pull up the account and confirm the plan on the billing page.
2. Check the charge date against the plan's refund window above.
3. Work out the amount: the full charge inside the window, else the unused months.
4. Issue the refund to the original payment method.
5. Record the refund reason on the account.
6. Tell the customer the amount and that it arrives in 5 to 7 business days.

Annual plans bought through a reseller are refunded by the reseller."""


def said(text: str) -> list[Message]:
    return [Message("customer", True, text, AT)]


def hit(body: str, entry_id: str = "billing/subscription-refund", sources: tuple[str, ...] = ()) -> Hit:
    return Hit(entry_id, "Refund a subscription", body, 0.8, sources)


def shipped(entry_id: str) -> Hit:
    from plugin.knowledge.entries import parse_entry
    entry = parse_entry(entry_id, (REPO / "knowledge" / f"{entry_id}.md").read_text())
    return Hit(entry.id, entry.title, entry.body, 0.8, entry.sources)


def blocks(body: str) -> list[str]:
    return body.split("\n\n")


def test_parse_keeps_the_lead_the_conditions_the_procedure_and_the_notes():
    parts = parse(PLANS)
    assert [c.label for c in parts.cases] == ["Starter", "Business", "Enterprise"]
    assert parts.cases_intro == "Refunds of a subscription depend on the plan the customer is on:"
    assert len(parts.steps) == 6 and parts.steps[5].text.startswith("Tell the customer")
    assert parts.notes == ("Annual plans bought through a reseller are refunded by the reseller.",)


def test_parse_reads_an_entry_written_with_section_headings():
    parts = parse("# Refund a subscription\n\nRefunds depend on the plan.\n\n## Plans\n- Starter: 14 days.\n"
                  "- Business: 30 days.\n\n## Steps\n1. Confirm the plan.\n2. Issue the refund.\n")
    assert parts.lead == "Refunds depend on the plan."
    assert (parts.cases_intro, [c.label for c in parts.cases]) == ("Plans:", ["Starter", "Business"])
    assert (parts.steps_intro, [s.text for s in parts.steps]) == ("Steps:", ["Confirm the plan.", "Issue the refund."])


def test_a_customer_naming_their_plan_gets_it_first_and_all_six_steps(settings):
    note = draft_answer(said("We are on the Business plan and were charged 40 days ago. Can we get a refund?"),
                        [hit(PLANS)], "why", settings)
    first, case, steps = blocks(note.body)[:3]
    assert "**Refund a subscription.**" in first
    case_lines = case.splitlines()
    assert case_lines[1] == "- **Business** (the customer's case): refunded within 30 days, pro rata after that."
    assert case_lines[2] == "- Also in the entry: Starter; Enterprise."  # the others, folded into one line
    assert len(case_lines) == 3
    assert [line.split(". ", 1)[0] for line in steps.splitlines()[1:]] == ["1", "2", "3", "4", "5", "6"]
    assert "Tell the customer the amount" in steps


def test_without_a_named_case_every_condition_is_listed_in_order(settings):
    note = draft_answer(said("How do subscription refunds work?"), [hit(PLANS)], "why", settings)
    case = blocks(note.body)[1].splitlines()
    assert [line.split("**")[1] for line in case[1:]] == ["Starter", "Business", "Enterprise"]


def test_the_shipped_return_entry_keeps_its_four_steps_and_leads_with_silver(settings):
    entry = shipped("product-defect/return-an-item")
    note = draft_answer(said("I'm a Silver member and have the receipt. The shirt is too small, can I return it?"),
                        [entry], "why", settings)
    first, case, steps = blocks(note.body)[:3]
    assert "follow the same return process" in first  # the lead sentence is kept
    assert case.splitlines()[1].startswith("- **Silver** (the customer's case): purchased within the last 6 months")
    assert "Gold" not in case.splitlines()[1] and case.splitlines()[2] == "- Also in the entry: Gold; Bronze; Guest."
    assert "3. Take the full street address" in steps and "4. Ask how they want to return it" in steps


def test_a_named_branch_inside_a_step_comes_first_and_the_others_stay(settings):
    entry = shipped("order-issue/upgrade-to-overnight-shipping")
    note = draft_answer(said("My order is already in transit. Can I still upgrade it to overnight?"),
                        [entry], "why", settings)
    step = note.body.split("2. Check the shipping status:\n", 1)[1].splitlines()
    assert step[0].startswith("   - **In Transit, Out for Delivery or Delivered** (the customer's case): too late")
    assert step[1].startswith("   - **Order Received**: the order has not shipped yet")


def test_a_long_procedure_stops_at_a_step_end_and_links_to_the_rest(settings):
    steps = "\n".join(f"{n}. Do the thing number {n} and check it." for n in range(1, 25))
    entry = hit(f"A long procedure.\n\n{steps}", sources=("https://kb.example.com/long",))
    note = draft_answer(said("How do I do the long thing?"), [entry], "why", settings)
    kept = [line for line in note.body.splitlines() if line[:1].isdigit()]
    assert len(kept) == MAX_LINES and kept[-1] == f"{MAX_LINES}. Do the thing number {MAX_LINES} and check it."
    assert (f"The procedure goes on (steps {MAX_LINES + 1}-24 of 24) in the entry: https://kb.example.com/long"
            in note.body)


def test_sources_are_links_the_entry_url_first_else_the_configured_base(settings):
    with_url = hit(PLANS, sources=("abcd:Billing", "https://help.example.com/refunds"))
    note = draft_answer(said("How do refunds work?"), [with_url], "why", settings)
    assert "- [Refund a subscription](https://help.example.com/refunds)" in note.body
    without = hit(PLANS, sources=("abcd:Billing",))
    based = settings.replace(knowledge_url="https://git.example.com/acme/kb/blob/main/knowledge/")
    note = draft_answer(said("How do refunds work?"), [without], "why", based)
    assert ("- [Refund a subscription](https://git.example.com/acme/kb/blob/main/knowledge/"
            "billing/subscription-refund.md)") in note.body
    plain = draft_answer(said("How do refunds work?"), [without], "why", settings)
    assert "- Refund a subscription: knowledge/billing/subscription-refund.md" in plain.body


def test_every_shipped_entry_keeps_its_whole_procedure(settings):
    """The shipped knowledge base fits the budget: no note of it cuts a procedure."""
    from plugin.knowledge.entries import entry_paths, load_entry
    root = REPO / "knowledge"
    for path in entry_paths(root):
        entry = load_entry(root, path)
        parts = parse(entry.body)
        note = draft_answer(said("What do I do?"), [Hit(entry.id, entry.title, entry.body, 0.8)], "why", settings)
        assert "The procedure goes on" not in note.body, entry.id
        for step in parts.steps:
            assert step.text[:60] in note.body, (entry.id, step.text)


def test_a_lead_that_only_repeats_the_title_is_left_out(settings):
    note = draft_answer(said("How do I change the name on my account?"), [shipped("manage-account/change-name")],
                        "why", settings)
    assert note.body.split("\n\n")[0].endswith("**Change the name on the account.**")
    assert "To change the name on the account" not in note.body
