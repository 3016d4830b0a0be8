"""The Polar client over httpx.MockTransport: headers, retries, errors, pagination, redaction,
the shared client, and every endpoint method checked against the 2026-10 spec's paths."""

import inspect
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_polar import __version__
from django_polar.client import (
    PolarAPIError,
    PolarAuthenticationError,
    PolarClient,
    PolarError,
    PolarNetworkError,
    PolarNotFoundError,
    PolarPermissionError,
    PolarRateLimitError,
    PolarServerError,
    PolarValidationError,
    get_client,
    use_transport,
)
from tests.spec import SPEC_PATH

TOKEN = "polar_oat_client_SECRET_token_9f8e7d6c5b4a"
BASE = "https://sandbox-api.polar.sh"


class Recorder:
    """A MockTransport handler answering from a queue of responses and recording requests."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


def make(*responses, **kwargs):
    recorder = Recorder(*responses)
    sleeps: list[float] = []
    options = {
        "access_token": TOKEN,
        "base_url": BASE,
        "transport": httpx.MockTransport(recorder),
        "sleep": sleeps.append,
        "max_retries": 3,
        "retry_backoff": 0.5,
        "retry_max_wait": 30.0,
        **kwargs,
    }
    return PolarClient(**options), recorder, sleeps


def ok(body=None, status=200, **kwargs):
    return httpx.Response(status, json=body if body is not None else {"id": "x"}, **kwargs)


def fail(status, body=None, **kwargs):
    return httpx.Response(status, json=body if body is not None else {"detail": "nope"}, **kwargs)


# -- headers ------------------------------------------------------------------------------------


def test_headers_identify_the_app_version_and_token():
    client, recorder, _ = make(ok())
    client.get_product("p1")
    request = recorder.requests[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Polar-Version"] == "2026-10"
    agent = request.headers["User-Agent"]
    assert agent.startswith(f"django-polar/{__version__} httpx/{httpx.__version__} python/3.")
    assert f"python/{sys.version_info.major}.{sys.version_info.minor}" in agent
    assert str(request.url) == f"{BASE}/v1/products/p1"


def test_api_version_is_configurable():
    client, recorder, _ = make(ok(), api_version="2027-01")
    client.get_order("o1")
    assert recorder.requests[0].headers["Polar-Version"] == "2027-01"


def test_timeouts_default_and_per_request():
    client, recorder, _ = make(ok(), timeout=7.0, connect_timeout=2.0)
    client.get_product("p1")
    client.request("GET", "/v1/products/p1", timeout=1.5)
    first, second = (r.extensions["timeout"] for r in recorder.requests)
    assert first == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}
    assert second == {"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5}


def test_json_body_is_sent_and_json_returned():
    client, recorder, _ = make(ok({"id": "c1", "email": "a@example.com"}, status=201))
    result = client.create_customer({"email": "a@example.com", "external_id": "user:1"})
    assert result == {"id": "c1", "email": "a@example.com"}
    assert json.loads(recorder.requests[0].content) == {
        "email": "a@example.com",
        "external_id": "user:1",
    }


def test_empty_response_returns_none():
    client, recorder, _ = make(httpx.Response(204))
    assert client.delete_customer("c1") is None
    assert recorder.requests[0].method == "DELETE"
    assert recorder.requests[0].url.params.get("anonymize") is None


def test_delete_customer_can_anonymize():
    client, recorder, _ = make(httpx.Response(204))
    client.delete_customer("c1", anonymize=True)
    assert recorder.requests[0].url.params["anonymize"] == "true"


# -- path parameters ----------------------------------------------------------------------------


def test_path_parameters_are_url_quoted():
    client, recorder, _ = make(ok())
    client.get_customer_by_external_id("team/42 a?b#c")
    client.get_customer_state_by_external_id("ü/1")
    first, second = recorder.requests
    assert first.url.raw_path == b"/v1/customers/external/team%2F42%20a%3Fb%23c"
    assert second.url.raw_path == b"/v1/customers/external/%C3%BC%2F1/state"


@pytest.mark.parametrize("bad", ["", None])
def test_empty_id_is_refused_before_any_request(bad):
    client, recorder, _ = make(ok())
    with pytest.raises(ValueError, match="an id is required"):
        client.get_product(bad)
    assert recorder.requests == []


# -- retries ------------------------------------------------------------------------------------


def test_get_retries_5xx_with_exponential_backoff_then_succeeds():
    client, recorder, sleeps = make(fail(502), fail(503), fail(504), ok(), jitter=lambda: 1.0)
    assert client.get_subscription("s1") == {"id": "x"}
    assert len(recorder.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_jitter_stays_within_half_to_full_step():
    client, _, sleeps = make(fail(503), jitter=lambda: 0.0, max_retries=4)
    with pytest.raises(PolarServerError):
        client.get_order("o1")
    assert sleeps == [0.25, 0.5, 1.0, 2.0]
    client, _, sleeps = make(fail(503), max_retries=4)  # real random jitter
    with pytest.raises(PolarServerError):
        client.get_order("o1")
    for retry, wait in enumerate(sleeps):
        step = 0.5 * 2**retry
        assert step / 2 <= wait <= step


def test_backoff_is_capped_by_retry_max_wait():
    client, _, sleeps = make(fail(503), jitter=lambda: 1.0, max_retries=5, retry_max_wait=3.0)
    with pytest.raises(PolarServerError):
        client.list_products().__next__()
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retries_give_up_after_max_retries():
    client, recorder, sleeps = make(fail(503, {"detail": "Service Unavailable"}), max_retries=2)
    with pytest.raises(PolarServerError) as info:
        client.get_checkout("ch1")
    assert len(recorder.requests) == 3
    assert len(sleeps) == 2
    assert info.value.status == 503


def test_max_retries_zero_means_one_attempt():
    client, recorder, sleeps = make(fail(503), max_retries=0)
    with pytest.raises(PolarServerError):
        client.get_checkout("ch1")
    assert len(recorder.requests) == 1
    assert sleeps == []


def test_429_honours_retry_after():
    client, recorder, sleeps = make(fail(429, headers={"Retry-After": "7"}), ok())
    assert client.get_product("p1") == {"id": "x"}
    assert sleeps == [7.0]
    assert len(recorder.requests) == 2


def test_429_retry_after_is_capped_by_retry_max_wait():
    client, _, sleeps = make(fail(429, headers={"Retry-After": "120"}), ok(), retry_max_wait=20.0)
    client.get_product("p1")
    assert sleeps == [20.0]


def test_429_retry_after_as_http_date():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    client, _, sleeps = make(fail(429, headers={"Retry-After": when}), ok())
    client.get_product("p1")
    assert 8.0 <= sleeps[0] <= 10.0


def test_429_retry_after_now_or_past_waits_nothing():
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    for hint in ("0", "-5", past):
        client, recorder, sleeps = make(fail(429, headers={"Retry-After": hint}), ok())
        client.get_product("p1")
        assert sleeps == [0.0], hint
        assert len(recorder.requests) == 2


def test_429_retry_after_as_a_date_without_a_zone_is_utc():
    when = (datetime.now(UTC) + timedelta(seconds=10)).strftime("%a, %d %b %Y %H:%M:%S -0000")
    client, _, sleeps = make(fail(429, headers={"Retry-After": when}), ok())
    client.get_product("p1")
    assert 8.0 <= sleeps[0] <= 10.0


def test_each_retry_is_logged_with_its_reason_and_wait(caplog):
    client, _, _ = make(fail(503), ok(), jitter=lambda: 1.0)
    caplog.set_level(logging.INFO, logger="django_polar.client")
    client.get_product("p1")
    (record,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert (
        record.getMessage()
        == "Polar GET /v1/products/p1 failed (status 503); retry 1 of 3 in 0.50 s"
    )


def test_429_without_retry_after_uses_backoff():
    client, _, sleeps = make(fail(429), ok(), jitter=lambda: 1.0)
    client.get_product("p1")
    assert sleeps == [0.5]


def test_429_is_retried_even_for_a_post_polar_never_processed():
    client, recorder, sleeps = make(fail(429, headers={"Retry-After": "1"}), ok(status=201))
    client.create_checkout({"products": ["p1"]})
    assert len(recorder.requests) == 2
    assert sleeps == [1.0]


def test_429_after_all_retries_raises_rate_limit_error_with_retry_after():
    client, recorder, _ = make(
        fail(429, {"detail": "Rate limit exceeded"}, headers={"Retry-After": "3"})
    )
    with pytest.raises(PolarRateLimitError) as info:
        client.get_product("p1")
    assert info.value.retry_after == 3.0
    assert len(recorder.requests) == 4


def test_a_429_whose_wait_the_budget_cannot_afford_raises_at_once_with_polars_wait():
    """The caller (a view's Retry-After, an agent tool's ``retry_after``) is told Polar's
    own wait, not this client's backoff."""
    client, recorder, sleeps = make(
        fail(429, headers={"Retry-After": "20"}), ok(), retry_budget=5.0
    )
    with pytest.raises(PolarRateLimitError) as info:
        client.get_product("p1")
    assert info.value.retry_after == 20.0
    assert sleeps == [] and len(recorder.requests) == 1


