"""What every emulator page shares: the request and response, the HTML layout, message
pages and the URL helpers. Django-free."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .rendering import Markup, esc, render

ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$")
SECRET_RE = r"[A-Za-z0-9_\-]{8,200}"
UUID_RE = r"[0-9a-fA-F\-]{36}"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # scheme://host the browser used


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


def html_response(status: int, page: Markup, *, frame_ancestors: str | None = None) -> Response:
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if frame_ancestors:
        headers.append(("Content-Security-Policy", f"frame-ancestors {frame_ancestors}"))
    return Response(status, page.encode("utf-8"), headers)


def redirect(location: str) -> Response:
    return Response(303, b"", [("Location", location), ("Cache-Control", "no-store")])


def layout(
    title: str,
    content: Markup,
    *,
    theme: str = "light",
    embed: bool = False,
    embed_origin: str | None = None,
    events: str = "",
    success_url: str = "",
    redirect_parent: bool = False,
) -> Markup:
    classes = " ".join(
        c for c in ("dark" if theme == "dark" else "", "embed" if embed else "") if c
    )
    return render(
        "layout.html",
        title=title,
        content=content,
        body_class=classes,
        embed_origin=embed_origin or "",
        embed_events=events,
        success_url=success_url,
        redirect="true" if redirect_parent else "false",
    )


def message_page(status: int, title: str, text: str) -> Response:
    content = Markup(
        f'<div class="card"><p class="test-mode">Polar emulator</p><h1>{esc(title)}</h1>'
        f"<p>{esc(text)}</p></div>"
    )
    return html_response(status, layout(title, content))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, v) for k, v in params.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


def safe_link(url: str | None) -> str | None:
    """Only http(s) URLs become links or redirects (never javascript: and friends)."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return url
    return None


#: (method, path pattern, view): a view takes the request and the pattern's named groups.
Route = tuple[str, re.Pattern[str], Callable[..., Response]]
