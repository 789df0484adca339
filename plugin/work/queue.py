"""The scale-out mode's job queue: Redis (RQ) tells `vigil worker` processes which ticket to look at.

The database stays the record of what is to be done: a job only says "ticket X has
deliveries waiting", and the worker reads them from the database under the ticket's lease.
So a lost job loses nothing (Redis down when the webhook came, a worker killed mid-job):
the housekeeper queues again every ticket whose deliveries wait with nobody holding it.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker

if TYPE_CHECKING:
    from plugin.runtime import Runtime
    from plugin.work.worker import Worker

log = logging.getLogger(__name__)

QUEUE_NAME = "vigil"
JOB_TIMEOUT_SECONDS = 600  # a ticket's backlog with a slow model; RQ stops a job past it


class TicketQueue:
    """Where web processes put tickets for the workers."""

    def __init__(self, redis_url: str):
        # Short timeouts: a webhook must be answered within the helpdesk's 10 s even if Redis hangs.
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.queue = Queue(QUEUE_NAME, connection=self.redis)

    def push(self, key: str) -> bool:
        """Queue a ticket; False if Redis cannot be reached (the delivery waits in the database)."""
        return self._enqueue(process_ticket, key)

    def pull_knowledge(self) -> bool:
        return self._enqueue(pull_knowledge)

    def _enqueue(self, job, *args: str) -> bool:
        try:
            self.queue.enqueue(job, *args, job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=0,
                               failure_ttl=7 * 86400)
        except RedisError as exc:
            log.warning("could not queue %s%s: %s; it waits in the database until Redis is back",
                        job.__name__, args, type(exc).__name__)
            return False
        return True


# The jobs. RQ imports them by name in the worker process, where run_worker has set the
# Worker they run on (built once per process: rules, index and database connections).
_worker: "Worker | None" = None


def process_ticket(key: str) -> None:
    _worker.process_ticket(key)


def pull_knowledge() -> None:
    _worker.request_knowledge_pull()


class _JobRunner(SimpleWorker):
    """RQ's worker without a fork per job, so the runtime is built once; SIGTERM finishes the job."""

    stopping: threading.Event
    max_connection_wait_time = 5.0  # notice Redis's return within seconds, not RQ's minute

    def request_stop(self, signum, frame):
        self.stopping.set()
        super().request_stop(signum, frame)


def run_worker(runtime: "Runtime", redis_url: str) -> None:
    """Run jobs until SIGTERM or SIGINT, keeping house in a thread; survive Redis restarts."""
    global _worker
    queue = TicketQueue(redis_url)
    runtime.worker.requeue = queue.push
    _worker = runtime.worker
    stopping = threading.Event()
    runtime.worker.start()
    try:
        while not stopping.is_set():
            try:
                runner = _JobRunner([queue.queue], connection=queue.redis)
                runner.stopping = stopping
                runner.work(logging_level="WARNING")  # returns when asked to stop or Redis is lost
            except RedisError as exc:
                log.warning("Redis is unreachable (%s): retrying; deliveries wait in the database",
                            type(exc).__name__)
            for sig in (signal.SIGTERM, signal.SIGINT):  # RQ's handlers are gone with its loop
                signal.signal(sig, lambda *_: stopping.set())
            stopping.wait(2.0)
    finally:
        runtime.close()
