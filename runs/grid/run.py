"""Carry out an X/Y grid for the page or the API: run the cells, keep the images, draw the sheet."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backends import Backend, BackendRun, GenerationRequest, RunContext
from backends.cost import BILLED, run_cost
from images.grid_sheet import GridCell, grid_sheet, save_grid
from runs.grid.plan import Axis, Cell, parse_axis, plan_cells, run_cells
from runs.history import History
from runs.keeper import Keeper
from runs.records import caption, image_params, outcome_message, records


@dataclass
class GridPlan:
    """A validated grid, ready to run: its axes and cells (seeds fixed)."""

    request: GenerationRequest
    x: Axis
    y: Axis | None
    cells: list[Cell]


@dataclass
class GridResult:
    plan: GridPlan
    sheet: Path
    records: list[dict]  # one per cell, row by row
    runs: list[BackendRun] = field(default_factory=list)


def plan_grid(
    request: GenerationRequest,
    chosen: Sequence[str],
    backends: Mapping[str, Backend],
    x_axis: str,
    x_values: str,
    y_axis: str = "",
    y_values: str = "",
    max_cells: int = 16,
) -> GridPlan:
    """Parse both axes and plan the cells (raises InvalidRequest/GridError with a message for people)."""
    labels = {b.id: b.label for b in backends.values()}
    kw = {"prompt": request.prompt, "backends": labels, "max_cells": max_cells}
    x = parse_axis(x_axis, x_values, **kw)
    y = parse_axis(y_axis, y_values, **kw) if (y_axis or "").strip() else None
    request = request.with_seed()
    return GridPlan(request, x, y, plan_cells(request, list(chosen), x, y, max_cells))


def seed_axis(plan: GridPlan) -> Axis | None:
    """The axis that sets each cell's seed, if one does (the form's seed then plays no part)."""
    return next((a for a in (plan.x, plan.y) if a is not None and a.name == "seed"), None)


def seed_words(plan: GridPlan) -> str:
    """`seed **42**`, or the axis's seeds when the seed is an axis (not the form's unused random seed)."""
    axis = seed_axis(plan)
    if axis is None:
        return f"seed **{plan.request.seed}**"
    return f"seeds **{', '.join(axis.labels)}**"


def grid_file_name(plan: GridPlan) -> str:
    """`grid-seed42.png`; with a seed axis, `grid-seeds1-4.png` (its first and last), never the form's seed."""
    axis = seed_axis(plan)
    if axis is None:
        return f"grid-seed{plan.request.seed}.png"
    first, last = axis.labels[0], axis.labels[-1]
    return f"grid-seeds{first}.png" if first == last else f"grid-seeds{first}-{last}.png"


def cell_detail(cell: Cell, run: BackendRun) -> str:
    outcome = run.outcomes[0]
    latency = f"{outcome.latency_s:.2f} s" if outcome.latency_s is not None else f"{run.wall_s:.2f} s"
    per_image, _ = run_cost(run, cell.request.num_inference_steps)
    steps = cell.request.num_inference_steps
    cost = per_image.text() if outcome.status in BILLED else "not billed"
    return f"{steps} step{'s' if steps > 1 else ''} · {latency} · {cost}"


async def make_grid(
    plan: GridPlan,
    backends: Mapping[str, Backend],
    out_dir: Path,
    secrets: Sequence[str | None],
    keys: Mapping[str, str] | None = None,
    history: History | None = None,
    cancel: threading.Event | None = None,
    keeper: Keeper | None = None,
) -> GridResult:
    """Run every cell (concurrently, within the runner's limits); each image goes to ``history``.

    With a ``keeper``, every cell (failed ones too) is kept in the library as one grid run.
    Returns the labelled sheet, saved in ``out_dir`` with the grid's parameters in a text chunk,
    and one record per cell as /generate gives them, plus the cell's column and row.
    """
    contexts = {b: RunContext(api_key=(keys or {}).get(b) or None) for b in backends}
    done: dict[tuple[int, int], tuple[Cell, BackendRun]] = {}
    run_id = await keeper.start("grid", plan.request) if keeper else None
    async for cell, run in run_cells(plan.cells, backends, contexts, cancel=cancel):
        done[cell.row, cell.column] = (cell, run)
        outcome = run.outcomes[0]
        if keeper is not None:
            where = {"column": f"{plan.x.name}={plan.x.labels[cell.column]}", "x": cell.column, "y": cell.row}
            where["row"] = f"{plan.y.name}={plan.y.labels[cell.row]}" if plan.y else None
            await keeper.save(run_id, backends[cell.backend], cell.request, run, secrets, cell=where)
        if history is not None and outcome.image is not None:
            backend = backends[cell.backend]
            each, _ = run_cost(run, cell.request.num_inference_steps)
            text = caption(run.label, outcome, cell.request.num_inference_steps, cost=each.text())
            params = image_params(backend, cell.request, outcome)
            await asyncio.to_thread(history.add, outcome.image, text, params)
    x, y = plan.x, plan.y
    tiles, out = [], []
    for key in sorted(done):
        cell, run = done[key]
        backend = backends[cell.backend]
        outcome = run.outcomes[0]
        record = records(backend, cell.request, run, secrets)[0]
        record = {
            "column": f"{x.name}={x.labels[cell.column]}",
            "row": f"{y.name}={y.labels[cell.row]}" if y else None,
            "prompt": cell.request.prompt,
            **record,
        }
        out.append(record)
        tiles.append(
            GridCell(
                cell.column,
                cell.row,
                f"{run.label} · seed {outcome.seed}",
                cell_detail(cell, run),
                outcome.image,
                outcome_message(backend, outcome, secrets),
            )
        )
    # Drawing decodes every cell's pixels (the first place they are needed): in a worker thread.
    sheet = await asyncio.to_thread(
        grid_sheet,
        plan.request.prompt,
        x.title,
        list(x.labels),
        y.title if y else None,
        list(y.labels) if y else [],
        tiles,
    )
    params = {
        "prompt": plan.request.prompt,
        "x_axis": x.name,
        "x_values": list(x.labels),
        "y_axis": y.name if y else None,
        "y_values": list(y.labels) if y else [],
        # The form's seed is no setting of a grid whose seed is an axis.
        "settings": {k: v for k, v in plan.request.as_dict().items() if k != "seed" or seed_axis(plan) is None},
        "cells": [{k: r[k] for k in ("column", "row", "backend", "seed", "status", "latency_s")} for r in out],
    }
    if keeper is not None:
        keeper.finish()
        await keeper.note(run_id, {"grid": {k: params[k] for k in ("x_axis", "x_values", "y_axis", "y_values")}})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = await asyncio.to_thread(save_grid, sheet, out_dir / grid_file_name(plan), params)
    return GridResult(plan, path, out, [run for _, run in (done[k] for k in sorted(done))])
