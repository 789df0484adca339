"""The key facts a note states: found in real phrasing, redacted, and read from capped text."""

from __future__ import annotations

import pytest

from plugin.notes.facts import MAX_TEXT, key_facts


def facts(*texts: str, products=frozenset()) -> list[str]:
    return [str(f) for f in key_facts(list(texts), products)]


@pytest.mark.parametrize("text, fact", [
    ("We lost $4,200 in sales yesterday.", "Money at stake: $4,200"),
    ("I paid 1,500 dollars for this.", "Money at stake: 1,500 dollars"),
    ("Refund the €49.99 please", "Money at stake: €49.99"),
    ("Our launch is on Friday!", "Deadline: launch is on Friday"),
    ("I need it by tomorrow morning.", "Deadline: by tomorrow morning"),
    ("The go-live on March 3rd cannot move.", "Deadline: go-live on March 3rd"),
    ("the wedding is next Saturday", "Deadline: wedding is next Saturday"),
    ("All 12 of our stores are down.", "Affected: 12 of our stores"),
    ("none of our 40 employees can log in", "Affected: 40 employees"),
    ("Checkout says error 502 again", "Error: error 502"),
    ("Chrome shows ERR_CONNECTION_RESET", "Error: ERR_CONNECTION_RESET"),
    ("My premium subscription renewal failed.", "Product: premium subscription"),
])
def test_a_fact_in_real_phrasing_is_found(text, fact):
    assert fact in facts(text, products=frozenset({"premium subscription", "orders"}))


def test_personal_data_is_never_a_fact():
    found = facts("Call +1 (415) 555-0199, card 4111 1111 1111 1111, mail ann@example.com by Friday.")
    assert found == ["Deadline: by Friday"]


def test_everyday_one_word_products_are_not_facts():
    assert facts("Where are my orders?", products=frozenset({"orders"})) == []


def test_each_message_is_read_only_up_to_the_cap():
    assert facts("x" * MAX_TEXT + " we lost $4,200") == []
    assert facts("a" * 64_000 + " error 502") == []  # a 64,000-character word: capped, not scanned whole
