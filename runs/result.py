"""One backend's run, made into what every door shows, once: costs, records, captions and PNG params.

The page's columns, its export, the library, a grid's cells, the scoreboard and the allowance all read
a ``BackendResult``, so each image's seconds and cost are worked out in one place (issue 23).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from backends import Backend, BackendRun, GenerationRequest, ImageOutcome
from backends.cost import BILLED, Cost, run_cost
from backends.imaging import StoredImage
from runs.messages import redact
from runs.records import caption, cost_fields, image_params, outcome_message, per_image_outcomes, short_caption


def own_seconds(run: BackendRun) -> list[ImageOutcome]:
    """Each image's own seconds: a one-job batch's time shared out, and a made image the backend did not
    time given its run's wall time, so captions, records, the library and the scoreboard say one figure."""
    return [
        dataclasses.replace(o, latency_s=run.wall_s) if o.image is not None and o.latency_s is None else o
        for o in per_image_outcomes(run)
    ]


@dataclass
class BackendResult(BackendRun):
    """A ``BackendRun`` (it is one, so code that reads runs reads it) with what is made of it, made once.

    ``records``, ``params`` and ``captions`` have one entry per image asked for; they are empty for a
    result made from a bare run (``of_run``), which the scoreboard and the allowance need no more than.
    """

    steps: int | None = None  # the steps it was priced at
    own: list[ImageOutcome] = field(default_factory=list)  # see own_seconds
    each: Cost = field(default_factory=Cost)  # per generated image
    total: Cost = field(default_factory=Cost)  # the whole run
    records: list[dict] = field(default_factory=list)  # the JSON records (/generate, export, the library)
    params: list[dict] = field(default_factory=list)  # each image's PNG chunk fields
    captions: list[str | None] = field(default_factory=list)  # full captions of made images, else None
    short: list[str | None] = field(default_factory=list)  # the same without the backend, for its column

    @property
    def billed(self) -> int:
        """Images generated (ok or filtered): what a provider charges for."""
        return sum(o.status in BILLED for o in self.outcomes)

    @property
    def run(self) -> BackendRun:
        """The bare run, as the runner reported it."""
        return BackendRun(**{f.name: getattr(self, f.name) for f in dataclasses.fields(BackendRun)})

    @classmethod
    def of_run(cls, run: BackendRun, steps: int | None = None) -> BackendResult:
        """Costs and own seconds only (``steps`` None: what the backend received)."""
        if isinstance(run, BackendResult):
            return run
        steps = run.received.get("num_inference_steps", steps) if steps is None else steps
        each, total = run_cost(run, steps)
        base = {f.name: getattr(run, f.name) for f in dataclasses.fields(BackendRun)}
        return cls(**base, steps=steps, own=own_seconds(run), each=each, total=total)

    @classmethod
    def of(
        cls, backend: Backend, request: GenerationRequest, run: BackendRun, secrets: Iterable[str | None]
    ) -> BackendResult:
        """Everything the doors show of ``run`` (made for ``request`` by ``backend``)."""
        result = cls.of_run(run.run if isinstance(run, BackendResult) else run, request.num_inference_steps)
        steps = request.num_inference_steps
        secrets = list(secrets)
        notes = [redact(n, secrets) for n in run.notes]
        for o in result.own:
            made = o.image is not None
            result.records.append(_record(backend, request, result, o, notes, secrets))
            result.params.append(image_params(backend, request, o))
            result.captions.append(caption(run.label, o, steps, cost=result.each.text()) if made else None)
            result.short.append(short_caption(o, steps) if made else None)
        return result

    def stored(self, files: dict[int, StoredImage]) -> BackendResult:
        """The same result with image i now the file ``files[i]`` (no bytes held, in ``own`` either)."""

        def swap(outcomes: list[ImageOutcome]) -> list[ImageOutcome]:
            return [dataclasses.replace(o, image=files[o.index]) if o.index in files else o for o in outcomes]

        return dataclasses.replace(self, outcomes=swap(self.outcomes), own=swap(self.own))

    def export_part(self) -> dict:
        """A backend's part of the exported comparison record."""
        return {
            "backend": self.backend,
            "wall_s": round(self.wall_s, 3),
            "server_latency_s": self.server_s,
            "received": self.received,
            "notes": self.notes,
            "cost_per_image": self.each.as_record(),
            "cost_total": self.total.as_record(),
        }

    def library_part(self) -> dict:
        """What the library's Open run needs to draw the backend's column again."""
        return {
            "label": self.label,
            "wall_s": round(self.wall_s, 3),
            "server_s": self.server_s,
            "received": self.received,
            "notes": self.notes,
            "cost_each": self.each.text(),
            "cost_total": self.total.text(),
        }


def _record(
    backend: Backend,
    request: GenerationRequest,
    result: BackendResult,
    o: ImageOutcome,
    notes: list[str],
    secrets: list[str | None],
) -> dict:
    """One image's JSON record."""
    w, h = (o.image.width, o.image.height) if o.image else (request.width, request.height)
    return {
        "backend": backend.id,
        "seed": o.seed,
        "width": w,
        "height": h,
        "num_inference_steps": request.num_inference_steps,
        "guidance_scale": request.guidance_scale,
        "latency_s": round(o.latency_s, 3) if o.latency_s is not None else None,
        "status": o.status,
        "error": outcome_message(backend, o, secrets),
        "wall_s": round(result.wall_s, 3),
        "server_latency_s": result.server_s,
        "received": result.received,
        "notes": notes,
        **cost_fields(result.each if o.status in BILLED else None),
    }
