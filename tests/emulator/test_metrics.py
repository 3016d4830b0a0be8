"""``GET /v1/metrics/``: the subscription metrics Polar computes from its subscriptions
(server/polar/metrics/queries.py get_active_subscriptions_cte, metrics.py)."""

from __future__ import annotations

from datetime import timedelta

from .oracle import load


def buy(api, emu, key, email):
    checkout = api.post("/v1/checkouts/", json={"products": [emu.ids[key]]}).json()
    return emu.pay_checkout(checkout["id"], email=email)


def metrics(api, **params):
    response = api.get("/v1/metrics/", params=params)
    assert response.status_code == 200, response.text
    return load(response.json(), "MetricsResponse")


def test_mrr_spreads_yearly_plans_and_leaves_out_trials(emu, api):
    buy(api, emu, "pro-yearly", "year@example.com")  # 12000 a year: 1000 a month
    buy(api, emu, "pro-monthly", "trial@example.com")  # on a 14-day trial: not yet MRR
    today = emu.clock.now().date()
    answer = metrics(api, start_date=str(today), end_date=str(today), interval="day")
    assert answer.totals.active_subscriptions == 2
    assert answer.totals.monthly_recurring_revenue == 1000
    assert answer.totals.committed_subscriptions == 2
    assert answer.metrics.monthly_recurring_revenue.type == "currency"
    assert answer.metrics.active_subscriptions.display_name == "Active Subscriptions"

    # Fifteen days on, the trial has ended and the monthly plan counts too.
    emu.clock.advance(days=15)
    later = emu.clock.now().date()
    answer = metrics(api, start_date=str(today), end_date=str(later), interval="day")
    assert len(answer.periods) == 16
    assert answer.periods[0].monthly_recurring_revenue == 1000
    assert answer.totals.monthly_recurring_revenue == 1000 + 1200


def test_a_subscription_set_to_end_is_active_but_not_committed(emu, api):
    buy(api, emu, "pro-yearly", "leaving@example.com")
    sub_id = api.get("/v1/subscriptions/").json()["items"][0]["id"]
    response = api.patch(f"/v1/subscriptions/{sub_id}", json={"cancel_at_period_end": True})
    assert response.status_code == 200, response.text
    today = emu.clock.now().date()
    answer = metrics(api, start_date=str(today), end_date=str(today), interval="day")
    assert answer.totals.active_subscriptions == 1
    assert answer.totals.committed_subscriptions == 0

    # After the period ends it no longer counts.
    emu.clock.advance(days=370)
    later = emu.clock.now().date()
    answer = metrics(api, start_date=str(later), end_date=str(later), interval="day")
    assert answer.totals.active_subscriptions == 0


def test_only_the_asked_metrics_come_back(emu, api):
    today = emu.clock.now().date()
    answer = api.get(
        "/v1/metrics/",
        params={
            "start_date": str(today),
            "end_date": str(today),
            "interval": "day",
            "metrics": "monthly_recurring_revenue",
        },
    ).json()
    assert set(answer["totals"]) == {"monthly_recurring_revenue"}
    assert set(answer["periods"][0]) == {"timestamp", "monthly_recurring_revenue"}


def test_bad_queries_are_422_as_in_polar(emu, api):
    today = emu.clock.now().date()
    base = {"start_date": str(today), "end_date": str(today), "interval": "day"}
    unknown = api.get("/v1/metrics/", params={**base, "metrics": ["mrr", "revenue"]})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["msg"] == "Invalid metric slugs: mrr"
    too_wide = api.get(
        "/v1/metrics/",
        params={**base, "start_date": str(today - timedelta(days=400)), "interval": "day"},
    )
    assert too_wide.status_code == 422
    assert "interval is too small" in too_wide.json()["detail"][0]["msg"]
    assert api.get("/v1/metrics/", params={**base, "interval": "decade"}).status_code == 422
    assert api.get("/v1/metrics/", params={**base, "end_date": "soon"}).status_code == 422
    missing = api.get("/v1/metrics/", params={"interval": "day"})
    assert missing.status_code == 422
