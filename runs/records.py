"""Words for runs: captions, column headers, cost lines and messages (the records are made in runs.result)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from backends import Backend, BackendRun, GenerationRequest, ImageOutcome
from backends.cost import BILLED, Cost
from runs.messages import code_names, error_message, redact


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


# Backends that make every image of a run in one job and tag each image with that job's time.
ONE_JOB_PER_RUN = frozenset({"local"})


def per_image_outcomes(run: BackendRun) -> list[ImageOutcome]:
    """The run's outcomes with each image's own seconds: a one-job batch's time shared out.

    Local makes a batch in one GPU job and tags each image with the whole job's time, while its
    cost is the job split per image (backends.cost.run_cost). Captions, the scoreboard and records
    read these, so all of them say the same per-image figure (issue 18, item 7).
    """
    if run.backend not in ONE_JOB_PER_RUN:
        return list(run.outcomes)
    billed = sum(o.status in BILLED for o in run.outcomes)
    if billed <= 1:
        return list(run.outcomes)
    return [
        dataclasses.replace(o, latency_s=o.latency_s / billed) if o.latency_s is not None and o.status in BILLED else o
        for o in run.outcomes
    ]


def outcome_message(backend: Backend, outcome: ImageOutcome, secrets: Iterable[str | None]) -> str | None:
    if outcome.error is None:
        return None
    return redact(error_message(backend.label, backend.key_env, outcome.error), secrets)


PRICE_SETTING = {"fireworks": "FIREWORKS_PRICE_PER_STEP", "aiml": "AIML_PRICE_PER_IMAGE"}


def cost_words(backend_id: str, each: Cost, total: Cost) -> str:
    """A column's cost line: `est. cost: **$0.0014**/image · $0.0028 this run`, or why there is none."""
    if not each.priced:
        setting = PRICE_SETTING.get(backend_id)
        return "est. cost: unknown (no price set" + (f"; set `{setting}`)" if setting else ")")
    return f"est. cost: **{each.text()}**/image · {total.text()} this run"


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
    elif run.outcomes and all(o.status == "cancelled" for o in run.outcomes):
        lines.append(f"**cancelled** · {run.wall_s:.2f} s")
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
    # A cancelled image is no problem to fix; the first line already says it was cancelled.
    problems = [o for o in run.outcomes if o.status != "cancelled"]
    errors = sorted({m for o in problems if (m := outcome_message(backend, o, secrets))})
    lines += [f"**Problem:** {code_names(m)}" for m in errors]
    return "\n\n".join(lines)


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
