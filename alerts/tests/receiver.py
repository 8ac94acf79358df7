"""A local HTTP receiver for Apprise's `json://host:port/path` (tests; reusable by any app).

    with NotifyReceiver(fail_first=3) as receiver:
        settings.NOTIFY_URLS = receiver.url        # json://127.0.0.1:<port>/hook
        ...
        receiver.wait_for(1, timeout=2.0)          # -> the messages so far
        receiver.messages[0]["title"], ["message"]

Apprise posts `{"version", "title", "message", "type", "attachments"}`. `fail_first=n`
answers the first n requests with 500; `hang` (a threading.Event) holds every request until
it is set. Each message gets `received_at` (time.monotonic()).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class NotifyReceiver:
    def __init__(self, *, fail_first: int = 0, status: int = 200, path: str = "/hook") -> None:
        self.fail_first = fail_first
        self.status = status
        self.path = path
        self.requests = 0
        self.messages: list[dict[str, Any]] = []
        self.hang: threading.Event | None = None
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.hang is not None:
                    receiver.hang.wait(30)
                with receiver._cond:
                    receiver.requests += 1
                    failing = receiver.requests <= receiver.fail_first
                    status = 500 if failing else receiver.status
                    if status < 300:
                        message = json.loads(body or b"{}")
                        message["received_at"] = time.monotonic()
                        message["path"] = self.path
                        receiver.messages.append(message)
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}{path}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NotifyReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.hang is not None:
            self.hang.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float) -> list[dict[str, Any]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)
