"""The one scoreboard rule, for the session's scoreboard and the library's: how an image counts and
what its seconds add up to. Pure: both read their images (status, seconds) and summarise them here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

#: How each image asked for counts. A cancelled one was stopped by the person (no backend's failure);
#: a filtered one was made and refused by the provider's filter; every other non-ok status failed.
KINDS = ("ok", "failed", "filtered", "cancelled")


def kind(status: str) -> str:
    """Which of KINDS an image's status counts as."""
    return status if status in ("ok", "filtered", "cancelled") else "failed"


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100): an observed value, which is what p95 means for a handful
    of images (p95 of 20 is the 19th, not the slowest); None for none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def median(values: Iterable[float]) -> float | None:
    """The median (of an even count, the mean of the middle two); None for none."""
    values = list(values)
    return statistics.median(values) if values else None


@dataclass
class Tally:
    """One backend's images by KINDS, and the seconds of the ones made (``ok``, with a time)."""

    ok: int = 0
    failed: int = 0
    filtered: int = 0
    cancelled: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, status: str, seconds: float | None) -> None:
        which = kind(status)
        setattr(self, which, getattr(self, which) + 1)
        if which == "ok" and seconds is not None:
            self.seconds.append(seconds)

    @property
    def p50(self) -> float | None:
        return median(self.seconds)

    @property
    def p95(self) -> float | None:
        return percentile(self.seconds, 95)