def test_non_idempotent_post_is_not_retried_on_5xx():
    client, recorder, sleeps = make(fail(503), ok(status=201))
    with pytest.raises(PolarServerError):
        client.create_checkout({"products": ["p1"]})
    assert len(recorder.requests) == 1
    assert sleeps == []


def test_non_idempotent_patch_and_delete_are_not_retried():
    client, recorder, _ = make(fail(502))
    with pytest.raises(PolarServerError):
        client.update_subscription("s1", {"cancel_at_period_end": True})
    with pytest.raises(PolarServerError):
        client.revoke_subscription("s1")
    assert len(recorder.requests) == 2


def test_post_marked_idempotent_is_retried():
    client, recorder, _ = make(fail(503), ok())
    client.request("POST", "/v1/license-keys/validate", json={"key": "k"}, idempotent=True)
    assert len(recorder.requests) == 2


def test_event_ingestion_with_external_ids_is_retried():
    client, recorder, _ = make(fail(503), ok({"inserted": 2, "duplicates": 0}))
    events = [
        {"name": "api_call", "external_customer_id": "u1", "external_id": "e1"},
        {"name": "api_call", "external_customer_id": "u1", "external_id": "e2"},
    ]
    assert client.ingest_events(events) == {"inserted": 2, "duplicates": 0}
    assert len(recorder.requests) == 2
    assert json.loads(recorder.requests[1].content) == {"events": events}


