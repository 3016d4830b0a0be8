"""The invoice PDF an order's invoice URL points to (generated on request, like Polar's)."""

from __future__ import annotations

import re

from ..core import Emulator
from .base import UUID_RE, Request, Response, Route, message_page
from .invoice_pdf import render_pdf
from .rendering import date, money


class InvoicePages:
    """``/invoices/<order>/<number>.pdf``."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [
            (
                "GET",
                re.compile(rf"^/invoices/(?P<order>{UUID_RE})/(?P<number>[A-Za-z0-9\-]+)\.pdf$"),
                self.invoice,
            ),
        ]

    def invoice(self, request: Request, order: str, number: str) -> Response:
        with self.emu.action():
            record = self.emu.store.orders.get(order)
            if (
                record is None
                or not record["is_invoice_generated"]
                or record["invoice_number"] != number
            ):
                return message_page(404, "Invoice not found", "No invoice at this address.")
            data = self.emu.ser.order(order)
        org = self.emu.store.organization.get("name") or "Polar"
        currency = data["currency"]
        lines = [
            f"Seller: {org} (merchant of record: Polar, emulated)",
            f"Date: {date(data['created_at'])}",
            f"Billed to: {data.get('billing_name') or ''} <{data['customer'].get('email') or ''}>",
            "",
        ]
        lines += [
            f"{item['label']}: {money(item['amount'], currency)}" for item in data.get("items", [])
        ]
        lines += ["", f"Subtotal: {money(data['subtotal_amount'], currency)}"]
        if data.get("discount_amount"):
            lines.append(f"Discount: -{money(data['discount_amount'], currency)}")
        lines += [
            f"Tax: {money(data['tax_amount'], currency)}",
            f"Total: {money(data['total_amount'], currency)}",
            f"Status: {data['status']}",
        ]
        pdf = render_pdf(f"Invoice {number}", lines)
        return Response(
            200,
            pdf,
            [
                ("Content-Type", "application/pdf"),
                ("Content-Disposition", f'inline; filename="{number}.pdf"'),
            ],
        )
