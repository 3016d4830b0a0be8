"""The emulator's small dashboard: what the emulated organization holds, and where its
webhooks went."""

from __future__ import annotations

import re

from ..core import Emulator
from .base import Request, Response, Route, html_response, layout
from .rendering import Markup, date, esc, join, price_label


class DashboardPage:
    """``/`` and ``/dashboard``."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [("GET", re.compile(r"^/(?:dashboard/?)?$"), self.dashboard)]

    def dashboard(self, request: Request) -> Response:
        """What the emulated organization holds, and where its webhooks went."""
        emu = self.emu
        with emu.action():
            products = [emu.ser.product(p["id"]) for p in emu.store.products.values()]
            subs = [emu.ser.subscription(s["id"]) for s in emu.store.subscriptions.values()]
            customers = len(emu.customers.live())
            orders = len(emu.store.orders)
            endpoints = list(emu.webhooks.endpoints)
            log = list(emu.webhooks.delivery_log[-20:])
        org = emu.store.organization.get("name") or "Polar"
        rows = join(
            [
                Markup(
                    f"<tr><td>{esc(p['name'])}</td><td><code>{esc(p['id'])}</code></td>"
                    f"<td>{esc((p.get('metadata') or {}).get('slug', ''))}</td>"
                    f"<td>{esc('; '.join(price_label(x, p) for x in p['prices']))}</td>"
                    f"<td>{'archived' if p['is_archived'] else 'active'}</td></tr>"
                )
                for p in products
            ]
        )
        sub_rows = join(
            [
                Markup(
                    f"<tr><td>{esc(s['customer'].get('email') or '')}</td><td>{esc(s['product']['name'])}</td>"
                    f"<td>{esc(s['status'])}{' (cancels)' if s.get('cancel_at_period_end') else ''}</td>"
                    f"<td>{esc(date(s['current_period_end']))}</td></tr>"
                )
                for s in subs
            ]
        )
        hooks = join(
            [
                Markup(
                    f"<li>{esc(e.target if isinstance(e.target, str) else 'in-process receiver')} &middot; "
                    f"{'enabled' if e.enabled else 'DISABLED after repeated failures'} &middot; "
                    f"{len(e.queue)} pending</li>"
                )
                for e in endpoints
            ]
        ) or Markup("<li class='muted'>none</li>")
        log_rows = join(
            [
                Markup(
                    f"<tr><td>{esc(d['type'])}</td><td>{esc(d['attempt'])}</td>"
                    f"<td>{esc(d['status'] if d['status'] is not None else d.get('error') or '')}</td>"
                    f"<td>{'ok' if d['ok'] else 'failed'}</td></tr>"
                )
                for d in reversed(log)
            ]
        )
        content = Markup(
            f'<section class="card"><p class="test-mode">Polar emulator &middot; API {esc(emu.api_version)}</p>'
            f"<h1>{esc(org)}</h1><p>API base URL: <code>{esc(emu.base_url)}</code> &middot; "
            f"emulator clock: {esc(emu.clock.now().strftime('%Y-%m-%d %H:%M UTC'))} &middot; "
            f"{customers} customers &middot; {orders} orders</p></section>"
            f'<section class="card"><h2>Products</h2><table><tr><th>Name</th><th>Id</th><th>Slug</th>'
            f"<th>Prices</th><th>State</th></tr>{rows}</table></section>"
            f'<section class="card"><h2>Subscriptions</h2><table><tr><th>Customer</th><th>Plan</th>'
            f"<th>Status</th><th>Period end</th></tr>{sub_rows}</table></section>"
            f'<section class="card"><h2>Webhook endpoints</h2><ul>{hooks}</ul>'
            f"<table><tr><th>Event</th><th>Attempt</th><th>Answer</th><th></th></tr>{log_rows}</table></section>"
        )
        return html_response(200, layout(f"{org} - Polar emulator", content))
