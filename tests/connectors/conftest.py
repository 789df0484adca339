"""Fixtures the connector tests share."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.fakehttp import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A scripted loopback HTTP server for the real vendor client under test to talk to."""
    with FakeServer() as fake:
        yield fake