def test_event_ingestion_without_external_ids_is_not_retried():
    client, recorder, _ = make(fail(503), ok({"inserted": 1}))
    with pytest.raises(PolarServerError):
        client.ingest_events([{"name": "api_call", "external_customer_id": "u1"}])
    assert len(recorder.requests) == 1


def test_license_key_validation_is_retried_unless_it_increments_usage():
    client, recorder, _ = make(fail(503), ok())
    client.validate_license_key({"key": "K", "organization_id": "o"})
    assert len(recorder.requests) == 2
    client, recorder, _ = make(fail(503), ok())
    with pytest.raises(PolarServerError):
        client.validate_license_key({"key": "K", "organization_id": "o", "increment_usage": 1})
    assert len(recorder.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_4xx_is_never_retried(status):
    client, recorder, sleeps = make(fail(status), ok())
    with pytest.raises(PolarAPIError):
        client.get_product("p1")
    assert len(recorder.requests) == 1
    assert sleeps == []


def test_get_retries_timeouts_and_connection_errors():
    client, recorder, sleeps = make(
        httpx.ReadTimeout("timed out"), httpx.ConnectError("refused"), ok(), jitter=lambda: 1.0
    )
    assert client.get_product("p1") == {"id": "x"}
    assert len(recorder.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_network_failure_after_retries_raises_polar_network_error():
    client, recorder, _ = make(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(PolarNetworkError) as info:
        client.get_product("p1")
    assert len(recorder.requests) == 4
    assert "Connection refused" in str(info.value)
    assert "GET /v1/products/p1" in str(info.value)
    assert "after 4 attempt(s)" in str(info.value)
    assert isinstance(info.value, PolarError)


def test_post_read_timeout_is_not_retried_but_connect_failure_is():
    client, recorder, _ = make(httpx.ReadTimeout("timed out"), ok(status=201))
    with pytest.raises(PolarNetworkError):
        client.create_refund({"order_id": "o1", "reason": "other", "amount": 100})
    assert len(recorder.requests) == 1
    client, recorder, _ = make(httpx.ConnectError("refused"), ok(status=201))
    client.create_refund({"order_id": "o1", "reason": "other", "amount": 100})
    assert len(recorder.requests) == 2


# -- errors -------------------------------------------------------------------------------------


def test_404_is_not_found_with_polars_message():
    body = {"error": "ResourceNotFound", "detail": "Product not found"}
    client, _, _ = make(fail(404, body))
    with pytest.raises(PolarNotFoundError) as info:
        client.get_product("p1")
    error = info.value
    assert (error.status, error.method, error.path) == (404, "GET", "/v1/products/p1")
    assert error.detail == "Product not found"
    assert error.error == "ResourceNotFound"
    assert str(error) == "Polar answered 404 to GET /v1/products/p1: Product not found"


def test_422_keeps_validation_details_structured():
    detail = [
        {
            "loc": ["body", "email"],
            "msg": "value is not a valid email address",
            "type": "value_error",
        },
        {
            "loc": ["body", "external_id"],
            "msg": "A customer with this external ID already exists.",
            "type": "value_error",
        },
    ]
    client, _, _ = make(fail(422, {"detail": detail}))
    with pytest.raises(PolarValidationError) as info:
        client.create_customer({"email": "nope"})
    error = info.value
    assert error.errors == detail
    assert error.detail == detail
    assert "body.email: value is not a valid email address" in str(error)
    assert "body.external_id: A customer with this external ID already exists." in str(error)
    assert str(error).startswith("Polar answered 422 to POST /v1/customers/:")


def test_401_is_authentication_error_with_the_fix():
    body = {
        "error": "invalid_token",
        "error_description": "The access token provided is expired, revoked, malformed, or invalid for other reasons.",
    }
    client, _, _ = make(fail(401, body))
    with pytest.raises(PolarAuthenticationError) as info:
        client.list_products().__next__()
    assert "expired, revoked" in str(info.value)
    assert "POLAR['ACCESS_TOKEN']" in str(info.value)
    assert info.value.error == "invalid_token"


def test_403_insufficient_scope_names_the_scope():
    body = {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token.",
    }
    header = 'Bearer error="insufficient_scope", error_description="...", scope="products:read products:write"'
    client, _, _ = make(fail(403, body, headers={"WWW-Authenticate": header}))
    with pytest.raises(PolarPermissionError) as info:
        client.get_product("p1")
    assert info.value.scope == "products:read products:write"
    assert "lacks the scope products:read products:write" in str(info.value)


def test_403_scope_from_json_body():
    client, _, _ = make(
        fail(
            403,
            {"error": "insufficient_scope", "detail": "Missing scope", "scope": "checkouts:write"},
        )
    )
    with pytest.raises(PolarPermissionError) as info:
        client.create_checkout({})
    assert info.value.scope == "checkouts:write"


def test_403_insufficient_scope_without_scope_still_says_so():
    client, _, _ = make(
        fail(403, {"error": "insufficient_scope", "error_description": "Higher privileges needed."})
    )
    with pytest.raises(PolarPermissionError) as info:
        client.get_product("p1")
    assert info.value.scope is None
    assert "lacks a scope this endpoint requires" in str(info.value)


def test_403_business_refusal_is_permission_error_with_code():
    body = {
        "error": "AlreadyCanceledSubscription",
        "detail": "This subscription is already canceled.",
    }
    client, _, _ = make(fail(403, body))
    with pytest.raises(PolarPermissionError) as info:
        client.update_subscription("s1", {"cancel_at_period_end": True})
    assert info.value.error == "AlreadyCanceledSubscription"
    assert info.value.scope is None
    assert str(info.value).endswith("This subscription is already canceled.")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, PolarAPIError),
        (402, PolarAPIError),
        (409, PolarAPIError),
        (500, PolarServerError),
        (599, PolarServerError),
    ],
)
def test_other_statuses_map_to_base_or_server_error(status, cls):
    client, _, _ = make(fail(status, {"error": "SubscriptionLocked", "detail": "Pending update"}))
    with pytest.raises(cls) as info:
        client.create_discount({})
    assert type(info.value) is cls
    assert info.value.status == status
    assert "Pending update" in str(info.value)


