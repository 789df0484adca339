"""Reading a hostile comment takes time in proportion to its length (issue 11, defect 1).

A pattern like `\\S+@\\S+` retried from every position of a long run without spaces takes
quadratic time: one 64,000-character comment held the interpreter for 40 s. These tests give
each reader of ticket text long adversarial input under a deadline generous enough for a
loaded machine (linear code takes milliseconds; the quadratic code took tens of seconds).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest

from plugin.knowledge.retrieval import query_terms

LONG = 64_000
# Runs of the characters the patterns repeat: no spaces, only spaces, word and hyphen, dots...
HOSTILE = ["x" * LONG, "\n" * LONG, " \n" * (LONG // 2), "a-" * (LONG // 2), "1-" * (LONG // 2),
           "." * LONG, "@" * LONG, "a." * (LONG // 2), "[" * LONG, "x" * LONG + " how do I fix this?"]


@contextmanager
def deadline(seconds: float):
    """Fail (instead of hanging the suite) when the block runs longer than `seconds`."""
    def expire(*_):
        raise TimeoutError(f"took longer than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:2]) + f"x{len(t)}")
def test_query_terms_of_a_long_hostile_comment_take_linear_time(text):
    with deadline(2.0):
        query_terms(text)


def test_query_terms_still_drop_an_e_mail_after_the_fix():
    assert query_terms("write to ann.lee+x@example.co.uk about the refund") == ["write", "about", "refund"]


# Every module that reads a ticket's text, or text quoted from it into a note.
READERS = ["plugin.knowledge.retrieval", "plugin.redaction", "plugin.decision.signals", "plugin.decision.thread",
           "plugin.decision.pipeline", "plugin.notes.drafting", "plugin.learning.extract", "plugin.learning.plan",
           "plugin.learning.wording", "plugin.learning.helpdocs", "plugin.learning.screening",
           "plugin.notes.facts", "plugin.notes.entry_parts", "plugin.notes.digest",
           "connectors.zendesk.render", "connectors.jira.render", "connectors.jira.webhook",
           "connectors.zendesk.webhook", "plugin.evaluation.grounding"]


def _patterns():
    """The module-level compiled patterns of every reader, in tuples and dicts too."""
    import importlib
    import re
    for name in READERS:
        for attr, value in vars(importlib.import_module(name)).items():
            values = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else [value]
            for v in values:
                for p in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(p, re.Pattern):
                        yield pytest.param(p, id=f"{name.rsplit('.', 1)[-1]}.{attr}")


def _hostile_for(pattern) -> list[str]:
    """Long runs of each character the pattern names, and of pairs that cut words short."""
    chars = {c for c in pattern.pattern if not c.isalnum() or c in "aAx1"} | set("a1 \n")
    return [c * LONG for c in sorted(chars)] + HOSTILE[2:] + [
        p * (LONG // len(p)) for p in ("1 ", "A ", "*a ", " *a", "[a](", "a@", "1.", "a\n", "sk-", "? ")]


# The renderers match these only at the start of one line (match, fullmatch), never search.
LINE_ANCHORED = {"render._ITEM", "render._FENCE", "render._HEADING", "entry_parts._ITEM", "entry_parts._HEADING"}


@pytest.mark.parametrize("pattern", list(_patterns()))
def test_every_pattern_that_reads_ticket_text_is_linear(pattern, request):
    anchored = request.node.callspec.id.rstrip("0123456789") in LINE_ANCHORED
    for text in _hostile_for(pattern):
        with deadline(2.0):
            if anchored:
                pattern.match(text), pattern.fullmatch(text)
            else:
                for _ in pattern.finditer(text):
                    pass
