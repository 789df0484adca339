"""How `vigil serve` runs: the web processes (waitress for one, gunicorn for several) and,
without a job queue, the decider process beside them.

POSIX only (Linux, macOS): gunicorn, the decider's pipe and the index's file lock need it.
Each gunicorn process builds its own app after the fork (database connections must not be
shared across a fork). SIGTERM stops every process the same way: requests in hand are
answered, the decider finishes its event, and whatever is left waits in the database for
the next start.
"""

from __future__ import annotations

import logging
import signal
import time

from sqlalchemy.exc import OperationalError

from plugin.settings import Settings
from plugin.work.decider import DeciderProcess
from plugin.work.dispatch import Dispatcher

log = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int) -> None:
    decider = None if settings.redis_url else DeciderProcess(settings)  # else `vigil worker`s decide
    if decider is not None:
        decider.start()
    try:
        if settings.web_workers > 1:
            _serve_gunicorn(settings, host, port, decider.dispatcher if decider else None)
        else:
            _serve_waitress(settings, host, port, decider.dispatcher if decider else None)
    finally:
        if decider is not None:
            decider.stop()


def _serve_waitress(settings: Settings, host: str, port: int, dispatcher: Dispatcher | None) -> None:
    import waitress

    from plugin.web.app import create_app
    app = create_app(settings, dispatcher=dispatcher)
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    try:
        waitress.serve(app, host=host, port=port)  # returns on KeyboardInterrupt
    finally:
        app.extensions["vigil"].close()


def _stop_like_ctrl_c(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _serve_gunicorn(settings: Settings, host: str, port: int, dispatcher: Dispatcher | None) -> None:
    from gunicorn.app.base import BaseApplication

    from plugin.web.app import create_app

    class Application(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", [f"{host}:{port}"])
            self.cfg.set("workers", settings.web_workers)
            # Threads, not one request at a time: a webhook mostly waits on the database.
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 8)
            self.cfg.set("graceful_timeout", 30)
            self.cfg.set("accesslog", None)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 24+: one shared path in ~
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("worker_exit", _close_runtime)

        def load(self):
            # A web process that boots while the database is away waits for it: gunicorn stops
            # every process when one cannot boot, so an outage would take the server down.
            while True:
                try:
                    return create_app(settings, dispatcher=dispatcher)
                except OperationalError as exc:
                    log.warning("the database does not answer (%s); this web process waits for it",
                                type(exc).__name__)
                    time.sleep(1)

    Application().run()


def _close_runtime(_server, worker) -> None:
    app = getattr(worker, "wsgi", None)
    if app is not None:
        app.extensions["vigil"].close()
