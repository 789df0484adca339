"""The plumbing both connectors share: Retry-After, HTTP failures, ISO-8601 times.

Runs on every supported Python; test_zendesk_times_parse_on_every_python is the one that
failed on 3.10 before parse_time normalised the trailing Z.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from connectors.plumbing import http_failure, network_failure, parse_time, retry_after

NOW = datetime(2026, 11, 29, 14, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, seconds", [
    ("3", 3.0), ("0.5", 0.5), (" 12 ", 12.0), ("-4", 0.0),  # never negative
    ("Sun, 29 Nov 2026 14:00:30 GMT", 30.0),  # an HTTP date, RFC 9110
    ("Sun, 29 Nov 2026 13:59:00 GMT", 0.0),  # already past
    ("Sunday, 29-Nov-26 14:01:00 GMT", 60.0),  # the obsolete RFC 850 form
])
def test_retry_after_reads_seconds_and_http_dates(value: str, seconds: float) -> None:
    assert retry_after(value, NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Sun, 99 Foo 2026"])
def test_unreadable_retry_after_leaves_the_wait_to_the_worker(value: str | None) -> None:
    assert retry_after(value, NOW) is None


@pytest.mark.parametrize("text, expected", [
    ("2025-01-08T10:12:07Z", datetime(2025, 1, 8, 10, 12, 7, tzinfo=timezone.utc)),
    # Zendesk event times carry nanoseconds: cut to microseconds
    ("2025-01-08T10:12:07.672717030Z", datetime(2025, 1, 8, 10, 12, 7, 672717, tzinfo=timezone.utc)),
    ("2025-01-08T10:12:07.5z", datetime(2025, 1, 8, 10, 12, 7, 500000, tzinfo=timezone.utc)),
    ("2025-01-08T11:12:07+01:00", datetime(2025, 1, 8, 10, 12, 7, tzinfo=timezone.utc)),
    ("2025-01-08T02:12:07.321-0800", datetime(2025, 1, 8, 10, 12, 7, 321000, tzinfo=timezone.utc)),
    ("2025-01-08T10:12:07", datetime(2025, 1, 8, 10, 12, 7, tzinfo=timezone.utc)),  # naive: UTC
    (" 2025-01-08 10:12:07Z ", datetime(2025, 1, 8, 10, 12, 7, tzinfo=timezone.utc)),
])
def test_zendesk_times_parse_on_every_python(text: str, expected: datetime) -> None:
    when = parse_time(text)
    assert when == expected and when.tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z", "Z", None, 17])
def test_unreadable_times_are_none(text: object) -> None:
    assert parse_time(text) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("status, retryable, unsure", [
    (429, True, False), (409, True, False), (408, True, False), (425, True, False),
    (500, True, True), (503, True, True), (None, True, True),
    (400, False, False), (401, False, False), (403, False, False), (404, False, False),
    (422, False, False),
])
def test_http_failures_say_whether_waiting_can_help(status: int | None, retryable: bool,
                                                    unsure: bool) -> None:
    error = http_failure("Zendesk", status, "the note on ticket 7", "RecordInvalid",
                         {"Retry-After": "7"}, hint=" (check it)")
    assert (error.retryable, error.unsure) == (retryable, unsure)
    assert error.retry_after == (7.0 if retryable else None)
    assert "Zendesk" in str(error) and "the note on ticket 7 (check it): RecordInvalid" in str(error)


def test_a_rate_limit_with_an_http_date_waits_until_then() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=90)
    error = http_failure("Jira", 429, "the comment", headers={
        "Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    assert 80 < (error.retry_after or 0) <= 90


def test_network_failures_are_retried_but_may_have_arrived() -> None:
    error = network_failure("Jira", "the comment on SUP-1", requests.ConnectionError("refused"))
    assert (error.retryable, error.unsure) == (True, True)
    assert "ConnectionError" in str(error)


def test_a_time_without_offset_can_be_refused() -> None:
    # Jira's times always carry an offset; one without would put the ticket in a guessed zone.
    assert parse_time("2019-02-15T19:11:18.321", naive_as_utc=False) is None
    assert parse_time("2019-02-15T19:11:18.321-0800", naive_as_utc=False) == datetime(
        2019, 2, 16, 3, 11, 18, 321000, tzinfo=timezone.utc)
