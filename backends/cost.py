"""Estimated cost of images: USD on the hosted APIs, GPU-seconds on the local GPU.

Prices are settings, not facts we can check from here: Fireworks' default is its published
serverless price for FLUX.1 [schnell] FP8 as reported by third parties (0.00035 USD per step,
so 0.0014 USD for a 4-step image); the AI/ML API's price is unknown until an operator sets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from backends.types import BackendRun

FIREWORKS_PRICE_PER_STEP = 0.00035  # USD; third-party-reported, see the module docstring
BILLED = ("ok", "filtered")  # a filtered image was still generated, so it is assumed billed


@dataclass(frozen=True)
class Pricing:
    """What an image costs where a price is known; None means "price not set"."""

    fireworks_per_step: float | None = FIREWORKS_PRICE_PER_STEP
    aiml_per_image: float | None = None
    per_image: Mapping[str, float] = field(default_factory=dict)  # by backend id: OPENAI_IMAGE_BACKENDS prices


# The app's prices (config.load) are set once at start-up by configure(); tests pass their own.
_pricing = Pricing()


def configure(pricing: Pricing) -> None:
    global _pricing
    _pricing = pricing


def current() -> Pricing:
    return _pricing


@dataclass(frozen=True)
class Cost:
    """One image's or one run's estimate: ``usd`` for hosted backends, ``gpu_s`` for the local one."""

    usd: float | None = None
    gpu_s: float | None = None
    priced: bool = True  # False: a hosted backend whose price is not set

    def text(self) -> str:
        if self.gpu_s is not None:
            return f"{self.gpu_s:.2f} GPU-s"
        if not self.priced:
            return "price not set"
        return f"${self.usd:.4f}" if self.usd is not None else "–"

    def as_record(self) -> dict:
        """The figures for JSON records and exports."""
        return {"cost_usd": None if self.usd is None else round(self.usd, 6), "gpu_s": self.gpu_s}


def image_cost(
    backend_id: str, steps: int | None, latency_s: float | None = None, pricing: Pricing | None = None
) -> Cost:
    """The estimated cost of one generated image (``latency_s``: the local GPU time for it)."""
    p = pricing or _pricing
    if backend_id == "fireworks":
        if p.fireworks_per_step is None:
            return Cost(priced=False)
        return Cost(usd=None if steps is None else p.fireworks_per_step * steps)
    if backend_id == "aiml":
        return Cost(priced=False) if p.aiml_per_image is None else Cost(usd=p.aiml_per_image)
    if backend_id == "local":
        return Cost(gpu_s=None if latency_s is None else round(latency_s, 3))
    if backend_id in p.per_image:
        return Cost(usd=p.per_image[backend_id])
    return Cost(priced=False)


def run_cost(run: BackendRun, steps: int | None, pricing: Pricing | None = None) -> tuple[Cost, Cost]:
    """(per image, whole run) for a backend's run; only generated images count (``steps`` None: unknown)."""
    billed = [o for o in run.outcomes if o.status in BILLED]
    if run.backend == "local":
        # One GPU job makes every image of a local run, and each outcome carries that job's time.
        gpu = max((o.latency_s for o in billed if o.latency_s is not None), default=None)
        if gpu is None:
            return Cost(gpu_s=0.0), Cost(gpu_s=0.0)
        return Cost(gpu_s=round(gpu / len(billed), 3)), Cost(gpu_s=round(gpu, 3))
    one = image_cost(run.backend, steps, pricing=pricing)
    if one.usd is None:
        return one, one
    return one, Cost(usd=one.usd * len(billed))


@dataclass
class CostTally:
    """A backend's estimated spend over several runs, for the scoreboard."""

    billed: int = 0  # images generated (ok or filtered), which is what a provider charges for
    usd: float | None = 0.0  # None once a run's price is unknown
    gpu_s: float = 0.0
    priced: bool = True
    local: bool = False

    def add(self, billed: int, total: Cost) -> None:
        """Count a run that generated ``billed`` images and cost ``total`` (runs.result works both out once)."""
        self.billed += billed
        self.local = self.local or total.gpu_s is not None
        self.gpu_s += total.gpu_s or 0.0
        self.priced = self.priced and total.priced
        self.usd = (
            None if self.usd is None or (total.usd is None and total.gpu_s is None) else self.usd + (total.usd or 0)
        )

    def total(self) -> Cost:
        if self.local:
            return Cost(gpu_s=round(self.gpu_s, 3))
        return Cost(usd=self.usd, priced=self.priced)

    def cells(self) -> list[str]:
        """[per image, total] as text: "$0.0014", "0.52 GPU-s", "price not set", or "–" before any image."""
        if not self.billed:
            return ["–", "–"]
        total = self.total()
        if total.gpu_s is not None:
            each = Cost(gpu_s=round(total.gpu_s / self.billed, 3))
        else:
            each = Cost(usd=None if total.usd is None else total.usd / self.billed, priced=total.priced)
        return [each.text(), total.text()]
