"""Per-session, per-backend counts and latency statistics."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from backends import BackendRun
from backends.cost import CostTally
from runs.records import per_image_outcomes

COLUMNS = ["Backend", "Runs", "OK", "Failed", "Filtered", "Median s", "p95 s", "Cost/image", "Cost total"]
PLOT_COLUMNS = ["backend", "median_s"]
LEGEND = (
    "Runs counts runs; OK, Failed and Filtered count images (a cancelled one is none of them); "
    "Median and p95 are seconds per image; costs are estimates (USD on hosted APIs, GPU-seconds locally)."
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: an observed value, which is what p95 means for a handful of runs."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class BackendStats:
    label: str
    runs: int = 0
    ok: int = 0
    failed: int = 0
    filtered: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds per image, for images that arrived
    cost: CostTally = field(default_factory=CostTally)  # estimated: USD hosted, GPU-seconds local


class Scoreboard:
    def __init__(self) -> None:
        self.stats: dict[str, BackendStats] = defaultdict(lambda: BackendStats(""))

    def record(self, run: BackendRun) -> None:
        s = self.stats[run.label]  # by label: fp8 and bf16 local runs are different contestants
        s.label = run.label
        s.runs += 1
        for outcome in per_image_outcomes(run):  # a Local batch's time shared out per image
            if outcome.status == "ok":
                s.ok += 1
                # Each image's own call; a run of 4 images is not "4x slower" per image.
                s.latencies.append(outcome.latency_s if outcome.latency_s is not None else run.wall_s)
            elif outcome.status == "filtered":
                s.filtered += 1
            elif outcome.status == "cancelled":
                continue  # stopped by the person: not the backend's failure
            else:
                s.failed += 1
        s.cost.add(run)

    def rows(self) -> list[list]:
        rows = []
        for s in self.stats.values():
            median = round(statistics.median(s.latencies), 2) if s.latencies else None
            p95 = round(percentile(s.latencies, 95), 2) if s.latencies else None
            rows.append([s.label, s.runs, s.ok, s.failed, s.filtered, median, p95, *s.cost.cells()])
        return rows

    def plot_rows(self) -> list[dict]:
        """Median seconds per image per backend, for the bar plot (p95 is in the table)."""
        return [
            {"backend": s.label, "median_s": statistics.median(s.latencies)} for s in self.stats.values() if s.latencies
        ]

    def plot_frame(self) -> pd.DataFrame:
        """The bar plot's whole value: every backend with an image so far.

        The page sends only this, never new axis limits: a chart whose limits and data change in
        one update is rebuilt from the data it had before, so the newest backend's bar went
        missing (issue 18, item 1). The plot's y axis is fixed at [0, auto] when it is built.
        """
        return pd.DataFrame(self.plot_rows(), columns=PLOT_COLUMNS)
