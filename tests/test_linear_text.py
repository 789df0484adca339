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
