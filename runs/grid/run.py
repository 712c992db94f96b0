"""Carry out an X/Y grid for the page or the API: run the cells, keep the images, draw the sheet."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from backends import Backend, GenerationRequest, RunContext
from backends.cost import BILLED
from images.grid_sheet import GridCell, grid_sheet, save_grid
from runs.grid.plan import Axis, Cell, parse_axis, plan_cells, run_cells
from runs.history import History
from runs.keeper import Keeper
from runs.records import outcome_message
from runs.result import BackendResult
from runs.session import Sent, run_context


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
    runs: list[BackendResult] = field(default_factory=list)  # row by row, each made once (runs.result)


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


def cell_detail(cell: Cell, result: BackendResult) -> str:
    outcome = result.own[0]
    latency = f"{outcome.latency_s:.2f} s" if outcome.latency_s is not None else f"{result.wall_s:.2f} s"
    steps = cell.request.num_inference_steps
    cost = result.each.text() if outcome.status in BILLED else "not billed"
    return f"{steps} step{'s' if steps > 1 else ''} · {latency} · {cost}"


def cell_place(plan: GridPlan, cell: Cell) -> dict:
    """Where a cell is: its column's and row's words and indices (the library's ``cell``)."""
    x, y = plan.x, plan.y
    return {
        "column": f"{x.name}={x.labels[cell.column]}",
        "row": f"{y.name}={y.labels[cell.row]}" if y else None,
        "x": cell.column,
        "y": cell.row,
    }


async def make_grid(
    plan: GridPlan,
    backends: Mapping[str, Backend],
    out_dir: Path,
    secrets: Sequence[str | None],
    keys: Mapping[str, str] | None = None,
    history: History | None = None,
    cancel: threading.Event | None = None,
    keeper: Keeper | None = None,
    sent: Sent | None = None,
) -> GridResult:
    """Run every cell (concurrently, within the runner's limits); each image goes to ``history``.

    With a ``keeper``, every cell (failed ones too) is kept in the library as one grid run, and the
    history links to the library's file. Returns the labelled sheet, saved in ``out_dir`` with the grid's
    parameters in a text chunk, and one record per cell as /generate gives them, plus its column and row.
    ``sent`` hears of every cell whose request reached an upstream (see runs.session.Sent).
    """
    contexts = {b: run_context(b, keys or {}, sent) for b in backends}
    done: dict[tuple[int, int], tuple[Cell, BackendResult]] = {}
    run_id = await keeper.start("grid", plan.request) if keeper else None
    cancel = cancel or threading.Event()
    try:
        await collect_cells(plan, backends, contexts, cancel, done, secrets, history, keeper, run_id)
    except asyncio.CancelledError:
        # The caller went away (e.g. a /grid call cancelled): its cells stop too, Local's queued ones included.
        cancel.set()
        raise
    cells = [done[k] for k in sorted(done)]
    out = [cell_record(plan, c, r) for c, r in cells]
    # Drawing decodes every cell's pixels (the first place they are needed): in a worker thread.
    sheet = await asyncio.to_thread(draw_sheet, plan, [grid_cell(backends, c, r, secrets) for c, r in cells])
    params = sheet_params(plan, out)
    if keeper is not None:
        await keeper.note(run_id, {"grid": {k: params[k] for k in ("x_axis", "x_values", "y_axis", "y_values")}})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = await asyncio.to_thread(save_grid, sheet, out_dir / grid_file_name(plan), params)
    return GridResult(plan, path, out, [r for _, r in cells])


async def collect_cells(
    plan: GridPlan,
    backends: Mapping[str, Backend],
    contexts: Mapping[str, RunContext],
    cancel: threading.Event,
    done: dict[tuple[int, int], tuple[Cell, BackendResult]],
    secrets: Sequence[str | None],
    history: History | None,
    keeper: Keeper | None,
    run_id: object,
) -> None:
    """Run the cells into ``done`` as they finish; each is kept (with a keeper) and its image goes to ``history``."""
    async for cell, run in run_cells(plan.cells, backends, contexts, cancel=cancel):
        result = BackendResult.of(backends[cell.backend], cell.request, run, secrets)
        done[cell.row, cell.column] = (cell, result)
        files = await keeper.save(run_id, result, cell=cell_place(plan, cell)) if keeper is not None else []
        if history is not None and run.outcomes[0].image is not None:
            source = files[0] if files else None
            image, text, params = run.outcomes[0].image, result.captions[0], result.params[0]
            await asyncio.to_thread(history.add, image, text, params, source)


def cell_record(plan: GridPlan, cell: Cell, result: BackendResult) -> dict:
    """A cell's record: /generate's, after its column, row and prompt."""
    place = cell_place(plan, cell)
    return {"column": place["column"], "row": place["row"], "prompt": cell.request.prompt, **result.records[0]}


def grid_cell(
    backends: Mapping[str, Backend], cell: Cell, result: BackendResult, secrets: Sequence[str | None]
) -> GridCell:
    """A cell's tile on the sheet: its label, detail line, image or why there is none."""
    outcome = result.outcomes[0]
    return GridCell(
        cell.column,
        cell.row,
        f"{result.label} · seed {outcome.seed}",
        cell_detail(cell, result),
        outcome.image,
        outcome_message(backends[cell.backend], outcome, secrets),
    )


def draw_sheet(plan: GridPlan, tiles: list[GridCell]) -> Image.Image:
    """The labelled sheet of ``tiles`` (decodes their pixels: call it in a worker thread)."""
    x, y = plan.x, plan.y
    return grid_sheet(
        plan.request.prompt, x.title, list(x.labels), y.title if y else None, list(y.labels) if y else [], tiles
    )


def sheet_params(plan: GridPlan, out: list[dict]) -> dict:
    """The sheet's text chunk: the axes, the settings, and each cell's outcome."""
    x, y = plan.x, plan.y
    return {
        "prompt": plan.request.prompt,
        "x_axis": x.name,
        "x_values": list(x.labels),
        "y_axis": y.name if y else None,
        "y_values": list(y.labels) if y else [],
        # The form's seed is no setting of a grid whose seed is an axis.
        "settings": {k: v for k, v in plan.request.as_dict().items() if k != "seed" or seed_axis(plan) is None},
        "cells": [{k: r[k] for k in ("column", "row", "backend", "seed", "status", "latency_s")} for r in out],
    }
