"""Per-client rate limit on images that spend the server's API keys: a sliding one-minute window."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """At most ``per_minute`` images per client in any 60 s; ``per_minute`` 0 means no limit.

    ``clock`` is injectable so tests need no sleeps.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError(f"RATE_LIMIT_PER_MIN must be 0 (off) or more, got {per_minute}")
        self.per_minute = per_minute
        self.clock = clock
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def _used(self, client: str, now: float) -> tuple[deque[tuple[float, int]], int]:
        spent = self._spent.setdefault(client, deque())
        while spent and spent[0][0] <= now - WINDOW_S:
            spent.popleft()
        return spent, sum(n for _, n in spent)

    def take(self, client: str, images: int) -> float:
        """Spend ``images`` for ``client`` and return 0, or spend nothing and return the seconds to wait."""
        if not self.enabled or images <= 0:
            return 0.0
        if images > self.per_minute:
            return float("inf")  # never fits: the caller says so instead of a wait
        with self._lock:
            now = self.clock()
            if len(self._spent) > 4096:  # forget clients whose minute is over, so memory stays bounded
                self._spent = {c: d for c, d in self._spent.items() if d and d[-1][0] > now - WINDOW_S}
            spent, used = self._used(client, now)
            if used + images <= self.per_minute:
                spent.append((now, images))
                return 0.0
            # Wait until enough of the oldest spends leave the window.
            free = self.per_minute - used
            for at, n in spent:
                free += n
                if free >= images:
                    return max(0.0, at + WINDOW_S - now)
            return WINDOW_S  # unreachable: images <= per_minute

    def give_back(self, client: str, images: int) -> None:
        """Undo the latest ``take`` of ``images`` for ``client`` (a later check refused the run)."""
        with self._lock:
            spent = self._spent.get(client)
            if spent and spent[-1][1] == images:
                spent.pop()
