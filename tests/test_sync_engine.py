"""The sync engine's building blocks: pacing under Polar's rate limit, --since, kinds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from django_polar.pacing import Pacer
from django_polar.sync import ALL_KINDS, DEFAULT_KINDS, parse_since, resolve_kinds


class FakeClock:
    """Time that only moves when someone sleeps (thread-safe), so pacing is exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()
        self.starts: list[float] = []

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_pacer_keeps_any_minute_under_the_limit():
    fake = FakeClock()
    pacer = Pacer(300, clock=fake.clock, sleep=fake.sleep)
    starts = []
    for _ in range(900):
        pacer.acquire()
        starts.append(fake.clock())
    # Sliding 60 s windows (what Polar and the emulator count) never see more than 300.
    for i, start in enumerate(starts):
        in_window = sum(1 for s in starts[i:] if s < start + 60)
        assert in_window <= 300
    # ...and the run is not slower than the limit needs (2 % headroom).
    assert starts[-1] == pytest.approx(899 * 60 / (300 * 0.98))


def test_pacer_pause_delays_every_worker():
    fake = FakeClock()
    pacer = Pacer(600, headroom=0, clock=fake.clock, sleep=fake.sleep)
    pacer.acquire()
    pacer.pause(7.5)  # a 429 said Retry-After: 7.5
    pacer.acquire()
    assert fake.clock() == pytest.approx(7.5)
    pacer.acquire()
    assert fake.clock() == pytest.approx(7.6)


def test_pacer_refuses_a_zero_rate():
    with pytest.raises(ValueError, match="greater than 0"):
        Pacer(0)


def test_resolve_kinds_orders_by_dependency_and_expands_all():
    assert resolve_kinds(["orders", "customers", "orders"]) == ["customers", "orders"]
    assert resolve_kinds(["all"]) == list(ALL_KINDS)
    assert resolve_kinds([]) == list(DEFAULT_KINDS)
    assert resolve_kinds(["benefit_grants"]) == ["benefit-grants"]
    with pytest.raises(ValueError, match="unknown kind 'invoices'"):
        resolve_kinds(["invoices"])


def test_parse_since_accepts_dates_datetimes_and_spans():
    now = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    assert parse_since("36h", now=now) == datetime(2026, 11, 9, 0, 0, tzinfo=UTC)
    assert parse_since("2w", now=now) == datetime(2026, 10, 27, 12, 0, tzinfo=UTC)
    assert parse_since("2026-10-01") == datetime(2026, 10, 1, tzinfo=UTC)
    assert parse_since("2026-10-01T08:30:00Z") == datetime(2026, 10, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a date"):
        parse_since("yesterday")


def test_fetching_holds_a_bounded_number_of_pages_for_a_slow_writer():
    import time

    from django_polar.pacing import fetch_concurrently

    held = 0
    peak = 0
    lock = threading.Lock()

    def fetch(page):
        nonlocal held, peak
        with lock:
            held += 1
            peak = max(peak, held)
        return [page] * 100

    done = []
    for _page, future in fetch_concurrently(range(200), fetch, concurrency=3, max_in_flight=6):
        time.sleep(0.001)  # the writer is slower than the fetchers
        done.append(future.result()[0])
        with lock:
            held -= 1
    assert sorted(done) == list(range(200))
    assert peak <= 6  # memory is bounded by the window, not by the number of pages


def test_progress_bar_on_a_terminal_and_lines_elsewhere():
    import io

    from django_polar.management.progress import ProgressReporter

    tty = io.StringIO()
    bar = ProgressReporter(tty, tty=True, interval=0)
    bar.update("customers", 250, 1000, 2.0, {"created": 250})
    bar.update("customers", 1000, 1000, 4.0, {"created": 1000}, final=True)
    text = tty.getvalue()
    assert text.startswith("\rcustomers")
    assert "[#######.....................]" in text and " 25% " in text and "125/s" in text
    assert "1,000/1,000 100%" in text and text.endswith("\n")

    log = io.StringIO()
    lines = ProgressReporter(log, tty=False, interval=5, clock=iter([0, 1, 6]).__next__)
    for done in (100, 200, 300):
        lines.update("orders", done, 300, done / 100, {"updated": done})
    assert log.getvalue().splitlines() == [
        "orders: 100/300 in 1.0s (100/s) updated=100",
        "orders: 300/300 in 3.0s (100/s) updated=300",
    ]
