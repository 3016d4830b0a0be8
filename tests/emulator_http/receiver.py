"""A real HTTP server that receives the emulator's webhooks and verifies each signature
with the standardwebhooks library, as a merchant's endpoint would."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtcmVjZWl2aW5nLXNlcnZlcg=="


class Receiver:
    """Collects verified events; ``fail_next`` answers 500 to that many deliveries."""

    def __init__(self, secret: str = SECRET) -> None:
        self.verifier = Webhook(secret)
        self.events: list[dict[str, Any]] = []
        self.attempts: list[tuple[str, int]] = []  # (webhook-id, status answered)
        self.rejected = 0
        self.fail_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver.receive(body, headers)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhook/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            self.verifier.verify(body, headers)
        except WebhookVerificationError:
            with self._lock:
                self.rejected += 1
            return 401
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                self.attempts.append((headers["webhook-id"], 500))
                return 500
            self.attempts.append((headers["webhook-id"], 204))
            self.events.append(json.loads(body))
        return 204

    def types(self) -> list[str]:
        with self._lock:
            return [e["type"] for e in self.events]

    def wait_for(self, event_type: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events:
                    if event["type"] == event_type:
                        return event
            time.sleep(0.05)
        raise AssertionError(f"no {event_type} webhook arrived; got {self.types()}")

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
