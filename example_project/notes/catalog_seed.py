"""Jotter's catalog, in the emulator's seed format (``polar_emulator.seed``).

One of each kind Polar sells: a monthly and a yearly plan, a one-time purchase with a
license key, a seat-based team plan and a metered (usage-based) plan. Against Polar's
sandbox, create the same products in the dashboard instead.
"""

from typing import Any

#: The emulated organization's id (license key activation needs it in the settings).
JOTTER_ORGANIZATION_ID = "5f0c2d1e-7a3b-4c6d-9e8f-1a2b3c4d5e6f"

JOTTER_SEED: dict[str, Any] = {
    # Jotter sells its AI add-on beside a plan: two subscriptions per customer, which
    # Polar allows only when the organization says so (Settings -> Subscriptions).
    "organization": {
        "id": JOTTER_ORGANIZATION_ID,  # settings.POLAR["ORGANIZATION_ID"] on the emulator
        "name": "Jotter",
        "slug": "jotter",
        "subscription_settings": {"allow_multiple_subscriptions": True},
    },
    "meters": [
        {
            "key": "ai-summaries",
            "name": "AI summaries",
            "event": "ai_summary",
            "aggregation": "count",
        }
    ],
    "benefits": [
        {
            "key": "pro-features",
            "type": "feature_flag",
            "description": "Unlimited notes and Insights",
        },
        {"key": "priority-support", "type": "custom", "description": "Priority email support"},
        {
            "key": "desktop-license",
            "type": "license_keys",
            "description": "Jotter Desktop license key",
            "properties": {
                "prefix": "JOT",
                "activations": {"limit": 3, "enable_customer_admin": True},
            },
        },
        {
            "key": "ai-credits",
            "type": "meter_credit",
            "description": "50 AI summaries included each month",
            "properties": {"meter": "ai-summaries", "units": 50, "rollover": False},
        },
    ],
    "products": [
        {
            "key": "pro-monthly",
            "name": "Jotter Pro",
            "description": "Unlimited notes and insights, billed monthly.",
            "recurring_interval": "month",
            "prices": [{"amount": 800, "currency": "usd"}],
            "benefits": ["pro-features", "priority-support"],
        },
        {
            "key": "pro-yearly",
            "name": "Jotter Pro Yearly",
            "description": "Two months free when you pay for a year.",
            "recurring_interval": "year",
            "prices": [{"amount": 8000, "currency": "usd"}],
            "benefits": ["pro-features", "priority-support"],
        },
        {
            "key": "team",
            "name": "Jotter Team",
            "description": "Shared workspaces for your whole team.",
            "recurring_interval": "month",
            "prices": [
                {
                    "type": "seat_based",
                    "tiers": [
                        {"min_seats": 1, "max_seats": 9, "price_per_seat": 600},
                        {"min_seats": 10, "price_per_seat": 500},
                    ],
                }
            ],
            "benefits": ["pro-features"],
        },
        {
            "key": "ai",
            "name": "Jotter AI",
            "description": "AI summaries of your notes, billed by use.",
            "recurring_interval": "month",
            "prices": [
                {"amount": 300, "currency": "usd"},
                {"type": "metered_unit", "meter": "ai-summaries", "unit_amount": "2"},
            ],
            "benefits": ["ai-credits"],
        },
        {
            "key": "desktop",
            "name": "Jotter Desktop",
            "description": "The offline desktop app. Pay once, yours forever.",
            "prices": [{"amount": 4900, "currency": "usd"}],
            "benefits": ["desktop-license"],
        },
    ],
}
