"""X/Y grids: parse the axes people type, plan one request per cell, run the cells.

Pure except ``run_cells``, which goes through the ordinary runner, so a grid's cells keep the
usual limits: hosted backends answer in parallel and the local GPU takes one job at a time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from backends.errors import UpstreamError
from backends.runner import failed_run, run_backends
from backends.sizes import RATIO_SIZES
from backends.types import (
    MAX_PROMPT_CHARS,
    MAX_SEED,
    Backend,
    BackendRun,
    GenerationRequest,
    InvalidRequest,
    RunContext,
)

MAX_CELLS = 16  # default for GRID_MAX_CELLS
AXES: dict[str, str] = {
    "seed": "Seed",
    "steps": "Steps",
    "backend": "Backend",
    "guidance": "Guidance",
    "aspect_ratio": "Aspect ratio",
    "prompt": "Prompt S/R",
}
RANGE_AXES = ("seed", "steps")
# "10-40 (+10)" or "1-4": start, end and an optional step.
RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)(?:\s*\(\s*\+\s*(\d+)\s*\))?$")


class GridError(InvalidRequest):
    """A grid that must not be run; the message names the axis and the value."""


@dataclass(frozen=True)
class Axis:
    """One axis: its name, its values (as the request takes them) and their labels."""

    name: str
    values: tuple
    labels: tuple[str, ...]

    @property
    def title(self) -> str:
        return AXES[self.name]


def _split(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _integers(axis: str, text: str, max_values: int) -> list[int]:
    values: list[int] = []
    for part in _split(text):
        match = RANGE.match(part)
        if match:
            start, end, step = int(match[1]), int(match[2]), int(match[3] or 1)
            if end < start or step < 1:
                raise GridError(f"{axis}: the range {part[:40]!r} must go up, e.g. 1-4 or 10-40 (+10)")
            count = (end - start) // step + 1
            if len(values) + count > max_values:  # refuse before expanding 1-2000000000
                raise GridError(
                    f"{axis}: {part[:40]!r} alone makes {count} values; a grid has at most {max_values} cells"
                )
            values += range(start, end + 1, step)
            continue
        try:
            values.append(int(part))
        except ValueError:
            raise GridError(f"{axis}: {part[:40]!r} is not a whole number or a range like 1-4 or 10-40 (+10)") from None
    return values


def parse_axis(
    name: str, text: str, *, prompt: str = "", backends: Mapping[str, str] | None = None, max_cells: int = MAX_CELLS
) -> Axis:
    """The axis ``name`` with the comma-separated ``text``; ``backends`` maps ids to labels."""
    name = (name or "").strip().lower().replace(" ", "_")
    if name not in AXES:
        raise GridError(f"unknown axis {name[:40]!r}: use one of {', '.join(AXES)}")
    if len(text or "") > max_values_chars(max_cells):  # before any work on it
        raise GridError(f"{name}: the values are {len(text)} characters; at most {max_values_chars(max_cells)}")
    if name in RANGE_AXES:
        values: list = _integers(name, text, max_cells)
        if name == "seed":
            bad = [v for v in values if not 1 <= v <= MAX_SEED]
            if bad:
                raise GridError(f"seed: {bad[0]} is out of range; use 1 to {MAX_SEED}")
        labels = [str(v) for v in values]
    elif name == "guidance":
        values = []
        for part in _split(text):
            try:
                values.append(float(part))
            except ValueError:
                raise GridError(f"guidance: {part[:40]!r} is not a number") from None
        labels = [f"{v:g}" for v in values]
    elif name == "aspect_ratio":
        values = _split(text)
        unknown = [v for v in values if v not in RATIO_SIZES]
        if unknown:
            raise GridError(f"aspect_ratio: {unknown[0]!r} is not a preset; use {', '.join(RATIO_SIZES)}")
        labels = list(values)
    elif name == "backend":
        known = dict(backends or {})
        by_name = {k.lower(): k for k in known} | {v.lower(): k for k, v in known.items()}
        values = []
        for part in _split(text):
            if part.lower() not in by_name:
                raise GridError(f"backend: {part[:40]!r} is unknown; use {', '.join(known) or 'a backend id'}")
            values.append(by_name[part.lower()])
        labels = [known[v] for v in values]
    else:  # prompt search/replace: the first value is the text to replace
        values = [v for v in (text or "").split(",")]
        values = [v.strip() for v in values if v.strip()]
        if values and values[0] not in prompt:
            raise GridError(f"prompt: {values[0][:40]!r} (the text to replace) is not in the prompt")
        if values:
            check_replacements(prompt, values)
        labels = list(values)
    if not values:
        raise GridError(f"{name}: give at least one value, separated by commas")
    if len(set(values)) != len(values):
        raise GridError(f"{name}: a value is repeated")
    return Axis(name, tuple(values), tuple(labels))


def max_values_chars(max_cells: int) -> int:
    """The longest text one axis may have: every cell's value a whole prompt, and the commas."""
    return max_cells * (MAX_PROMPT_CHARS + 1)


