"""Comparing saved images, and a saved run as it was: the tables and texts (no Gradio here, so the
figures can be tested without a page)."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence

from library import ImageRow

MIN_COMPARE, MAX_COMPARE = 2, 4


def _label(backend: str, labels: dict[str, str]) -> str:
    return labels.get(backend, backend)


def _cell(value: object) -> str:
    """A Markdown table cell: no pipes or newlines to break the table."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")[:160]


def _fields(labels: dict[str, str], no_guidance: set[str]) -> list[tuple[str, Callable[[ImageRow], str]]]:
    def guidance(r: ImageRow) -> str:
        return "none taken" if r.backend in no_guidance else f"{r.guidance_scale:g}"

    return [
        ("backend", lambda r: _label(r.backend, labels)),
        ("seed", lambda r: str(r.seed)),
        ("steps", lambda r: str(r.num_inference_steps)),
        ("size", lambda r: f"{r.width}×{r.height}"),
        ("guidance", guidance),
        ("prompt", lambda r: r.prompt),
        ("latency", lambda r: f"{r.latency_s:.2f} s" if r.latency_s is not None else "–"),
        ("cost", lambda r: r.cost_text or "–"),
        ("status", lambda r: r.status),
        ("run", lambda r: str(r.run_id or "–")),
        ("made", lambda r: time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))),
    ]


def compare_table(rows: Sequence[ImageRow], labels: dict[str, str], no_guidance: set[str] = frozenset()) -> str:
    """What differed between ``rows`` (2 to 4 images) as a Markdown table, the settings first, then what
    each backend actually received (key by key); what all share is folded into one "Same in all" line."""
    table: list[tuple[str, list[str]]] = [(name, [get(r) for r in rows]) for name, get in _fields(labels, no_guidance)]
    keys = sorted({k for r in rows for k in (r.received or {})})
    table += [(f"received: {k}", [_cell(r.received.get(k, "–")) for r in rows]) for k in keys]
    differ = [(name, values) for name, values in table if len(set(values)) > 1]
    same = [(name, values[0]) for name, values in table if len(set(values)) == 1]
    head = "| | " + " | ".join(f"{chr(65 + i)} (#{r.id})" for i, r in enumerate(rows)) + " |"
    # "≠" marks a row that differs (short: a phone's table has ~90 px a column).
    lines = [head, "|---" * (len(rows) + 1) + "|"]
    lines += [f"| **{name}** ≠ | " + " | ".join(_cell(v) for v in values) + " |" for name, values in differ]
    out = "\n".join(lines) if differ else "**Nothing differed**: the same settings, backend and outcome."
    if same:
        out += "\n\nSame in all: " + " · ".join(f"{name} {_cell(v)}" for name, v in same)
    return out


def grid_order(rows: list[ImageRow]) -> list[ImageRow]:
    """A grid's images row by row, column by column (as the sheet), not in the order they finished."""
    return sorted(rows, key=lambda r: ((r.cell or {}).get("y") or 0, (r.cell or {}).get("x") or 0, r.id or 0))


def total_cost(rows: Sequence[ImageRow]) -> str:
    """What ``rows`` cost together, summed from each image's own cost (a grid's cells are separate runs)."""
    usd = [r.cost for r in rows if r.cost is not None and r.cost_unit == "usd"]
    gpu = [r.cost for r in rows if r.cost is not None and r.cost_unit == "gpu_s"]
    parts = ([f"${sum(usd):.4f}"] if usd else []) + ([f"{sum(gpu):.2f} GPU-s"] if gpu else [])
    return " · ".join(parts) or ("price not set" if any(r.status == "ok" for r in rows) else "–")


def seeds_text(rows: Sequence[ImageRow]) -> str:
    """The seeds the images were made with ("seed 42", "seeds 5, 6, 7"), not the form's."""
    seeds = list(dict.fromkeys(r.seed for r in rows))
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    shown = ", ".join(str(s) for s in seeds[:8])
    return f"seeds {shown}{', …' if len(seeds) > 8 else ''}"


def backend_line(part: dict, backend: str, made: list[ImageRow], grid: bool) -> str:
    """One backend's figures in a run: its images, each image's own seconds (a Local batch's GPU time
    shared out, never the whole job's), its cost per image and in all; a plain run's wall time too."""
    ok = [r for r in made if r.status == "ok"]
    own = [r.latency_s for r in ok if r.latency_s is not None]
    seconds = f"{statistics.median(own):.2f} s/image" if own else "– s/image"
    each = next((r.cost_text for r in ok if r.cost_text), part.get("cost_each") or "–")
    line = f"**{part.get('label', backend)}**: {len(ok)}/{len(made)} image(s) · {seconds} · est. cost {each}/image"
    line += f" · {total_cost(made)} in all"
    if not grid and part.get("wall_s") is not None:
        line += f" · the whole run took {part['wall_s']:.2f} s"
    return line
