"""Words and records for runs: captions, column headers and the JSON records."""

from __future__ import annotations

from collections.abc import Iterable

from backends import Backend, BackendRun, GenerationRequest, ImageOutcome
from backends.cost import BILLED, Cost, run_cost
from ui.messages import error_message, redact


def plural(n: int, word: str) -> str:
    """`1 step`, `4 steps`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def caption(label: str, outcome: ImageOutcome, steps: int, cost: str | None = None) -> str:
    """`<backend> · seed <n> · <W>×<H> · <steps> steps · <latency> s[ · <cost>]`, with the size actually returned."""
    return f"{label} · {short_caption(outcome, steps)}" + (f" · {cost}" if cost else "")


def short_caption(outcome: ImageOutcome, steps: int) -> str:
    """The caption without the backend, for a backend's own column: `seed <n> · <W>×<H> · ...`."""
    w, h = outcome.image.size if outcome.image else (0, 0)
    latency = f"{outcome.latency_s:.2f} s" if outcome.latency_s is not None else "–"
    return f"seed {outcome.seed} · {w}×{h} · {plural(steps, 'step')} · {latency}"


def outcome_message(backend: Backend, outcome: ImageOutcome, secrets: Iterable[str | None]) -> str | None:
    if outcome.error is None:
        return None
    return redact(error_message(backend.label, backend.key_env, outcome.error), secrets)


def returned_sizes(run: BackendRun) -> str:
    sizes = sorted({f"{o.image.width}×{o.image.height}" for o in run.outcomes if o.image})
    return ", ".join(sizes)


def column_markdown(
    backend: Backend, request: GenerationRequest, run: BackendRun, secrets: Iterable[str | None]
) -> str:
    """A comparison column's text (under its heading): outcome, times, seeds, what the backend received."""
    ok = [o for o in run.outcomes if o.image]
    lines = []
    if ok:
        lines.append(f"**{len(ok)}/{len(run.outcomes)} image(s)** · wall **{run.wall_s:.2f} s**")
    else:
        lines.append(f"**no image** · {run.wall_s:.2f} s")
    if run.server_s is not None:
        lines.append(f"server-reported inference: {run.server_s:.2f} s")
    seeds = ", ".join(str(o.seed) for o in run.outcomes)
    lines.append(f"seed{'s' if len(run.outcomes) > 1 else ''}: {seeds}")
    notes = [redact(n, secrets) for n in run.notes]  # a seed note quotes upstream text
    if notes and ok:
        notes[0] = f"{notes[0]} → {returned_sizes(run)} returned"
    lines.append("What it received:\n" + "\n".join(f"- {n}" for n in notes))
    errors = sorted({m for o in run.outcomes if (m := outcome_message(backend, o, secrets))})
    lines += [f"**Problem:** {m}" for m in errors]
    return "\n\n".join(lines)


def records(backend: Backend, request: GenerationRequest, run: BackendRun, secrets: Iterable[str | None]) -> list[dict]:
    """One JSON record per image asked for."""
    out = []
    per_image, _ = run_cost(run, request.num_inference_steps)
    for o in run.outcomes:
        w, h = (o.image.width, o.image.height) if o.image else (request.width, request.height)
        out.append(
            {
                "backend": backend.id,
                "seed": o.seed,
                "width": w,
                "height": h,
                "num_inference_steps": request.num_inference_steps,
                "guidance_scale": request.guidance_scale,
                "latency_s": round(o.latency_s, 3) if o.latency_s is not None else None,
                "status": o.status,
                "error": outcome_message(backend, o, secrets),
                "wall_s": round(run.wall_s, 3),
                "server_latency_s": run.server_s,
                "received": run.received,
                "notes": [redact(n, secrets) for n in run.notes],
                **cost_fields(per_image if o.status in BILLED else None),
            }
        )
    return out


def cost_fields(cost: Cost | None) -> dict:
    """A record's cost figures: USD (hosted) or GPU-seconds (local); None for an image not made."""
    if cost is None:
        return {"cost_usd": None, "gpu_s": None, "cost": "not billed"}
    return {**cost.as_record(), "cost": cost.text()}


def image_params(backend: Backend, request: GenerationRequest, outcome: ImageOutcome) -> dict:
    """The parameters stored with an image (and in its PNG chunk)."""
    return {
        "prompt": request.prompt,
        "backend": backend.id,
        "seed": outcome.seed,
        "width": outcome.image.width if outcome.image else request.width,
        "height": outcome.image.height if outcome.image else request.height,
        "aspect_ratio": request.aspect_ratio,
        "num_inference_steps": request.num_inference_steps,
        "guidance_scale": request.guidance_scale,
        "latency_s": round(outcome.latency_s, 3) if outcome.latency_s is not None else None,
    }
