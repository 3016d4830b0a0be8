"""List pages: Polar's orders, and a page costs the page, not a sort of the collection."""

from __future__ import annotations

import json
import random

from polar_emulator import Emulator
from polar_emulator.api import page_slice


def test_page_slice_matches_a_full_stable_sort_in_both_directions():
    rng = random.Random(3)
    ordered = [{"created_at": f"2026-10-01T00:00:{i // 3:02d}.000000Z", "n": i} for i in range(40)]
    shuffled = [
        {"created_at": f"2026-10-01T00:00:{rng.randrange(9):02d}.000000Z", "n": i}
        for i in range(40)
    ]
    shuffled[5]["created_at"] = None  # a missing value sorts first, like an empty string
    for records in (ordered, shuffled):
        for descending in (True, False):
            expected = [
                r
                for _, r in sorted(
                    enumerate(records),
                    reverse=descending,
                    key=lambda ir: (str(ir[1]["created_at"] or ""), ir[0]),
                )
            ]
            for start, stop in ((0, 10), (10, 20), (30, 40), (35, 45), (40, 50), (0, 100)):
                got = page_slice(records, "created_at", descending, start, stop)
                assert got == expected[start:stop], (descending, start, stop)


def test_lists_are_newest_first_by_default_and_honour_sorting(api):
    emails = [f"c{i}@example.com" for i in range(5)]
    ids = [api.post("/v1/customers/", json={"email": e}).json()["id"] for e in emails]
    newest_first = api.get("/v1/customers/", params={"limit": 3}).json()
    assert [c["id"] for c in newest_first["items"]] == ids[::-1][:3]
    assert newest_first["pagination"] == {"total_count": 5, "max_page": 2}
    oldest_first = api.get(
        "/v1/customers/", params={"limit": 3, "page": 2, "sorting": "created_at"}
    ).json()
    assert [c["id"] for c in oldest_first["items"]] == ids[3:]
    by_email = api.get("/v1/customers/", params={"sorting": "-email"}).json()
    assert [c["email"] for c in by_email["items"]] == sorted(emails, reverse=True)


def test_pages_of_a_large_collection_reach_its_oldest_orders_newest_first():
    # What a page costs in CPU is measured by benchmarks/emulator_pages.py (BENCHMARKS.md),
    # not here: a time budget in a test fails on a busy machine, not on slow code.
    emu = Emulator(frozen_clock=True, rng_seed=5)
    ids = emu.bulk_seed(customers=10, orders=30_000)
    seen: list[str] = []
    for page in range(1, 21):
        status, _, body = emu.handle(
            "GET", f"/v1/orders/?page={page}&limit=100", {"Authorization": "Bearer t"}
        )
        assert status == 200
        seen += [order["id"] for order in json.loads(body)["items"]]
    assert json.loads(body)["pagination"] == {"total_count": 30_000, "max_page": 300}
    assert seen == ids["orders"][::-1][:2000]  # newest first, no gap, no repeat
