"""`vigil serve`'s decider: the embedded worker, in a process of its own.

Deciding is Python work that holds the interpreter lock; in a thread of the web process it
made webhooks wait to be acknowledged (ack p99 over 100 ms at 100 deliveries a second).
In a child process it has an interpreter of its own: the web processes only verify, store
and write a byte on a pipe. The decider shares the database, which stays the record, so
anything it has not decided when it stops or dies is still there for the next one. When
every web process is gone (the pipe's write ends closed), it stops too.

Run as `python -m plugin.work.decider WAKE_FD READY_FD LOGLEVEL` with the pickled Settings on stdin.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading

from plugin.settings import Settings
from plugin.work.dispatch import PipeDispatcher

log = logging.getLogger(__name__)

DECIDER_NICENESS = 5


class DeciderProcess:
    """The parent's handle: start the decider, start another if it dies, stop it at the end."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # The parent keeps the read end open too, so a restarted decider reads the same pipe
        # the web processes (forked later, inheriting the write end) already write to.
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self.dispatcher = PipeDispatcher(self._write)
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()

    def start(self, timeout: float = 120.0) -> None:
        """Start the decider and wait until it has built its index and rules, so that the
        first webhook is decided as soon as it is stored."""
        ready = self._spawn()
        try:
            if not select.select([ready], [], [], timeout)[0] or not os.read(ready, 1):
                raise RuntimeError("the decider process did not start: see its log above")
        finally:
            os.close(ready)
        threading.Thread(target=self._watch, name="vigil-decider-watch", daemon=True).start()

    def _spawn(self) -> int:
        """Start a decider; return the pipe on which it says it is ready."""
        ready, ready_write = os.pipe()
        level = str(logging.getLogger().getEffectiveLevel())
        self._process = subprocess.Popen(
            [sys.executable, "-m", "plugin.work.decider", str(self._read), str(ready_write), level],
            stdin=subprocess.PIPE, pass_fds=(self._read, ready_write))
        os.close(ready_write)
        assert self._process.stdin is not None
        self._process.stdin.write(pickle.dumps(self.settings))
        self._process.stdin.close()
        return ready

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            # Exit code 0: it was told to stop (a signal to the process group, say), as we are.
            if self._process is not None and self._process.poll() not in (None, 0):
                log.error("the decider process exited (%s): starting another", self._process.returncode)
                os.close(self._spawn())

    def stop(self, timeout: float = 30.0) -> None:
        """Let it finish the event in hand, then close the pipe."""
        self._stopping.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.error("the decider did not stop within %.0f s: killed; its work waits in the database", timeout)
                self._process.kill()
                self._process.wait()
        os.close(self._write)
        os.close(self._read)


def main(fd: int, ready: int, settings: Settings) -> None:
    """The child: decide what waits, woken by the pipe, until SIGTERM or the pipe's end."""
    from plugin.runtime import build_runtime
    # Acknowledging is what a helpdesk waits for; deciding can lag a moment. When the two
    # compete for a core, the web process gets about three times the decider's share.
    os.nice(DECIDER_NICENESS)
    # Its commits do not wait for the disk: the web process waits for SQLite's write lock
    # while the decider holds it, and an fsync there made acknowledgements wait (benchmarks/).
    runtime = build_runtime(settings, durable_commits=False)
    loop = runtime.loop
    try:
        os.write(ready, b"1")
    except BrokenPipeError:
        pass  # a restart: nobody waits for it
    os.close(ready)

    def stop(*_: object) -> None:
        loop.stopping.set()
        loop.wake.ticket_waiting("")

    def listen() -> None:
        while os.read(fd, 4096):  # a burst of webhooks: one pass decides them all
            loop.wake.ticket_waiting("")
        stop()  # every writer has gone: the server stopped, or died

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    threading.Thread(target=listen, name="vigil-decider-pipe", daemon=True).start()
    try:
        loop.run()
    finally:
        runtime.close()


if __name__ == "__main__":
    logging.basicConfig(level=int(sys.argv[3]), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(int(sys.argv[1]), int(sys.argv[2]), pickle.load(sys.stdin.buffer))
