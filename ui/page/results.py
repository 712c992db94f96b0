"""The page's right side: notes, the grid panel, then (from the first run on) the large viewer, a column per
backend, A/B compare, export, the scoreboard, the history and the selected image's details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr
import pandas as pd

from backends import Backend
from runs.scoreboard import COLUMNS, LEGEND
from ui.page.grid_panel import build_grid_panel
from ui.page.texts import INTRO, NOTHING_READY, ready_ids


def empty_plot() -> pd.DataFrame:
    return pd.DataFrame({"backend": pd.Series(dtype=str), "median_s": pd.Series(dtype=float)})


def build_columns(backends: Mapping[str, Backend]) -> dict[str, Any]:
    """One hidden column per backend: its status, its gallery and its text."""
    columns, col_status, col_gallery, col_md = {}, {}, {}, {}
    with gr.Row(equal_height=False, elem_id="backend-columns"):
        for b in backends.values():
            with gr.Column(visible=False, elem_classes="backend-col", elem_id=f"col-{b.id}", min_width=200) as col:
                col_status[b.id] = gr.HTML(f"<h3>{b.label}</h3>", elem_id=f"colstatus-{b.id}")
                col_gallery[b.id] = gr.Gallery(
                    show_label=False,
                    columns=2,
                    height="auto",
                    object_fit="contain",
                    allow_preview=False,  # a click shows the image in the large viewer above
                    elem_id=f"colgal-{b.id}",
                    elem_classes="colgal",
                )
                col_md[b.id] = gr.Markdown("", elem_id=f"colmd-{b.id}")
            columns[b.id] = col
    return {"columns": columns, "col_status": col_status, "col_gallery": col_gallery, "col_md": col_md}


def build_compare_and_export() -> dict[str, Any]:
    """The A/B slider over two images of this run, and the run's contact sheet and JSON record."""
    # Both hidden after a run that made no image: empty pickers and an empty sheet would only puzzle.
    with gr.Accordion("A/B compare: drag across two images of this run", open=False, elem_id="ab") as ab_box:
        with gr.Row():
            ab_a = gr.Dropdown([], label="Left image (A)", elem_id="ab-a")
            ab_b = gr.Dropdown([], label="Right image (B)", elem_id="ab-b")
        ab_slider = gr.ImageSlider(show_label=False, elem_id="ab-slider", max_height=640)
    with gr.Accordion("Export this comparison", open=False, elem_id="export") as export_box:
        with gr.Row():
            sheet_file = gr.File(label="Contact sheet (PNG)", elem_id="sheet-file")
            json_file = gr.File(label="Run record (JSON)", elem_id="json-file")
    return {
        "ab_box": ab_box,
        "ab_a": ab_a,
        "ab_b": ab_b,
        "ab_slider": ab_slider,
        "export_box": export_box,
        "sheet_file": sheet_file,
        "json_file": json_file,
    }


def build_scoreboard() -> dict[str, Any]:
    """This session's scoreboard table and its median-seconds bar plot."""
    gr.Markdown("Swipe the scoreboard sideways for Median, p95 and cost →", elem_id="score-hint")
    with gr.Row(elem_id="score-row"):
        score_table = gr.Dataframe(
            headers=COLUMNS,
            label=f"Scoreboard (this session). {LEGEND}",
            elem_id="scoreboard",
            interactive=False,
            wrap=True,  # nine columns: long cells wrap instead of pushing the cost columns off-screen
            # Wider than the pane's share beside the plot on a 1440 px screen: the plot goes under it.
            min_width=600,
            scale=3,
        )
        score_plot = gr.BarPlot(
            empty_plot(),
            x="backend",
            y="median_s",
            title="Median seconds per image",
            x_title="backend",
            y_title="seconds",
            # From 0 (bars start at zero), top automatic; never changed by an update (see Scoreboard.plot_frame).
            y_lim=[0, None],
            elem_id="score-plot",
            min_width=300,
            scale=2,
            height=260,
        )
    return {"score_table": score_table, "score_plot": score_plot}


def build_history() -> dict[str, Any]:
    """The session's history, the selected image's details and what can be done with it."""
    history = gr.Gallery(
        label="History (this session, newest first)",
        columns=4,
        fit_columns=False,  # a lone first image must stay a thumbnail, not fill the row
        height=420,
        object_fit="contain",
        allow_preview=False,  # a click shows the image in the large viewer
        elem_id="history",
        format="png",
    )
    with gr.Row():
        details = gr.Markdown("Select an image to see its parameters.", elem_id="details")
        with gr.Column(min_width=160, scale=0):
            reuse_seed_btn = gr.Button("Reuse seed", elem_id="reuse-seed", size="sm")
            reuse_all_btn = gr.Button("Reuse settings", elem_id="reuse-settings", size="sm")
            download_btn = gr.DownloadButton("Download PNG", elem_id="download-png", size="sm")
    # What the lightbox (ui/lightbox.py) tells the server: the image it shows and what to do with it.
    lightbox_act = gr.Button("lightbox", elem_id="lightbox-act", elem_classes=["lb-wire"])
    lightbox_pick = gr.Textbox(visible=False)
    return {
        "lightbox_act": lightbox_act,
        "lightbox_pick": lightbox_pick,
        "history": history,
        "details": details,
        "reuse_seed_btn": reuse_seed_btn,
        "reuse_all_btn": reuse_all_btn,
        "download_btn": download_btn,
    }


def build_results(backends: Mapping[str, Backend], grid_max_cells: int) -> dict[str, Any]:
    """Create the right column's components; return them by their Page field names."""
    with gr.Column(scale=5, elem_id="results-pane"):
        # Where a new user looks first: with nothing ready, how to get going, not "tick and press Generate".
        nothing_ready = gr.Markdown(NOTHING_READY, visible=not ready_ids(backends), elem_id="nothing-ready")
        summary = gr.Markdown(INTRO if ready_ids(backends) else "", elem_id="run-summary")
        # Above the results (which stay hidden until the first run), so a grid can be the first thing made.
        grid = build_grid_panel(grid_max_cells)
        # Shown from the first run on: before it, empty viewers, scoreboard and history only confuse.
        with gr.Column(visible=False, elem_id="results") as results:
            viewer = gr.Image(
                show_label=False, interactive=False, height=560, elem_id="viewer", buttons=["download", "fullscreen"]
            )
            viewer_caption = gr.Markdown("", elem_id="viewer-caption")
            parts = build_columns(backends)
            parts.update(build_compare_and_export())
            parts.update(build_scoreboard())
            parts.update(build_history())
    return {
        **parts,
        "nothing_ready": nothing_ready,
        "summary": summary,
        "grid": grid,
        "results": results,
        "viewer": viewer,
        "viewer_caption": viewer_caption,
    }