def test_non_json_error_body_is_kept_as_text():
    client, _, _ = make(httpx.Response(502, text="<html>Bad gateway</html>"), max_retries=0)
    with pytest.raises(PolarServerError) as info:
        client.get_product("p1")
    assert info.value.detail == "<html>Bad gateway</html>"


def test_error_without_detail_uses_reason_phrase():
    client, _, _ = make(httpx.Response(404))
    with pytest.raises(PolarNotFoundError, match="Not Found"):
        client.get_product("p1")


# -- redaction ----------------------------------------------------------------------------------


def test_token_never_appears_in_errors_repr_or_logs(caplog):
    echo = {"detail": f"Token {TOKEN} is revoked", "input": {"token": TOKEN}}
    client, _, _ = make(fail(503, echo), fail(401, echo))
    caplog.set_level(logging.DEBUG, logger="django_polar")
    with pytest.raises(PolarAuthenticationError) as info:
        client.request("GET", f"/v1/products/?token={TOKEN}")
    error = info.value
    for text in (str(error), repr(error), repr(client), json.dumps(error.detail), error.path):
        assert TOKEN not in text
    assert "[redacted]" in str(error)
    assert caplog.records, "requests are logged"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert "Authorization" not in record.getMessage()
    assert TOKEN not in repr(vars(error))


