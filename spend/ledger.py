"""What the server's keys spent today, on disk: the daily budget and each visitor's daily images.

A small SQLite file (stdlib ``sqlite3``, WAL), so a restart does not reset the day. A run reserves
its estimate before anything is sent and settles afterwards: every image whose request reached the
upstream is kept (cancelled or timed out too), only what was provably never sent is refunded.
Visitors are stored as a hash, never as an address or an account name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

EPSILON_USD = 1e-9  # float sums: 3 × 0.0014 must fit a 0.0042 budget


class OverBudget(Exception):
    """Today's DAILY_BUDGET_USD on the server's keys would be passed."""

    def __init__(self, budget_usd: float, left_usd: float) -> None:
        super().__init__(f"daily budget {budget_usd:g} USD, {left_usd:.4f} USD left")
        self.budget_usd = budget_usd
        self.left_usd = left_usd


class OverDailyImages(Exception):
    """This visitor's VISITOR_DAILY_IMAGES would be passed."""

    def __init__(self, limit: int, used: int) -> None:
        super().__init__(f"{used} of {limit} images used today")
        self.limit = limit
        self.used = used


@dataclass(frozen=True)
class Reservation:
    """What ``reserve`` took: settle it once the run is over."""

    day: str
    visitor: str
    images: int
    usd: float


def utc_today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


class Ledger:
    """Today's spend over all visitors and per visitor; ``budget_usd`` None and ``visitor_daily`` 0 mean no cap."""

    def __init__(
        self,
        path: str | Path,
        budget_usd: float | None = None,
        visitor_daily: int = 0,
        today: Callable[[], str] = utc_today,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.budget_usd = budget_usd
        self.visitor_daily = visitor_daily
        self.today = today
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spend (day TEXT, visitor TEXT, images INTEGER, usd REAL,"
            " PRIMARY KEY (day, visitor))"
        )
        self._db.execute("DELETE FROM spend WHERE day < ?", (self.today(),))  # earlier days are never read

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @staticmethod
    def _who(visitor: str) -> str:
        return hashlib.sha256(visitor.encode("utf-8", "replace")).hexdigest()[:32]

    def spent_usd(self, day: str | None = None) -> float:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(SUM(usd), 0) FROM spend WHERE day = ?", (day or self.today(),))
            return float(row.fetchone()[0])

    def images_of(self, visitor: str, day: str | None = None) -> int:
        """The images ``visitor`` (as visitor_of names them) has spent today."""
        with self._lock:
            row = self._db.execute(
                "SELECT images FROM spend WHERE day = ? AND visitor = ?", (day or self.today(), self._who(visitor))
            ).fetchone()
            return int(row[0]) if row else 0

    def left_usd(self) -> float | None:
        """What is left of today's budget, or None when there is no budget."""
        if self.budget_usd is None:
            return None
        return max(0.0, self.budget_usd - self.spent_usd())

    def reserve(self, visitor: str, images: int, usd: float) -> Reservation:
        """Take ``images`` costing ``usd`` for ``visitor``, or raise OverBudget / OverDailyImages and take nothing."""
        day, who = self.today(), self._who(visitor)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes too
            try:
                total = self._db.execute("SELECT COALESCE(SUM(usd), 0) FROM spend WHERE day = ?", (day,)).fetchone()[0]
                row = self._db.execute("SELECT images FROM spend WHERE day = ? AND visitor = ?", (day, who)).fetchone()
                used = row[0] if row else 0
                if self.visitor_daily and used + images > self.visitor_daily:
                    raise OverDailyImages(self.visitor_daily, used)
                if self.budget_usd is not None and usd > 0 and total + usd > self.budget_usd + EPSILON_USD:
                    raise OverBudget(self.budget_usd, max(0.0, self.budget_usd - total))
                self._db.execute(
                    "INSERT INTO spend VALUES (?, ?, ?, ?) ON CONFLICT (day, visitor) DO UPDATE SET"
                    " images = images + excluded.images, usd = usd + excluded.usd",
                    (day, who, images, usd),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return Reservation(day, who, images, usd)

    def charge(self, reservation: Reservation, images: int, usd: float) -> None:
        """Add spend that already happened after ``reservation`` was settled (caps notwithstanding: it was sent)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO spend VALUES (?, ?, ?, ?) ON CONFLICT (day, visitor) DO UPDATE SET"
                " images = images + excluded.images, usd = usd + excluded.usd",
                (reservation.day, reservation.visitor, images, usd),
            )

    def settle(self, reservation: Reservation, images: int, usd: float) -> None:
        """Replace what ``reservation`` took by what was spent (never more than it took)."""
        back_images = max(0, reservation.images - images)
        back_usd = max(0.0, reservation.usd - usd)
        if not back_images and not back_usd:
            return
        with self._lock:
            self._db.execute(
                "UPDATE spend SET images = MAX(0, images - ?), usd = MAX(0, usd - ?) WHERE day = ? AND visitor = ?",
                (back_images, back_usd, reservation.day, reservation.visitor),
            )
