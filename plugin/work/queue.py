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
from typing import Any, Callable

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job

from plugin.work.loop import WorkLoop
from plugin.work.processor import TicketProcessor

log = logging.getLogger(__name__)

QUEUE_NAME = "vigil"
JOB_TIMEOUT_SECONDS = 600  # a ticket's backlog with a slow model; RQ stops a job past it
PROCESS_TICKET = "vigil.process_ticket"  # a job's name: each worker process binds it to its processor


class TicketQueue:
    """Where web processes put tickets for the workers (a Dispatcher)."""

    def __init__(self, redis_url: str):
        # Short timeouts: a webhook must be answered within the helpdesk's 10 s even if Redis hangs.
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.queue = Queue(QUEUE_NAME, connection=self.redis)

    def ticket_waiting(self, key: str) -> None:
        self.push(key)

    def knowledge_merged(self) -> None:
        """Nothing to queue: every worker reads the merge from the database at its next pass."""

    def push(self, key: str) -> bool:
        """Queue a ticket; False if Redis cannot be reached (the delivery waits in the database)."""
        try:
            self.queue.enqueue(PROCESS_TICKET, key, job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=0,
                               failure_ttl=7 * 86400)
        except RedisError as exc:
            log.warning("could not queue process_ticket(%r): %s; it waits in the database until Redis is back",
                        key, type(exc).__name__)
            return False
        return True


def bound_jobs(jobs: dict[str, Callable[..., Any]]) -> type[Job]:
    """A job class that runs each job name on this process's objects (built once: rules,
    index, connections), rather than importing a module-level function that would need a
    global to find them. RQ takes a custom job class (https://python-rq.org/docs/workers/)."""

    class BoundJob(Job):
        @property
        def func(self) -> Callable[..., Any]:
            if self.func_name not in jobs:
                raise ValueError(f"unknown job {self.func_name!r}")
            return jobs[self.func_name]

    return BoundJob


class _JobRunner(SimpleWorker):
    """RQ's worker without a fork per job, so the runtime is built once; SIGTERM finishes the job."""

    stopping: threading.Event
    max_connection_wait_time = 5.0  # notice Redis's return within seconds, not RQ's minute

    def request_stop(self, signum, frame):
        self.stopping.set()
        super().request_stop(signum, frame)


def run_worker(processor: TicketProcessor, loop: WorkLoop, queue: TicketQueue) -> None:
    """Run jobs until SIGTERM or SIGINT, keeping house in a thread; survive Redis restarts."""
    job_class = bound_jobs({PROCESS_TICKET: processor.process_ticket})
    stopping = threading.Event()
    loop.start()
    try:
        while not stopping.is_set():
            try:
                runner = _JobRunner([queue.queue], connection=queue.redis, job_class=job_class)
                runner.stopping = stopping
                runner.work(logging_level="WARNING")  # returns when asked to stop or Redis is lost
            except RedisError as exc:
                log.warning("Redis is unreachable (%s): retrying; deliveries wait in the database",
                            type(exc).__name__)
            for sig in (signal.SIGTERM, signal.SIGINT):  # RQ's handlers are gone with its loop
                signal.signal(sig, lambda *_: stopping.set())
            stopping.wait(2.0)
    finally:
        loop.stop()