def test_a_token_of_any_shape_is_redacted():
    odd = "emulator-token-Zx81-do-not-print"
    client, _, _ = make(fail(404, {"detail": f"unknown token {odd}"}), access_token=odd)
    with pytest.raises(PolarNotFoundError) as info:
        client.get_product("p1")
    assert odd not in str(info.value)
    assert "unknown token [redacted]" in str(info.value)
    # Also when the token is in the path (pasted as an id): the error names the path.
    client, _, _ = make(fail(404), access_token=odd)
    with pytest.raises(PolarNotFoundError) as info:
        client.request("GET", f"/v1/products/{odd}")
    assert odd not in str(info.value) and odd not in info.value.path


def test_other_polar_credentials_in_an_echo_are_redacted():
    session_token = "polar_cst_AbCdEf0123456789xyz"
    client, _, _ = make(
        fail(422, {"detail": [{"loc": ["body"], "msg": f"bad {session_token}", "type": "x"}]})
    )
    with pytest.raises(PolarValidationError) as info:
        client.create_customer_session({"external_customer_id": "u1"})
    assert session_token not in str(info.value)
    assert session_token not in json.dumps(info.value.errors)


def test_network_error_message_is_redacted():
    client, _, _ = make(httpx.ConnectError(f"cannot connect with {TOKEN}"), max_retries=0)
    with pytest.raises(PolarNetworkError) as info:
        client.get_product("p1")
    assert TOKEN not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_each_request_is_logged_at_debug_with_status_and_elapsed(caplog):
    client, _, _ = make(ok())
    caplog.set_level(logging.DEBUG, logger="django_polar.client")
    client.get_product("p1")
    (record,) = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert re.fullmatch(r"Polar GET /v1/products/p1 -> 200 in \d+ ms", record.getMessage())


# -- pagination ---------------------------------------------------------------------------------


def paged(total_pages, per_page=2):
    def handler(request):
        page = int(request.url.params["page"])
        assert page <= total_pages, f"asked for page {page} past max_page {total_pages}"
        items = [{"id": f"p{page}-{i}"} for i in range(per_page)]
        return httpx.Response(
            200,
            json={
                "items": items,
                "pagination": {"total_count": total_pages * per_page, "max_page": total_pages},
            },
        )

    return handler


def test_list_walks_every_page_until_max_page():
    client, recorder, _ = make(paged(3))
    items = list(client.list_products(is_archived=False))
    assert [item["id"] for item in items] == ["p1-0", "p1-1", "p2-0", "p2-1", "p3-0", "p3-1"]
    assert [r.url.params["page"] for r in recorder.requests] == ["1", "2", "3"]
    assert all(r.url.params["limit"] == "100" for r in recorder.requests)
    assert all(r.url.params["is_archived"] == "false" for r in recorder.requests)


def test_list_is_a_lazy_generator():
    client, recorder, _ = make(paged(5))
    seen = recorder.requests
    iterator = client.list_orders(customer_id="c1")
    assert seen == []
    assert next(iterator)["id"] == "p1-0"
    assert next(iterator)["id"] == "p1-1"
    assert len(seen) == 1
    assert next(iterator)["id"] == "p2-0"
    assert len(seen) == 2
    assert seen[0].url.params["customer_id"] == "c1"


def test_list_stops_on_empty_page_and_handles_no_results():
    client, recorder, _ = make(ok({"items": [], "pagination": {"total_count": 0, "max_page": 0}}))
    assert list(client.list_subscriptions()) == []
    assert len(recorder.requests) == 1