def check_replacements(prompt: str, values: Sequence[str]) -> None:
    """Refuse, by arithmetic and before any prompt is built, a value longer than a prompt or one whose
    replacement would make the prompt too long (4,000 × "a" replaced by 244 KB is 976 MB)."""
    search, count = values[0], prompt.count(values[0])
    for value in values:
        if len(value) > MAX_PROMPT_CHARS:
            raise GridError(f"prompt: a value is {len(value)} characters; the limit is {MAX_PROMPT_CHARS}")
        length = len(prompt) + count * (len(value) - len(search))
        if length > MAX_PROMPT_CHARS:
            raise GridError(
                f"prompt: replacing {search[:40]!r} with {value[:40]!r} makes a {length}-character prompt; "
                f"the limit is {MAX_PROMPT_CHARS}"
            )


@dataclass(frozen=True)
class Cell:
    """One image of the grid: its column and row, the backend and the request (seed fixed)."""

    column: int
    row: int
    backend: str
    request: GenerationRequest


def _apply(request: GenerationRequest, backend: str, axis: Axis, index: int, search: str) -> tuple:
    value = axis.values[index]
    if axis.name == "backend":
        return request, value
    if axis.name == "seed":
        return dataclasses.replace(request, seed=value), backend
    if axis.name == "steps":
        return dataclasses.replace(request, num_inference_steps=value), backend
    if axis.name == "guidance":
        return dataclasses.replace(request, guidance_scale=value), backend
    if axis.name == "aspect_ratio":
        w, h = RATIO_SIZES[value]
        return dataclasses.replace(request, aspect_ratio=value, width=w, height=h), backend
    return dataclasses.replace(request, prompt=request.prompt.replace(search, value)), backend


def plan_cells(
    base: GenerationRequest,
    backends: Sequence[str],
    x: Axis,
    y: Axis | None = None,
    max_cells: int = MAX_CELLS,
) -> list[Cell]:
    """One cell per (x, y) value, row by row; every other setting comes from ``base``.

    ``base`` must have its seed fixed. Without a backend axis exactly one backend must be given.
    Raises GridError (an InvalidRequest) for a grid that must not run, naming the cell at fault.
    """
    if y is not None and y.name == x.name:
        raise GridError(f"both axes are {x.name}: pick two different ones")
    count = len(x.values) * (len(y.values) if y else 1)
    if count > max_cells:
        raise GridError(f"{count} cells is too many: the limit is {max_cells} (GRID_MAX_CELLS)")
    if base.seed == 0:
        raise ValueError("fix the seed with base.with_seed() first, so every cell shares it")
    on_axis = "backend" in (x.name, y.name if y else None)
    if not on_axis and len(backends) != 1:
        chosen = "several backends are chosen" if backends else "no backend is chosen"
        raise GridError(f"{chosen}: make backend an axis, or choose one backend")
    base = dataclasses.replace(base, num_images=1)
    cells = []
    for row in range(len(y.values) if y else 1):
        for column in range(len(x.values)):
            request, backend = base, (backends[0] if backends else "")
            try:  # replace() validates again, so a cell's bad value is caught here
                for axis, index in ((x, column), (y, row)):
                    if axis is not None:
                        request, backend = _apply(request, backend, axis, index, axis.values[0])
            except InvalidRequest as err:
                where = f"{x.title} {x.labels[column]}" + (f", {y.title} {y.labels[row]}" if y else "")
                raise GridError(f"cell {where}: {err}") from None
            cells.append(Cell(column, row, backend, request))
    return cells


async def run_cells(
    cells: Sequence[Cell],
    backends: Mapping[str, Backend],
    contexts: Mapping[str, RunContext] | None = None,
    cancel=None,
) -> AsyncIterator[tuple[Cell, BackendRun]]:
    """Run every cell at once through the runner; yield each (cell, run) as it finishes.

    The hosted calls overlap; the local backend queues its cells on its one GPU thread.
    """
    # Checked before any cell starts: a cell whose backend is missing would never report, and the grid would wait.
    unknown = next((c.backend for c in cells if c.backend not in backends), None)
    if unknown is not None:
        raise GridError(f"backend {unknown[:40]!r} is unknown; use {', '.join(backends)}")
    queue: asyncio.Queue[tuple[Cell, BackendRun]] = asyncio.Queue()

    async def one(cell: Cell) -> None:
        backend = backends[cell.backend]
        try:
            async for event in run_backends(cell.request, [backend], contexts, cancel=cancel):
                if isinstance(event, BackendRun):
                    queue.put_nowait((cell, event))
        except Exception as err:  # never leave the grid waiting for a cell
            queue.put_nowait((cell, failed_run(backend, cell.request, UpstreamError(type(err).__name__))))

    tasks = [asyncio.create_task(one(cell)) for cell in cells]
    try:
        for _ in cells:
            yield await queue.get()
    finally:
        for task in tasks:
            task.cancel()
