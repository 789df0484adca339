"""A real HTTP server on loopback that records requests and answers from a script.

Tests point the real vendor clients (zenpy, jira, openai) at it, so what crosses the
boundary is real HTTP, and assertions are made on the exact requests sent.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from requests.structures import CaseInsensitiveDict


@dataclass
class Recorded:
    method: str
    path: str
    headers: CaseInsensitiveDict  # HTTP header names are case-insensitive
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (for timeouts)


Responder = Callable[[Recorded], Reply]


class FakeServer:
    """Answer each request with the next scripted Reply for its route, or with a function.

    `server.script("PUT", "/api/v2/tickets/1.json", Reply(429, headers={"Retry-After": "3"}), Reply(200, {...}))`
    queues replies for a route; the last one repeats. `server.requests` lists what arrived.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._routes: dict[tuple[str, str], list[Reply] | Responder] = {}
        self.fallback: Responder | None = None  # answers what no route was scripted for
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(self.command, self.path, CaseInsensitiveDict(self.headers.items()),
                                    self.rfile.read(length) if length else b"")
                reply = outer._reply_for(recorded)
                if reply.delay:
                    threading.Event().wait(reply.delay)
                if isinstance(reply.body, (dict, list)):
                    payload = json.dumps(reply.body).encode()
                    content_type = "application/json"
                elif isinstance(reply.body, str):
                    payload, content_type = reply.body.encode(), "text/plain"
                else:
                    payload, content_type = reply.body or b"", "application/octet-stream"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.headers.get("Content-Type", content_type))
                    for name, value in reply.headers.items():
                        if name.lower() != "content-type":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, method: str, path: str, *replies: Reply | Responder) -> None:
        """Queue replies for METHOD path (path without query string); the last one repeats."""
        with self._lock:
            if len(replies) == 1 and callable(replies[0]):
                self._routes[(method, path)] = replies[0]
            else:
                self._routes[(method, path)] = list(replies)

    def _reply_for(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            route = self._routes.get((recorded.method, recorded.path.split("?")[0]))
            if route is None and self.fallback:
                return self.fallback(recorded)
            if route is None:
                return Reply(404, {"error": f"no route scripted for {recorded.method} {recorded.path}"})
            if callable(route):
                return route(recorded)
            return route.pop(0) if len(route) > 1 else route[0]

    def received(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.split("?")[0] == path]

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
