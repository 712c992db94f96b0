"""The page's X/Y grid panel: two axes typed as text, every other setting from the form (wired in grid_handlers.py).

Each cell goes to the visitor's history (with its own parameters) and scoreboard; the grid
itself is one labelled PNG, with a text table of the same labels beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from runs.grid.plan import AXES, MAX_CELLS
from runs.grid.run import GridResult, seed_words

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
        f"{seed_words(plan)} · wall **{wall_s:.2f} s** · est. cost {' + '.join(cost)}",
        "",
        "| " + (f"{y.title} \\ {x.title}" if y else x.title) + " | " + " | ".join(x.labels) + " |",
        "|---" * (len(x.labels) + 1) + "|",
    ]
    for row in range(len(y.labels) if y else 1):
        cells = result.records[row * len(x.labels) : (row + 1) * len(x.labels)]
        text = [f"{r['status']} · {r['latency_s'] or 0:.2f} s · {r['cost']}" for r in cells]
        lines.append(f"| {y.labels[row] if y else ''} | " + " | ".join(text) + " |")
    return "\n".join(lines)


@dataclass
class GridPanel:
    """The grid's own components (the form's values come from the page)."""

    x_axis: gr.Dropdown
    x_values: gr.Textbox
    y_axis: gr.Dropdown
    y_values: gr.Textbox
    button: gr.Button
    summary: gr.Markdown
    image: gr.Image
    record: gr.File


def build_grid_panel(max_cells: int = MAX_CELLS) -> GridPanel:
    """Create the grid's accordion where it is called (ui/page/layout.py puts it in the results pane)."""
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
        button = gr.Button("Make grid", variant="primary", elem_id="grid-btn")
        summary = gr.Markdown(elem_id="grid-summary")
        # Hidden until the first grid: empty image and file boxes only take room.
        image = gr.Image(
            label="Grid", type="filepath", format="png", elem_id="grid-image", interactive=False, visible=False
        )
        record = gr.File(label="Grid record (JSON)", elem_id="grid-json", visible=False)
    return GridPanel(x_axis, x_values, y_axis, y_values, button, summary, image, record)


__all__ = ["AXIS_CHOICES", "GridPanel", "build_grid_panel", "summary_markdown"]
