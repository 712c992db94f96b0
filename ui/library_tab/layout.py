"""The page's Library tab: search, filters, thumbnails, a large view with its details, and the
all-time scoreboard. Components only; the handlers are in ui/library_tab/handlers.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from backends import Backend
from library.query import SYNTAX

PAGE_SIZE = 48
PERIODS = {"Any time": None, "Last 24 hours": 1, "Last 7 days": 7, "Last 30 days": 30, "Last 365 days": 365}
STATUSES = ["Any status", "Made", "Failed"]
SCORE_COLUMNS = ["backend", "images", "failures", "filtered", "cancelled", "p50 s/image", "p95 s/image", "total cost"]


@dataclass
class Bulk:
    """The bulk actions on a selection of images."""

    box: gr.Row
    info: gr.Markdown
    tag: gr.Textbox
    star: gr.Button
    unstar: gr.Button
    add_tag: gr.Button
    remove_tag: gr.Button
    delete: gr.Button
    zip: gr.Button
    zip_file: gr.File
    clear: gr.Button
    really: gr.Button  # "Really delete?", shown after Delete; Clear is the way back
    compare: gr.Button  # 2 to 4 selected images side by side, with what differed


def build_bulk() -> Bulk:
    """The row of bulk actions (shown while images are selected)."""
    with gr.Row(visible=False, elem_id="library-bulk", equal_height=True) as box:
        info = gr.Markdown("", elem_id="library-bulk-info")
        tag = gr.Textbox(label="Tag", placeholder="e.g. cats", scale=1, min_width=120, elem_id="library-bulk-tag")
        buttons = [
            gr.Button(text, size="sm", scale=0, min_width=80, elem_id=f"library-bulk-{key}", variant=variant)
            for key, text, variant in (
                ("star", "★ Star", "secondary"), ("unstar", "☆ Unstar", "secondary"), ("addtag", "+ Tag", "secondary"),
                ("untag", "− Tag", "secondary"), ("delete", "Delete", "stop"),
            )
        ]  # fmt: skip
        zip_btn = gr.Button("ZIP", size="sm", scale=0, min_width=80, elem_id="library-bulk-zip")
        compare = gr.Button("Compare", size="sm", scale=0, min_width=90, elem_id="library-bulk-compare")
        clear = gr.Button("Clear", size="sm", scale=0, min_width=80, elem_id="library-bulk-clear")
        really = gr.Button(
            "Really delete them?", size="sm", variant="stop", visible=False, elem_id="library-bulk-confirm"
        )
    zip_file = gr.File(label="ZIP of the selection", visible=False, elem_id="library-bulk-file")
    return Bulk(box, info, tag, *buttons, zip_btn, zip_file, clear, really, compare)


@dataclass
class Compare:
    """2 to 4 saved images side by side (an A/B slider for two) and a table of what differed."""

    box: gr.Column
    slider: gr.ImageSlider
    gallery: gr.Gallery
    table: gr.Markdown
    close: gr.Button


def build_compare() -> Compare:
    with gr.Column(visible=False, elem_id="library-compare") as box:
        with gr.Row(equal_height=True):
            gr.Markdown("### Compare", elem_id="library-compare-title")
            close = gr.Button("Close", size="sm", scale=0, min_width=80, elem_id="library-compare-close")
        slider = gr.ImageSlider(
            label="A/B (drag the line)", type="filepath", interactive=False, visible=False, height=420,
            elem_id="library-compare-slider",
        )  # fmt: skip
        gallery = gr.Gallery(
            label="Side by side", columns=4, fit_columns=True, height=360, object_fit="contain",
            allow_preview=True, elem_id="library-compare-gallery",
        )  # fmt: skip
        table = gr.Markdown(elem_id="library-compare-table")
    return Compare(box, slider, gallery, table, close)


@dataclass
class LibraryTab:
    """The Library tab's components."""

    query: gr.Textbox
    chips: gr.CheckboxGroup  # the query's terms; unticking one removes it from the query
    backends: gr.CheckboxGroup
    status: gr.Dropdown
    period: gr.Dropdown
    search_btn: gr.Button
    gallery: gr.Gallery
    prev_btn: gr.Button
    next_btn: gr.Button
    page_info: gr.Markdown
    offset: gr.State
    ids: gr.State  # the row ids shown, in gallery order
    selected: gr.State  # the row id shown large
    viewer: gr.Image
    details: gr.Markdown
    reuse_seed_btn: gr.Button
    reuse_all_btn: gr.Button
    download_btn: gr.DownloadButton
    delete_btn: gr.Button
    confirm_btn: gr.Button
    cancel_btn: gr.Button
    star_btn: gr.Button
    tags_box: gr.Textbox
    tags_btn: gr.Button
    several: gr.Checkbox  # on: a thumbnail click adds it to (or takes it from) the selection
    chosen: gr.State  # the selected ids, for the bulk actions
    bulk: Bulk
    open_run_btn: gr.Button
    run_box: gr.Column
    run_md: gr.Markdown
    run_gallery: gr.Gallery
    run_id: gr.State  # the run shown, for its link
    link_btn: gr.Button
    run_link_btn: gr.Button
    link_box: gr.Textbox  # the last link copied, shown too (a browser may refuse the clipboard)
    compare: Compare
    score_period: gr.Dropdown
    score_table: gr.Dataframe
    score_plot: gr.ScatterPlot


