"""How the web side tells the deciding side that a ticket has deliveries waiting.

One interface, three ways: wake a loop in this process (`Wake`: tests, `create_app` on its
own), poke the decider process of `vigil serve` through a pipe (`PipeDispatcher`), or put a
job on Redis for `vigil worker` processes (`plugin.work.queue.TicketQueue`). The database is
the record either way: a dispatcher that cannot tell anyone loses nothing, the deliveries
wait until the deciding side's next pass.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def ticket_waiting(self, key: str) -> None:
        """A delivery of ticket `key` ("source:id") was stored."""

    def knowledge_merged(self) -> None:
        """A merge was recorded in the database: pull it and reindex soon."""


class Wake:
    """The loop in this process: wake it now rather than at its next poll."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def ticket_waiting(self, key: str) -> None:
        self._event.set()

    def knowledge_merged(self) -> None:
        self._event.set()

    def wait(self, seconds: float) -> None:
        """Sleep until woken or `seconds` pass."""
        self._event.wait(seconds)
        self._event.clear()


class PipeDispatcher:
    """A web process's end of the pipe to `vigil serve`'s decider process: a byte per wake-up.

    The write end is non-blocking: a full pipe means the decider has wake-ups waiting
    already, and a webhook is never held up by it.
    """

    def __init__(self, fd: int):
        self.fd = fd

    def ticket_waiting(self, key: str) -> None:
        self._poke()

    def knowledge_merged(self) -> None:
        self._poke()

    def _poke(self) -> None:
        try:
            os.write(self.fd, b".")
        except BlockingIOError:
            pass
        except OSError as exc:  # the decider is being restarted: it drains everything when it starts
            log.warning("could not wake the decider process (%s); the delivery waits in the database", exc)
