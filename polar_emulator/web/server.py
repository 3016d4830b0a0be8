"""The emulator over real HTTP: one WSGI app for the API (``/v1/...``) and the browser
pages, served by a threaded wsgiref server, with webhooks delivered from a background
thread the way Polar does (asynchronously, retried with backoff, in order per endpoint).

    from polar_emulator import Emulator
    from polar_emulator.web.server import serve

    server = serve(Emulator(seed="default"), port=0)   # port 0: any free port
    server.url            # "http://127.0.0.1:54321": point POLAR["EMULATOR_URL"] here
    server.stop()

No Django needed: the emulator runs in any process.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import TCPServer, ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..core import Emulator
from .pages import Pages, Request, Response, message_page

logger = logging.getLogger("django_polar.emulator")

MAX_FORM_BYTES = 1024 * 1024
REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    422: "Unprocessable Content",
}
StartResponse = Callable[..., Any]


class EmulatorApp:
    """WSGI: ``/v1/...`` goes to the emulator's API, everything else to the pages."""

    def __init__(self, emu: Emulator, *, on_request: Callable[[], None] | None = None) -> None:
        self.emu = emu
        self.pages = Pages(emu)
        self.on_request = on_request

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            path = environ.get("PATH_INFO") or "/"
            if path.startswith("/v1/") or path == "/v1":
                return self.emu.api_wsgi_app(environ, start_response)
            head = environ.get("REQUEST_METHOD", "GET").upper() == "HEAD"
            response = self._page(environ)
            reason = REASONS.get(response.status, "Error")
            headers = [*response.headers, ("Content-Length", str(len(response.body)))]
            start_response(f"{response.status} {reason}", headers)
            return [] if head else [response.body]
        finally:
            if self.on_request is not None:
                self.on_request()

    def _page(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        method = "GET" if method == "HEAD" else method
        form: dict[str, str] = {}
        if method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_FORM_BYTES:
                if 0 < length <= 8 * MAX_FORM_BYTES:  # drain it, so the client reads the 413
                    for start in range(0, length, 65536):
                        environ["wsgi.input"].read(min(65536, length - start))
                return message_page(413, "Request too large", "That form is too large.")
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return message_page(400, "Bad request", "The form could not be read.")
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        scheme = environ.get("wsgi.url_scheme", "http")
        host = (
            environ.get("HTTP_HOST")
            or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        )
        request = Request(
            method=method,
            path=environ.get("PATH_INFO") or "/",
            query=query,
            form=form,
            origin=f"{scheme}://{host}",
        )
        response = self.pages.handle(request)
        if response is None:
            return message_page(404, "Not found", "The Polar emulator has no page at this address.")
        return response


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def address_string(self) -> str:
        return str(self.client_address[0])


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class _Server6(_Server):
    address_family = socket.AF_INET6


class EmulatorServer:
    """A running emulator server: ``.url``, ``.emulator``, ``.stop()`` (also a context manager)."""

    def __init__(
        self,
        emu: Emulator,
        host: str,
        port: int,
        *,
        public_url: str | None,
        deliver_interval: float,
    ) -> None:
        self.emulator = emu
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._deliver_interval = deliver_interval
        self._autodeliver = emu.autodeliver
        self.app = EmulatorApp(emu, on_request=self._wake.set)
        server_class = _Server6 if ":" in host else _Server
        self._httpd = make_server(
            host, port, self.app, server_class=server_class, handler_class=_Handler
        )
        bound_port = self._httpd.server_address[1]
        shown_host = f"[{host}]" if ":" in host else host
        self.url = (public_url or f"http://{shown_host}:{bound_port}").rstrip("/")
        self.host, self.port = host, bound_port
        emu.base_url = self.url
        emu.autodeliver = False  # deliveries happen on the background thread, like Polar's queue
        self._http_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="polar-emulator-http",
            daemon=True,
        )
        self._delivery_thread = threading.Thread(
            target=self._deliver_loop, name="polar-emulator-webhooks", daemon=True
        )
        self._http_thread.start()
        self._delivery_thread.start()

    def _deliver_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._deliver_interval)
            self._wake.clear()
            try:
                self.emulator.deliver()
            except Exception:  # a bug in one delivery must not stop all later ones
                logger.exception("webhook delivery failed")

    def wake(self) -> None:
        """Deliver now (after a control action such as ``emulator.pay_checkout``)."""
        self._wake.set()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until no delivery is queued (True) or ``timeout`` seconds pass (False).

        Deliveries waiting for a retry count as queued: a failing receiver makes this False.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._wake.set()
            if self.emulator.webhooks.pending() == 0:
                return True
            time.sleep(0.05)
        return self.emulator.webhooks.pending() == 0

    def stop(self) -> None:
        """Stop serving and delivering, and close the webhook client's connections; the
        emulator keeps its state (and autodeliver setting). Calling it again does nothing."""
        with self._stop_lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
        self._wake.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._http_thread.join(timeout=5)
        self._delivery_thread.join(timeout=15)
        self.emulator.webhooks.close()
        self.emulator.autodeliver = self._autodeliver

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    emu: Emulator,
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    public_url: str | None = None,
    deliver_interval: float = 0.25,
) -> EmulatorServer:
    """Serve ``emu`` over HTTP in background threads and return the running server.

    ``port=0`` picks a free port. The emulator's ``base_url`` becomes the server's URL
    (or ``public_url`` when it sits behind a proxy), so checkout and portal URLs point
    at the pages served here.
    """
    return EmulatorServer(emu, host, port, public_url=public_url, deliver_interval=deliver_interval)