def empty_daily() -> pd.DataFrame:
    return pd.DataFrame(
        {"day": pd.Series(dtype=str), "median_s": pd.Series(dtype=float), "backend": pd.Series(dtype=str)}
    )


def build_library_tab(backends: Mapping[str, Backend], where: str) -> LibraryTab:
    """Create the tab's components inside the current gr.Tab; ``where`` says where the files live."""
    gr.Markdown(f"Every image made here is kept, with its settings, in {where}.", elem_id="library-where")
    with gr.Row(equal_height=True, elem_id="library-filters"):
        query = gr.Textbox(
            label="Search", placeholder="e.g. fox backend:fireworks steps:>2 star:yes", info=SYNTAX,
            scale=3, min_width=200, elem_id="library-query",
        )  # fmt: skip
        choices = [(b.label, b.id) for b in backends.values()]
        backend_box = gr.CheckboxGroup(choices, label="Backends", scale=2, min_width=200)
        status = gr.Dropdown(STATUSES, value=STATUSES[0], label="Status", scale=1, min_width=120)
        period = gr.Dropdown(list(PERIODS), value="Any time", label="When", scale=1, min_width=120)
        search_btn = gr.Button("Search", variant="primary", scale=0, min_width=90, elem_id="library-search")
    chips = gr.CheckboxGroup([], label="Search terms (untick to remove)", visible=False, elem_id="library-chips")
    with gr.Row(elem_id="library-select-row"):
        several = gr.Checkbox(label="Select several (for star, tag, delete, ZIP)", elem_id="library-several")
    bulk = build_bulk()
    compare = build_compare()
    gallery = gr.Gallery(
        label="Library (newest first)",
        columns=6,
        fit_columns=False,  # a page of two stays two thumbnails, not two full-width images
        height="auto",
        object_fit="cover",
        allow_preview=False,
        elem_id="library-gallery",
    )
    with gr.Row(elem_id="library-pager"):
        prev_btn = gr.Button("← Newer", size="sm", scale=0, min_width=90)
        page_info = gr.Markdown("", elem_id="library-page-info")
        next_btn = gr.Button("Older →", size="sm", scale=0, min_width=90)
    with gr.Row(equal_height=False, elem_id="library-detail"):
        viewer = gr.Image(label="Selected", type="filepath", interactive=False, height=420, scale=3, min_width=280)
        with gr.Column(scale=2, min_width=260):
            details = gr.Markdown("Click a thumbnail to see it large, with everything about it.")
            with gr.Row():
                reuse_seed_btn = gr.Button("Reuse seed", size="sm", elem_id="library-reuse-seed")
                reuse_all_btn = gr.Button("Reuse settings", size="sm", elem_id="library-reuse-settings")
                open_run_btn = gr.Button("Open run", size="sm", elem_id="library-open-run")
            with gr.Row():
                download_btn = gr.DownloadButton("Download PNG", size="sm", elem_id="library-download")
                delete_btn = gr.Button("Delete", size="sm", variant="stop", elem_id="library-delete")
                confirm_btn = gr.Button(
                    "Really delete?", size="sm", variant="stop", visible=False, elem_id="library-confirm"
                )
                cancel_btn = gr.Button("Keep it", size="sm", visible=False, elem_id="library-cancel")
                link_btn = gr.Button("Copy link", size="sm", elem_id="library-copy-link")
            with gr.Row(equal_height=True):
                star_btn = gr.Button("☆ Star", size="sm", scale=0, min_width=90, elem_id="library-star")
                tags_box = gr.Textbox(
                    label="Tags", placeholder="cats, trip 2026", scale=2, min_width=140, elem_id="library-tags"
                )
                tags_btn = gr.Button("Save tags", size="sm", scale=0, min_width=90, elem_id="library-save-tags")
            link_box = gr.Textbox(
                label="Link (copied): opens this image or run here, after a restart too, for you only",
                visible=False, interactive=False, elem_id="library-link",
            )  # fmt: skip
    with gr.Column(visible=False, elem_id="library-run") as run_box:
        run_md = gr.Markdown(elem_id="library-run-md")
        run_link_btn = gr.Button("Copy link to this run", size="sm", scale=0, elem_id="library-copy-run-link")
        run_gallery = gr.Gallery(label="The run, as it was", columns=4, fit_columns=False, height="auto")
    with gr.Accordion("All-time scoreboard", open=False, elem_id="library-scoreboard"):
        score_period = gr.Dropdown(list(PERIODS), value="Any time", label="Over", min_width=160)
        score_table = gr.Dataframe(headers=SCORE_COLUMNS, interactive=False, wrap=True)
        # Points, not lines: a backend used on one day only still shows.
        score_plot = gr.ScatterPlot(
            empty_daily(), x="day", y="median_s", color="backend", title="Median seconds per image, by day",
            y_title="seconds", height=260,
        )  # fmt: skip
    return LibraryTab(
        query, chips, backend_box, status, period, search_btn, gallery, prev_btn, next_btn, page_info,
        gr.State(0), gr.State([]), gr.State(None), viewer, details, reuse_seed_btn, reuse_all_btn,
        download_btn, delete_btn, confirm_btn, cancel_btn, star_btn, tags_box, tags_btn, several, gr.State([]),
        bulk, open_run_btn, run_box, run_md, run_gallery, gr.State(None), link_btn, run_link_btn, link_box, compare,
        score_period, score_table, score_plot,
    )  # fmt: skip
