"""The page's components: prompt and settings on the left (ui/page/controls.py); the results, large viewer
first, on the right (ui/page/results.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import gradio as gr

from backends import Backend
from config import PageOptions
from runs.grid.plan import MAX_CELLS
from ui.page.controls import Form, build_controls
from ui.page.copy_code import CodePanel
from ui.page.grid_panel import GridPanel
from ui.page.results import build_results
from ui.page.texts import TITLE


@dataclass
class Page:
    """Every component the handlers read or write, by name."""

    form: Form  # the nine fields of a run
    generate_btn: gr.Button
    cancel_btn: gr.Button
    status: gr.Markdown
    nothing_ready: gr.Markdown
    settings: gr.Accordion
    same_size: gr.Checkbox
    fw_key: gr.Textbox
    aiml_key: gr.Textbox
    precision: gr.Radio | None
    offload: gr.Dropdown | None
    restore: gr.File
    client_note: gr.Textbox  # what the browser saw before sending: a typed value a slider clamped
    summary: gr.Markdown
    results: gr.Column
    viewer: gr.Image
    viewer_caption: gr.Markdown
    columns: dict[str, gr.Column]
    col_status: dict[str, gr.HTML]
    col_gallery: dict[str, gr.Gallery]
    col_md: dict[str, gr.Markdown]
    ab_box: gr.Accordion  # hidden, with export_box, after a run that made no image
    ab_a: gr.Dropdown
    ab_b: gr.Dropdown
    ab_slider: gr.ImageSlider
    export_box: gr.Accordion
    sheet_file: gr.File
    json_file: gr.File
    score_table: gr.Dataframe
    score_plot: gr.BarPlot
    history: gr.Gallery
    details: gr.Markdown
    reuse_seed_btn: gr.Button
    reuse_all_btn: gr.Button
    download_btn: gr.DownloadButton
    lightbox_act: gr.Button  # hidden: the lightbox presses it to select, or reuse, the image it shows
    lightbox_pick: gr.Textbox  # hidden: {"src", "action"} from the lightbox, set by LIGHTBOX_JS
    timer: gr.Timer
    grid: GridPanel
    endpoint_keys: dict[str, gr.Textbox] = field(default_factory=dict)  # OPENAI_IMAGE_BACKENDS key fields, by id
    code: CodePanel | None = None


def build_page(
    backends: Mapping[str, Backend], options: PageOptions | None = None, grid_max_cells: int = MAX_CELLS
) -> Page:
    """Create every component inside the current Blocks; return them as a Page."""
    options = options or PageOptions()
    gr.Markdown(
        f"# {TITLE}\nType a prompt, tick one or more backends and press **Generate** (Ctrl+Enter). "
        "Every image is tagged with the seed that made it: a seed remakes an image only on the same backend.",
        elem_id="intro",
    )
    with gr.Row(equal_height=False):
        left = build_controls(backends, options)
        right = build_results(backends, grid_max_cells)
    return Page(**left, **right, timer=gr.Timer(0.5, active=False))
