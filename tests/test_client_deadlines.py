"""Every Polar call ends by its deadline, over real sockets to a misbehaving local server.

The server is a real HTTP server on 127.0.0.1 (port 0) that dribbles, stalls, rate-limits
or answers HTML, as a slow Polar or a proxy in front of it would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from django_polar.client import (
    PolarRateLimitError,
    PolarServerError,
    PolarTimeoutError,
    PolarUnexpectedResponseError,
    background,
    get_client,
)
from django_polar.models import Product
from tests.fixtures import make_product
from tests.testapp.models import User

urlpatterns = [
    path("polar/", include("django_polar.urls")),
    path("api/billing/", include("django_polar.api.urls")),
]

TOKEN = "polar_oat_deadline_test_token_0123456789"
PRODUCTS_PAGE = b'{"items": [], "pagination": {"total_count": 0, "max_page": 0}}'

Handler = Callable[[socket.socket, int], None]


def answer(conn: socket.socket, status: str, body: bytes, *headers: str) -> None:
    # One request per connection, said so: a client must not reuse a socket we close.
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    head += ["", ""]
    conn.sendall("\r\n".join(head).encode() + body)


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(rest) < length:
        rest += conn.recv(65536)


@contextmanager
def polar_server(handler: Handler) -> Iterator[dict]:
    """A real HTTP server; ``handler(conn, n)`` answers the n-th request (0-based)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    seen = {"requests": 0}
    stop = threading.Event()

    def serve_one(conn: socket.socket, number: int) -> None:
        with conn:
            try:
                read_request(conn)
                handler(conn, number)
            except OSError:
                pass  # the client gave up and closed: that is the point

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            number = seen["requests"]
            seen["requests"] += 1
            threading.Thread(target=serve_one, args=(conn, number), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        with polar_settings_for(f"http://127.0.0.1:{port}"):
            yield seen
    finally:
        stop.set()
        thread.join()
        listener.close()


def polar_settings_for(server: str, **extra):
    from django.conf import settings

    base = {**settings.POLAR, "SERVER": server, "ACCESS_TOKEN": TOKEN, "TIMEOUT": 1.0}
    return override_settings(POLAR={**base, "DEADLINE": 2.0, "RETRY_BUDGET": 0.5, **extra})


def dribble_body(conn: socket.socket, number: int) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: application/json\r\n\r\n"
    )
    for _ in range(1000):
        conn.sendall(b" ")
        time.sleep(0.25)  # each read gets a byte well within TIMEOUT: only a deadline ends it


def dribble_headers(conn: socket.socket, number: int) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
        conn.sendall(bytes([byte]))
        time.sleep(0.25)


def stall(conn: socket.socket, number: int) -> None:
    time.sleep(5)


@pytest.mark.parametrize("handler", [dribble_body, dribble_headers, stall])
def test_a_dribbling_or_stalled_polar_is_cut_at_the_deadline(handler):
    with polar_server(handler):
        started = time.monotonic()
        with pytest.raises(PolarTimeoutError) as info:
            get_client().get_product("6f1c3c44-0000-4000-8000-000000000001")
        elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 5.0  # DEADLINE is 2 s; the old client waited 40 s and more
    assert info.value.retry_after is not None
    assert TOKEN not in str(info.value)


def rate_limited(seconds: int, times: int = 1) -> Handler:
    """429 with Retry-After for the first ``times`` requests, then a products page."""

    def handler(conn: socket.socket, number: int) -> None:
        if number < times:
            answer(
                conn, "429 Too Many Requests", b'{"detail": "slow down"}', f"Retry-After: {seconds}"
            )
        else:
            answer(conn, "200 OK", PRODUCTS_PAGE, "Content-Type: application/json")

    return handler


def test_a_retry_after_larger_than_the_web_budget_raises_at_once_with_retry_after():
    with polar_server(rate_limited(30)) as seen:
        started = time.monotonic()
        with pytest.raises(PolarRateLimitError) as info:
            get_client().get_page("/v1/products/")
        assert time.monotonic() - started < 5.0  # no 30 s sleep inside a web request
    assert info.value.retry_after == 30.0
    assert seen["requests"] == 1


def test_background_work_waits_out_a_retry_after_the_web_budget_refuses():
    with polar_server(rate_limited(1, times=2)) as seen:
        with pytest.raises(PolarRateLimitError):
            get_client().get_page("/v1/products/")  # web budget: 0.5 s of waiting
        with background():
            assert get_client().get_page("/v1/products/")["items"] == []
    assert seen["requests"] == 3


def test_management_commands_run_with_the_background_budget():
    with polar_server(rate_limited(1)) as seen:
        out = StringIO()
        call_command("polar_sync", "products", "--rate", "1000000", stdout=out, stderr=out)
    assert seen["requests"] == 2  # the 429, waited out, then the page


def failing(status: str, body: bytes, *headers: str) -> Handler:
    def handler(conn: socket.socket, number: int) -> None:
        answer(conn, status, body, *headers)

    return handler


HTML = b"<html><body>Down for maintenance</body></html>"


@pytest.mark.parametrize("status", ["200 OK", "202 Accepted"])
def test_an_html_answer_is_a_typed_error_with_polars_status(status):
    with polar_server(failing(status, HTML, "Content-Type: text/html")):
        with pytest.raises(PolarUnexpectedResponseError) as info:
            get_client().get_product("6f1c3c44-0000-4000-8000-000000000001")
    assert info.value.status == int(status.split()[0])
    assert "text/html" in str(info.value)


def test_a_list_page_of_the_wrong_shape_is_a_typed_error():
    with polar_server(failing("200 OK", b'["not", "a", "page"]', "Content-Type: application/json")):
        with pytest.raises(PolarUnexpectedResponseError):
            list(get_client().list_products())


@pytest.fixture
def ada(db):
    return User.objects.create_user("ada", "ada@example.com", "pw")


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "fault, status",
    [
        (failing("200 OK", HTML, "Content-Type: text/html"), 502),
        (failing("502 Bad Gateway", HTML, "Content-Type: text/html"), 503),
        (failing("429 Too Many Requests", b"{}", "Retry-After: 30"), 503),
        (failing("200 OK", b'{"items": []}', "Content-Type: application/json"), 502),
        (stall, 503),
    ],
)
def test_views_answer_polar_failures_with_a_page_or_503_never_500(client, ada, fault, status):
    product = make_product()
    client.force_login(ada)
    api = APIClient()
    api.force_authenticate(ada)
    with polar_server(fault):
        for response in (
            client.get(reverse("django_polar:checkout", args=[product.pk])),
            client.get(reverse("django_polar:portal")),
            api.post("/api/billing/checkouts/", {"products": [str(product.pk)]}, format="json"),
            api.post("/api/billing/portal/", {}, format="json"),
        ):
            assert response.status_code == status, response.content
            if status == 503:
                assert int(response["Retry-After"]) >= 1
            assert TOKEN.encode() not in response.content
    assert Product.objects.count() == 1


def test_server_errors_carry_the_retry_after_polar_sent():
    with polar_server(failing("503 Service Unavailable", b"{}", "Retry-After: 12")):
        with pytest.raises(PolarServerError) as info:
            get_client().get_product("6f1c3c44-0000-4000-8000-000000000001")
    assert info.value.retry_after == 12.0
