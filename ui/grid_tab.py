"""The page's X/Y grid: two axes typed as text, every other setting from the form.

Each cell goes to the visitor's history (with its own parameters) and scoreboard; the grid
itself is one labelled PNG, with a text table of the same labels beside it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from backends import Backend, InvalidRequest
from backends.grid import AXES, MAX_CELLS
from ui import controls
from ui.grid_run import GridResult, make_grid, plan_grid
from ui.session import Session

NO_AXIS = "(none)"
AXIS_CHOICES = [(title, name) for name, title in AXES.items()]


def summary_markdown(result: GridResult, wall_s: float) -> str:
    """The grid's labels as a table (what the image shows, in text): each cell's status, latency and cost."""
    plan, x, y = result.plan, result.plan.x, result.plan.y
    ok = sum(r["status"] == "ok" for r in result.records)
    usd = sum(r["cost_usd"] or 0 for r in result.records)
    gpu = sum(r["gpu_s"] or 0 for r in result.records)
    unpriced = any(r["cost"] == "price not set" for r in result.records)
    cost = [f"${usd:.4f}"] if usd or not (gpu or unpriced) else []
    cost += [f"{gpu:.2f} GPU-s"] if gpu else []
    cost += ["some cells' price not set"] if unpriced else []
    lines = [
        f"**Grid** · {x.title} × {y.title if y else '—'} · {ok}/{len(result.records)} cell(s) · "
        f"seed **{plan.request.seed}** · wall **{wall_s:.2f} s** · est. cost {' + '.join(cost)}",
        "",
        "| " + (f"{y.title} \\ {x.title}" if y else x.title) + " | " + " | ".join(x.labels) + " |",
        "|---" * (len(x.labels) + 1) + "|",
    ]
    for row in range(len(y.labels) if y else 1):
        cells = result.records[row * len(x.labels) : (row + 1) * len(x.labels)]
        text = [f"{r['status']} · {r['latency_s'] or 0:.2f} s · {r['cost']}" for r in cells]
        lines.append(f"| {y.labels[row] if y else ''} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def build_grid_tab(
    page: SimpleNamespace,
    session: gr.State,
    backends: Mapping[str, Backend],
    secrets: Sequence[str],
    max_cells: int = MAX_CELLS,
) -> SimpleNamespace:
    """Create the grid's accordion where it is called, and wire it to the page's form and history."""
    c = page
    with gr.Accordion("X/Y grid", open=False, elem_id="grid-panel"):
        gr.Markdown(
            f"Vary one or two settings; everything else comes from the form. Values are comma-separated; seed and "
            f"steps also take ranges (`1-4`, `10-40 (+10)`); for the prompt, the first value is the text to replace. "
            f"One image per cell, at most {max_cells} cells. Without a backend axis, tick one backend."
        )
        with gr.Row():
            x_axis = gr.Dropdown(AXIS_CHOICES, value="seed", label="X axis (columns)", elem_id="grid-x-axis")
            x_values = gr.Textbox(label="X values", placeholder="1-4", elem_id="grid-x-values")
        with gr.Row():
            y_axis = gr.Dropdown(
                [(NO_AXIS, ""), *AXIS_CHOICES], value="backend", label="Y axis (rows)", elem_id="grid-y-axis"
            )
            y_values = gr.Textbox(label="Y values", placeholder="fireworks, aiml", elem_id="grid-y-values")
        grid_btn = gr.Button("Make grid", variant="primary", elem_id="grid-btn")
        grid_summary = gr.Markdown(elem_id="grid-summary")
        # Hidden until the first grid: empty image and file boxes only take room.
        grid_image = gr.Image(
            label="Grid", type="filepath", format="png", elem_id="grid-image", interactive=False, visible=False
        )
        grid_json = gr.File(label="Grid record (JSON)", elem_id="grid-json", visible=False)

    async def on_grid(sess: Session, xa, xv, ya, yv, text, selected, ratio, w, h, steps, guid, seed, same, fk, ak):
        unchanged = {grid_summary: gr.skip()}
        if sess is None:
            gr.Warning("The page is still loading; try again in a moment.")
            yield unchanged
            return
        try:
            request = controls.build_request(text, ratio, w, h, steps, guid, seed, 1, same)
            plan = plan_grid(request, list(selected or []), backends, xa, xv, ya, yv, max_cells)
        except InvalidRequest as err:
            gr.Warning(f"Nothing was sent: {err}.")
            yield unchanged
            return
        sec = [*secrets, (fk or "").strip(), (ak or "").strip()]
        cancel = sess.start_run()
        started = time.perf_counter()
        yield {grid_summary: f"Running {len(plan.cells)} cell(s) at seed **{plan.request.seed}**…"}
        try:
            result = await make_grid(
                plan,
                backends,
                sess.history.dir / "grid",
                sec,
                keys={"fireworks": fk, "aiml": ak},
                history=sess.history,
                cancel=cancel,
            )
        finally:
            sess.active.discard(cancel)
        for run in result.runs:
            sess.scoreboard.record(run)
        record_path = result.sheet.with_suffix(".json")
        await asyncio.to_thread(record_path.write_text, json.dumps({"grid": result.records}, indent=2))
        yield {
            grid_summary: summary_markdown(result, time.perf_counter() - started),
            grid_image: gr.Image(value=str(result.sheet), visible=True),
            grid_json: gr.File(value=str(record_path), visible=True),
            c.results: gr.Column(visible=True),
            c.history: sess.history.gallery(),
            c.score_table: sess.scoreboard.rows(),
            c.score_plot: pd.DataFrame(sess.scoreboard.plot_rows(), columns=["backend", "median_s"]),
        }

    form = [c.prompt, c.ticked, c.ratio, c.width, c.height, c.steps, c.guidance, c.seed, c.same_size]
    grid_btn.click(
        on_grid,
        [session, x_axis, x_values, y_axis, y_values, *form, c.fw_key, c.aiml_key],
        [grid_summary, grid_image, grid_json, c.results, c.history, c.score_table, c.score_plot],
        api_visibility="private",
        concurrency_limit=16,
        concurrency_id="generate",
        show_progress="minimal",
    )
    return SimpleNamespace(x_axis=x_axis, x_values=x_values, y_axis=y_axis, y_values=y_values, grid_image=grid_image)


__all__ = ["build_grid_tab", "summary_markdown"]
