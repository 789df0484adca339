"""What the Jira API-client tests share: the account they log in as, and how a failure is caught."""

from __future__ import annotations

import base64
from typing import Callable

import pytest

from connectors.base import DeliveryError

USER, TOKEN = "vigil@example.com", "api-token-never-shown"


def failure(call: Callable[[], object]) -> DeliveryError:
    """The DeliveryError `call` raises, after checking it shows neither the token nor the
    Basic credentials built from it."""
    with pytest.raises(DeliveryError) as caught:
        call()
    assert TOKEN not in str(caught.value)
    assert base64.b64encode(f"{USER}:{TOKEN}".encode()).decode() not in str(caught.value)
    return caught.value
