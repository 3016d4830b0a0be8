"""Pacing many Polar requests: a shared rate budget and a bounded thread pool.

``polar_sync`` and ``polar_reconcile`` both walk many objects through Polar's API; they
share these two pieces so both stay under Polar's rate limit the same way.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from .errors import PacerStopped

J = TypeVar("J")
R = TypeVar("R")

#: Polar's documented limit per organization.
DEFAULT_RATE_PER_MINUTE = 300
#: Pace this fraction below the limit: request arrival times jitter with latency.
RATE_HEADROOM = 0.02
DEFAULT_CONCURRENCY = 4


class Pacer:
    """Spaces request starts evenly so a run stays under a requests-per-minute budget.

    Shared by every worker thread (and by every kind of one run). ``pause`` pushes the next
    start back, e.g. by a 429's ``Retry-After``, for all workers at once.
    """

    def __init__(
        self,
        per_minute: float = DEFAULT_RATE_PER_MINUTE,
        *,
        headroom: float = RATE_HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("the request rate must be greater than 0 per minute")
        self.per_minute = per_minute
        self.interval = 60.0 / (per_minute * (1.0 - headroom))
        self._clock = clock
        self._stopped = threading.Event()
        # Waiting on the event (not time.sleep) lets ``stop`` wake every waiting worker.
        self._sleep = sleep or self._stopped.wait
        self._lock = threading.Lock()
        self._next: float | None = None
        self.requests = 0

    def acquire(self) -> None:
        """Block until this caller may start one request."""
        with self._lock:
            now = self._clock()
            start = now if self._next is None else max(now, self._next)
            self._next = start + self.interval
            self.requests += 1
        if start > now:
            self._sleep(start - now)
        if self._stopped.is_set():
            raise PacerStopped("the run was stopped")

    def stop(self) -> None:
        """Wake every waiting worker and refuse new requests (after Ctrl-C)."""
        self._stopped.set()

    def pause(self, seconds: float) -> None:
        """No request starts for ``seconds`` from now."""
        with self._lock:
            resume = self._clock() + max(0.0, seconds)
            self._next = resume if self._next is None else max(self._next, resume)


def fetch_concurrently(
    jobs: Iterable[J],
    fetch: Callable[[J], R],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_in_flight: int | None = None,
    name: str = "polar-fetch",
) -> Iterator[tuple[J, Future[R]]]:
    """Run ``fetch(job)`` on a thread pool; yield ``(job, done future)`` as each finishes.

    At most ``max_in_flight`` jobs are submitted and not yet consumed, so a consumer that
    writes slowly holds the fetchers back instead of buffering every result. Closing the
    generator (Ctrl-C in the consumer) drops the queued jobs.
    """
    limit = max(max_in_flight or 2 * concurrency, concurrency)
    pending = iter(jobs)
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix=name)
    in_flight: dict[Future[R], J] = {}

    def submit_more() -> None:
        while len(in_flight) < limit:
            try:
                job = next(pending)
            except StopIteration:
                return
            # The caller's context (its call budget: background() in commands) goes along.
            in_flight[pool.submit(contextvars.copy_context().run, fetch, job)] = job

    try:
        submit_more()
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                yield in_flight.pop(future), future
            submit_more()
    finally:
        # Requests already on the wire finish on their own; nothing waits for them.
        pool.shutdown(wait=False, cancel_futures=True)
