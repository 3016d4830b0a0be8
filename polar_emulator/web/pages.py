"""The emulator's browser pages, routed: Polar's hosted checkout (also inside the
``@polar-sh/checkout`` embed iframe), the customer portal, invoices, the embed script and
a small dashboard. Django-free: ``Pages.handle(Request) -> Response | None``.

Each page lives in its own module (``checkout_page``, ``portal``, ``invoices``,
``dashboard``, ``embed``, ``claim_page``); what they share is in ``base``. Paying, cancelling and changing
plans call the same emulator logic as the API, so a person clicking through these pages
produces the same objects and webhooks as Polar.
"""

from __future__ import annotations

from ..core import Emulator
from .base import Request, Response, Route, message_page
from .checkout_page import CheckoutPages
from .claim_page import ClaimPage
from .dashboard import DashboardPage
from .embed import EmbedScript
from .invoices import InvoicePages
from .portal import PortalPages

__all__ = ["Pages", "Request", "Response", "message_page"]


class Pages:
    """Routes every page the emulator serves to a browser."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._routes: list[Route] = [
            *DashboardPage(emu).routes(),
            *EmbedScript(emu).routes(),
            *CheckoutPages(emu).routes(),
            *PortalPages(emu).routes(),
            *InvoicePages(emu).routes(),
            *ClaimPage(emu).routes(),
        ]

    def handle(self, request: Request) -> Response | None:
        """The page for ``request``; None when no page matches (the API may answer)."""
        allowed = False
        for method, pattern, view in self._routes:
            match = pattern.match(request.path)
            if match:
                if method != request.method:
                    allowed = True
                    continue
                return view(request, **match.groupdict())
        if allowed:
            return message_page(
                405, "Method not allowed", "This page does not accept that request."
            )
        return None
