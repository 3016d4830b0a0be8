"""Polar's hosted seat claim page (``/{org slug}/portal/claim?token=...``), the link of
the invitation email (customer_seat/sender.py). Opening it shows the claim info (no side
effect, safe for email scanners, as ``get_claim_info`` promises); pressing the button
claims the seat through the same logic as ``POST /v1/customer-seats/claim``."""

from __future__ import annotations

import re

from ..core import Emulator
from ..errors import APIError
from .base import Request, Response, Route, html_response, layout, message_page, redirect
from .rendering import Markup, esc


class ClaimPage:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        pattern = re.compile(r"^/(?P<slug>[A-Za-z0-9_\-]{1,100})/portal/claim$")
        return [("GET", pattern, self.show), ("POST", pattern, self.claim)]

    def _slug_ok(self, slug: str) -> bool:
        return slug == self.emu.store.organization["slug"]

    def show(self, request: Request, slug: str) -> Response:
        token = request.query.get("token", "")
        if not self._slug_ok(slug):
            return message_page(404, "Not found", "No such organization.")
        with self.emu.action():
            try:
                info = self.emu.seats.claim_info(token)
            except APIError:
                return message_page(
                    404, "Invitation not valid", "Invalid or expired invitation token."
                )
        content = Markup(
            '<div class="card"><p class="test-mode">Polar emulator</p>'
            f"<h1>Join {esc(info['organization_name'])}</h1>"
            f"<p>You were given a seat on <strong>{esc(info['product_name'])}</strong> "
            f'for <span id="claim-email">{esc(info["customer_email"])}</span>.</p>'
            f'<form method="post"><input type="hidden" name="token" value="{esc(token)}">'
            '<button type="submit" id="claim-seat">Claim my seat</button></form></div>'
        )
        return html_response(200, layout("Claim your seat", content))

    def claim(self, request: Request, slug: str) -> Response:
        if not self._slug_ok(slug):
            return message_page(404, "Not found", "No such organization.")
        with self.emu.action():
            try:
                answer = self.emu.seats.claim({"invitation_token": request.form.get("token", "")})
            except APIError:
                return message_page(
                    400, "Invitation not valid", "Invalid or expired invitation token."
                )
        # Polar signs the member into the customer portal with the returned session.
        return redirect(f"{self.emu.base_url}/portal/{answer['customer_session_token']}")