def test_list_customers_filters_and_drops_none():
    client, recorder, _ = make(
        ok({"items": [{"id": "c1"}], "pagination": {"total_count": 1, "max_page": 1}})
    )
    assert list(client.list_customers(email="a@example.com")) == [{"id": "c1"}]
    params = recorder.requests[0].url.params
    assert params["email"] == "a@example.com"
    assert "query" not in params


def test_get_page_returns_one_raw_page():
    page = {"items": [{"id": "b1"}], "pagination": {"total_count": 250, "max_page": 3}}
    client, recorder, _ = make(ok(page))
    assert client.get_page("/v1/benefits/", page=2, type="custom") == page
    params = recorder.requests[0].url.params
    assert (params["page"], params["limit"], params["type"]) == ("2", "100", "custom")


# -- the shared client --------------------------------------------------------------------------


def test_get_client_is_cached_and_rebuilt_when_settings_change():
    with override_settings(POLAR={"ACCESS_TOKEN": TOKEN, "SERVER": "production"}):
        first = get_client()
        assert get_client() is first
        assert first.base_url == "https://api.polar.sh"
    with override_settings(
        POLAR={"ACCESS_TOKEN": TOKEN, "SERVER": "sandbox", "API_VERSION": "2027-01"}
    ):
        second = get_client()
        assert second is not first
        assert (second.base_url, second.api_version) == (BASE, "2027-01")


