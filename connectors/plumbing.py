"""What every connector needs from HTTP and time, written once: Retry-After, failures, times.

Both vendor clients report failures as DeliveryError (connectors/base.py) with the same rules
for "retrying can help" and "the helpdesk may have stored it anyway", so the worker treats a
Zendesk 503 and a Jira 503 alike.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Mapping

from connectors.base import DeliveryError

# Worth retrying: timeouts, conflicts (Zendesk refuses concurrent updates of one ticket),
# "too early" and rate limits; Jira Cloud retries the same codes for its webhooks
# (HELPDESK_FACTS "Retries"). Any 5xx too.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3).

    None when absent or unreadable (the worker's own backoff decides then); never negative.
    """
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate leaves "-0000" naive
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def http_failure(vendor: str, status: int | None, what: str, detail: str = "",
                 headers: Mapping[str, str] | None = None, hint: str = "") -> DeliveryError:
    """The DeliveryError for `vendor` answering `status` to `what`.

    Retryable when waiting can help (5xx, 408, 409, 425, 429, or no status at all); unsure
    when the request may have been carried out before the failure (5xx: a gateway's error
    may follow a stored update). `detail` is the vendor's own error text, never headers:
    they may hold the credentials.
    """
    retryable = status is None or status >= 500 or status in RETRYABLE_STATUSES
    answer = f"answered {status}" if status is not None else "gave no status"
    message = f"{vendor} {answer} to {what}{hint}" + (f": {detail}" if detail else "")
    wait = retry_after((headers or {}).get("Retry-After")) if retryable else None
    return DeliveryError(message, retryable=retryable, retry_after=wait,
                         unsure=status is None or status >= 500)


def network_failure(vendor: str, what: str, exc: BaseException) -> DeliveryError:
    """No answer (refused, reset, timed out): retry, but the request may have arrived."""
    return DeliveryError(f"{vendor} unreachable during {what}: {type(exc).__name__}",
                         retryable=True, unsure=True)


# An ISO-8601 time as helpdesks write it: "2025-01-08T10:12:07.672717030Z", "...+01:00".
_FRACTION = re.compile(r"(?<=\d\d:\d\d:\d\d)[.,](\d+)")
_COMPACT_OFFSET = re.compile(r"([+-]\d\d)(\d\d)$")  # "+0100", which 3.10 does not read


def parse_time(text: str, naive_as_utc: bool = True) -> datetime | None:
    """Read an ISO-8601 time the same way on every supported Python; None if unreadable.

    Python 3.10's datetime.fromisoformat takes neither a trailing "Z" (every Zendesk time
    has one), nor a fraction other than 3 or 6 digits (Zendesk event times carry 9), nor
    an offset without a colon, so these are normalised first. A time without an offset is
    taken as UTC, or refused (None) when `naive_as_utc` is false.
    """
    if not isinstance(text, str):
        return None
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    value = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], value, count=1)
    if "T" in value or " " in value:
        value = _COMPACT_OFFSET.sub(r"\1:\2", value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc) if naive_as_utc else None
    return when
