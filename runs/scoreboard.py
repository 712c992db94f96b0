"""Per-session, per-backend counts and latency statistics (the library's scoreboard counts by the same rule)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from backends import BackendRun
from backends.cost import CostTally
from library.scoring import Tally
from runs.result import BackendResult

COLUMNS = ["Backend", "Runs", "OK", "Failed", "Filtered", "Cancelled", "Median s", "p95 s", "Cost/image", "Cost total"]
PLOT_COLUMNS = ["backend", "median_s"]
LEGEND = (
    "Runs counts runs; OK, Failed, Filtered and Cancelled count images; "
    "Median and p95 are seconds per image; costs are estimates (USD on hosted APIs, GPU-seconds locally)."
)


@dataclass
class BackendStats:
    label: str
    runs: int = 0
    images: Tally = field(default_factory=Tally)  # by library.scoring's rule, as the library counts
    cost: CostTally = field(default_factory=CostTally)  # estimated: USD hosted, GPU-seconds local


class Scoreboard:
    def __init__(self) -> None:
        self.stats: dict[str, BackendStats] = defaultdict(lambda: BackendStats(""))

    def record(self, run: BackendRun) -> None:
        """Count ``run`` (a BackendResult, or a bare run whose costs are worked out here)."""
        result = BackendResult.of_run(run)
        s = self.stats[run.label]  # by label: fp8 and bf16 local runs are different contestants
        s.label = run.label
        s.runs += 1
        # Each image's own seconds as its record gives them (a Local batch's time shared out), so the
        # library, fed the same records, says the same figures.
        for outcome in result.own:
            s.images.add(outcome.status, round(outcome.latency_s, 3) if outcome.latency_s is not None else None)
        s.cost.add(result.billed, result.total)

    def rows(self) -> list[list]:
        rows = []
        for s in self.stats.values():
            t = s.images
            median, p95 = (round(v, 2) if v is not None else None for v in (t.p50, t.p95))
            rows.append([s.label, s.runs, t.ok, t.failed, t.filtered, t.cancelled, median, p95, *s.cost.cells()])
        return rows

    def plot_rows(self) -> list[dict]:
        """Median seconds per image per backend, for the bar plot (p95 is in the table)."""
        return [{"backend": s.label, "median_s": s.images.p50} for s in self.stats.values() if s.images.seconds]

    def plot_frame(self) -> pd.DataFrame:
        """The bar plot's whole value: every backend with an image so far.

        The page sends only this, never new axis limits: a chart whose limits and data change in
        one update is rebuilt from the data it had before, so the newest backend's bar went
        missing (issue 18, item 1). The plot's y axis is fixed at [0, auto] when it is built.
        """
        return pd.DataFrame(self.plot_rows(), columns=PLOT_COLUMNS)