def test_get_client_is_shared_across_threads():
    clients = []
    with override_settings(POLAR={"ACCESS_TOKEN": TOKEN, "SERVER": "sandbox"}):
        threads = [threading.Thread(target=lambda: clients.append(get_client())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len({id(client) for client in clients}) == 1


def test_get_client_without_token_explains_the_fix():
    with (
        override_settings(POLAR={"SERVER": "sandbox"}),
        pytest.raises(ImproperlyConfigured, match="ACCESS_TOKEN"),
    ):
        get_client()


def test_use_transport_routes_get_client_through_it():
    recorder = Recorder(ok({"id": "p1"}))
    with override_settings(POLAR={"ACCESS_TOKEN": TOKEN, "SERVER": "emulator", "MAX_RETRIES": 1}):
        with use_transport(httpx.MockTransport(recorder)):
            client = get_client()
            assert client.get_product("p1") == {"id": "p1"}
            assert client.max_retries == 1
        assert get_client() is not client
    assert str(recorder.requests[0].url) == "http://127.0.0.1:8765/v1/products/p1"
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_use_transport_applies_to_other_threads_and_nests():
    outer, inner = Recorder(ok({"id": "outer"})), Recorder(ok({"id": "inner"}))
    results = []
    with (
        override_settings(POLAR={"ACCESS_TOKEN": TOKEN}),
        use_transport(httpx.MockTransport(outer)),
    ):
        with use_transport(httpx.MockTransport(inner)):
            thread = threading.Thread(target=lambda: results.append(get_client().get_product("p")))
            thread.start()
            thread.join()
        results.append(get_client().get_product("p"))
    assert results == [{"id": "inner"}, {"id": "outer"}]


def test_retries_stop_where_the_calls_deadline_would_pass():
    client, recorder, sleeps = make(fail(503), deadline=1.0, retry_backoff=10.0)
    with pytest.raises(PolarServerError) as info:
        client.get_product("p1")
    assert len(recorder.requests) == 1 and sleeps == []  # a 5-10 s wait would pass 1 s
    assert info.value.retry_after is not None


def test_retries_stop_where_the_retry_budget_would_pass():
    # Waits of 0.5, 1.0, 2.0 s: a 1.5 s budget affords exactly the first two.
    client, recorder, sleeps = make(fail(503), jitter=lambda: 1.0, retry_budget=1.5)
    with pytest.raises(PolarServerError):
        client.get_product("p1")
    assert sleeps == [0.5, 1.0] and len(recorder.requests) == 3
    client, _, sleeps = make(fail(503), jitter=lambda: 1.0, retry_budget=1.0)
    with pytest.raises(PolarServerError):
        client.get_product("p1")
    assert sleeps == [0.5]
    # The budget is for all the waits together: 0.5 + 1.0 + 2.0 would pass 3.2.
    for answer in (fail(503), httpx.ConnectError("refused")):
        client, _, sleeps = make(answer, jitter=lambda: 1.0, retry_budget=3.2)
        with pytest.raises(PolarError):
            client.get_product("p1")
        assert sleeps == [0.5, 1.0], answer


def test_a_session_token_authenticates_the_call_and_is_redacted():
    session = "polar_cst_session_Zx81"
    client, recorder, _ = make(ok(), ok(), fail(404))
    client.request("GET", "/v1/customer-portal/customers/me", session_token=session)
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {session}"
    client.request("GET", "/v1/products/p1")  # the next call is the organization's again
    assert recorder.requests[1].headers["Authorization"] == f"Bearer {TOKEN}"
    odd = "session-of-any-shape-Zx81"
    with pytest.raises(PolarNotFoundError) as info:
        client.request("GET", f"/v1/customer-portal/{odd}", session_token=odd)
    assert recorder.requests[2].headers["Authorization"] == f"Bearer {odd}"
    assert odd not in str(info.value) and odd not in info.value.path


def test_a_network_failure_is_logged_and_raised_with_its_cause_and_no_token(caplog):
    odd = "emulator-token-Zx81-do-not-print"
    refused = httpx.ConnectError(f"cannot connect with {odd}")
    client, _, _ = make(refused, ok(), jitter=lambda: 1.0, access_token=odd)
    caplog.set_level(logging.INFO, logger="django_polar.client")
    client.get_product("p1")
    (record,) = [r for r in caplog.records if r.levelno == logging.INFO]
    assert record.getMessage() == (
        "Polar GET /v1/products/p1 failed (ConnectError: cannot connect with [redacted]); "
        "retry 1 of 3 in 0.50 s"
    )
    client, _, _ = make(refused, access_token=odd, max_retries=0)
    with pytest.raises(PolarNetworkError) as info:
        client.get_product("p1")
    assert "(ConnectError: cannot connect with [redacted])" in str(info.value)
    assert odd not in str(info.value)
    error = info.value
    assert type(error) is PolarNetworkError  # refused, not timed out
    assert (error.method, error.path) == ("GET", "/v1/products/p1")
    assert re.fullmatch(
        r"Could not reach Polar for GET /v1/products/p1 \(ConnectError: cannot connect with "
        r"\[redacted\]\) after 1 attempt\(s\) in 0\.\d s; check POLAR\['SERVER'\] and the network\.",
        str(error),
    ), str(error)


def test_each_attempts_timeout_is_cut_to_what_is_left_of_the_deadline():
    client, recorder, _ = make(ok(), deadline=0.5, timeout=10.0, connect_timeout=5.0)
    client.get_product("p1")
    timeout = recorder.requests[0].extensions["timeout"]
    assert 0 < timeout["read"] <= 0.5 and 0 < timeout["connect"] <= 0.5


def test_an_answer_that_is_not_json_names_the_call():
    html = httpx.Response(200, text="<html>Down for maintenance</html>")
    client, _, _ = make(html)
    with pytest.raises(PolarError) as info:
        client.get_product("p1")
    assert str(info.value).startswith("Polar answered 200 to GET /v1/products/p1: ")
    assert "not JSON" in str(info.value)


def test_a_call_made_inside_a_call_never_outlives_the_outer_ones_deadline():
    """A transport or hook that calls Polar itself: the inner call gets what is left of the
    outer call's deadline, not a fresh (or no) deadline of its own."""
    inner, inner_recorder, inner_sleeps = make(fail(503), retry_backoff=10.0, jitter=lambda: 1.0)
    errors = []

    def outer_handler(request):
        with pytest.raises(PolarServerError) as info:
            inner.get_product("p1")
        errors.append(info.value)
        return ok()

    outer, _, _ = make(outer_handler, deadline=2.0)
    outer.get_product("p0")
    # Retrying (10 s, then 20 s) would pass the outer call's 2 s: the inner call gives up.
    assert len(inner_recorder.requests) == 1 and inner_sleeps == []
    assert len(errors) == 1
    # Alone, the same inner client retries as configured.
    with pytest.raises(PolarServerError):
        inner.get_product("p1")
    assert len(inner_sleeps) == 3


# -- every method against the spec --------------------------------------------------------------

HELPERS = {"request", "get_page", "paginate", "close", "backoff"}
SPEC = SPEC_PATH
DERIVED = Path(__file__).parent / "data" / "spec_paths.json"
METHODS = ("get", "post", "put", "patch", "delete")


def spec_pairs():
    if SPEC is not None:
        paths = json.loads(SPEC.read_text())["paths"]
        return {(m.upper(), p) for p, ops in paths.items() for m in ops if m in METHODS}
    return {tuple(pair) for pair in json.loads(DERIVED.read_text())}


def template_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def endpoint_methods():
    return sorted(
        name
        for name, member in inspect.getmembers(PolarClient, inspect.isfunction)
        # Not mutmut's copies of the methods (``xǁPolarClientǁ…__mutmut_N``): not API calls.
        if not name.startswith("_") and name not in HELPERS and "__mutmut_" not in name
    )


def call_with_dummies(client, name):
    method = getattr(client, name)
    args = []
    for param in inspect.signature(method).parameters.values():
        if param.kind is not param.POSITIONAL_OR_KEYWORD:
            continue
        if param.name == "body":
            args.append({"key": "value"})
        elif param.name == "events":
            args.append([{"name": "e", "external_id": "x"}])
        else:
            args.append("id with/slash")
    result = method(*args)
    if inspect.isgenerator(result):
        list(result)


def test_derived_spec_paths_file_matches_the_spec():
    if SPEC is None:
        pytest.skip("the shared spec is not beside this checkout")
    assert {tuple(pair) for pair in json.loads(DERIVED.read_text())} == spec_pairs()


def test_every_client_method_calls_a_path_of_the_spec():
    pairs = spec_pairs()
    page = {"items": [{"id": "x"}], "pagination": {"total_count": 1, "max_page": 1}}
    # Also a valid object answer (the client refuses objects without their key).
    page.update(id="x", customer_portal_url="https://polar.sh/portal")
    names = endpoint_methods()
    assert len(names) >= 40
    called = {}
    for name in names:
        client, recorder, _ = make(ok(page))
        call_with_dummies(client, name)
        assert len(recorder.requests) == 1, name
        request = recorder.requests[0]
        raw_path = request.url.raw_path.split(b"?")[0].decode()
        matches = [
            (m, template)
            for m, template in pairs
            if m == request.method and template_regex(template).match(raw_path)
        ]
        assert len(matches) == 1, f"{name}: {request.method} {raw_path} is not in the 2026-10 spec"
        called[name] = matches[0]
        if "{" in called[name][1]:
            assert "id%20with%2Fslash" in raw_path, name
    assert called["get_customer_by_external_id"] == ("GET", "/v1/customers/external/{external_id}")
    assert called["revoke_subscription"] == ("DELETE", "/v1/subscriptions/{id}")
    assert called["generate_invoice"] == ("POST", "/v1/orders/{id}/invoice")
    assert called["get_invoice"] == ("GET", "/v1/orders/{id}/invoice")
    assert called["ingest_events"] == ("POST", "/v1/events/ingest")
    assert called["list_customer_meters"] == ("GET", "/v1/customer-meters/")
    assert len(set(called.values())) == len(called), "two methods call the same endpoint"


def test_the_architecture_method_names_all_exist():
    expected = """list_products get_product create_product update_product list_benefits get_benefit
    create_benefit update_benefit create_customer get_customer get_customer_by_external_id
    update_customer update_customer_by_external_id list_customers delete_customer
    get_customer_state get_customer_state_by_external_id create_checkout get_checkout
    create_checkout_link create_customer_session list_subscriptions get_subscription
    update_subscription revoke_subscription list_orders get_order generate_invoice get_invoice
    create_refund create_discount list_benefit_grants ingest_events list_events list_meters
    list_customer_meters validate_license_key activate_license_key deactivate_license_key
    list_license_keys get_license_key create_subscription update_order get_receipt
    list_payment_methods list_webhook_endpoints create_webhook_endpoint get_webhook_endpoint
    update_webhook_endpoint delete_webhook_endpoint list_webhook_deliveries
    redeliver_webhook_event list_seats assign_seat revoke_seat resend_seat_invitation
    get_seat_claim_info claim_seat list_members get_metrics portal_list_seats
    portal_assign_seat portal_revoke_seat portal_resend_seat_invitation portal_list_members
    portal_add_member portal_update_member portal_remove_member""".split()
    assert sorted(expected) == endpoint_methods()
