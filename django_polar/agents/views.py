"""The streamable-HTTP MCP endpoint, served by the ``mcp`` SDK inside a plain Django view.

Why a Django view and not the SDK's Starlette app: a Django project is usually served
by WSGI (runserver, gunicorn), where an ASGI app cannot be mounted. The SDK's session
manager runs here in *stateless, JSON-response* mode: every POST carries one JSON-RPC
message and gets one complete JSON answer, so nothing outlives the request and the
answer can be buffered. That works the same under WSGI and ASGI servers, with any number
of workers or processes (no session to share between them). The SDK decides everything
about the protocol; this view only authenticates the Bearer token, hands the request to
the SDK as an ASGI call (in an event loop of its own, via ``async_to_sync``) and returns
what the SDK answered. There is no server-initiated stream: GET (and DELETE, there being
no session) gets 405, the answer the MCP spec gives a server without one.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import anyio
from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from ..errors import AgentTokenError
from ..models import AgentToken
from .server import build_server
from .tokens import authenticate


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _refused(message: str) -> HttpResponse:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": message}}
    response = HttpResponse(json.dumps(body), status=401, content_type="application/json")
    response["WWW-Authenticate"] = 'Bearer realm="polar-mcp", error="invalid_token"'
    return response


def _asgi_scope(request: HttpRequest) -> dict[str, Any]:
    headers = [
        (key[5:].replace("_", "-").lower().encode("latin-1"), str(value).encode("latin-1"))
        for key, value in request.META.items()
        if key.startswith("HTTP_")
    ]
    for key, name in (("CONTENT_TYPE", b"content-type"), ("CONTENT_LENGTH", b"content-length")):
        if request.META.get(key):
            headers.append((name, str(request.META[key]).encode("latin-1")))
    host, _, port = request.get_host().partition(":")  # validated against ALLOWED_HOSTS
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.path.encode(),
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
        "server": (host, int(port) if port.isdigit() else (443 if request.is_secure() else 80)),
    }


async def _serve(
    token: AgentToken, scope: dict[str, Any], body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run the SDK's stateless streamable-HTTP handling for one request; buffer its answer."""
    manager = StreamableHTTPSessionManager(
        app=build_server(token, transport="http"), json_response=True, stateless=True
    )
    answered = anyio.Event()
    status, headers, chunks = 500, [], []
    delivered = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                answered.set()

    async with manager.run():
        await manager.handle_request(scope, receive, send)
    return status, headers, b"".join(chunks)


@csrf_exempt
def mcp_endpoint(request: HttpRequest) -> HttpResponse:
    """``Authorization: Bearer polar_agt_...`` required; the rest is the MCP protocol."""
    if request.method != "POST":
        # Stateless: no server-initiated stream (GET) and no session to end (DELETE). The
        # spec's answer for a server without a GET stream is 405.
        response = HttpResponse(status=405)
        response["Allow"] = "POST"
        return response
    try:
        token = authenticate(_bearer(request))
    except AgentTokenError as exc:
        return _refused(str(exc))
    status, headers, body = async_to_sync(_serve)(token, _asgi_scope(request), request.body)
    response = HttpResponse(body, status=status)
    for name, value in headers:
        key = name.decode("latin-1")
        if key.lower() not in ("content-length", "connection", "transfer-encoding"):
            response[key] = value.decode("latin-1")
    return response
