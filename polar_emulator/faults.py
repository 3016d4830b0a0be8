"""Fault injection: latency, rate limits, 5xx answers, duplicate and shuffled deliveries."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Knobs a test or demo turns; all off by default.

    latency: seconds slept (really) before every HTTP answer.
    rate_limit: requests per rolling minute before answering 429 + Retry-After (Polar: 300).
    error_rate: share (0..1) of requests answered with ``error_status`` before any state change.
    retry_after: the ``Retry-After`` seconds of a 429 from ``fail_next`` or ``error_status``
    (the rate limiter computes its own: seconds until the window frees up).
    duplicate_rate / shuffle: webhook deliveries sent twice / in a shuffled order.
    """

    latency: float = 0.0
    rate_limit: int | None = None
    error_rate: float = 0.0
    error_status: int = 500
    retry_after: int = 1
    duplicate_rate: float = 0.0
    shuffle: bool = False
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _fail_next: deque[int] = field(default_factory=deque, repr=False)
    _duplicate_next: int = 0
    _hits: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next ``count`` API requests answer ``status`` (a 5xx, or 429 with
        ``Retry-After: retry_after``), exactly, before any state change."""
        self._fail_next.extend([status] * count)

    def duplicate_next(self, count: int = 1) -> None:
        """The next ``count`` successful webhook deliveries are sent a second time."""
        self._duplicate_next += count

    def reset(self) -> None:
        self.latency, self.rate_limit, self.error_rate, self.duplicate_rate = 0.0, None, 0.0, 0.0
        self.error_status, self.retry_after = 500, 1
        self.shuffle = False
        self._fail_next.clear()
        self._duplicate_next = 0
        self._hits.clear()

    # used by the emulator -----------------------------------------------------------
    def rate_limited(self) -> int | None:
        """Seconds to wait when over the limit, else None (and the request is counted)."""
        if self.rate_limit is None:
            return None
        with self._lock:
            now = time.monotonic()
            while self._hits and now - self._hits[0] >= 60:
                self._hits.popleft()
            if len(self._hits) >= self.rate_limit:
                return max(1, math.ceil(60 - (now - self._hits[0])))
            self._hits.append(now)
            return None

    def server_error(self) -> int | None:
        with self._lock:
            if self._fail_next:
                return self._fail_next.popleft()
        if self.error_rate and self.rng.random() < self.error_rate:
            return self.error_status
        return None

    def duplicate(self) -> bool:
        with self._lock:
            if self._duplicate_next:
                self._duplicate_next -= 1
                return True
        return bool(self.duplicate_rate) and self.rng.random() < self.duplicate_rate
