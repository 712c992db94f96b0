"""The page's components: controls on the left; the comparison, scoreboard and history on the right."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from backends import Backend
from backends.sizes import MAX_SIDE, MIN_SIDE, SIDE_STEP
from backends.types import MAX_IMAGES, MAX_SEED, MAX_STEPS, MIN_STEPS
from ui import controls
from ui.scoreboard import COLUMNS

TITLE = "FLUX.1 [schnell] playground"
EXAMPLES = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
    "a red fox in fresh snow at golden hour, 35mm photo",
]


def guidance_info(selected: Sequence[str]) -> str:
    text = "Sent to Fireworks only; the AI/ML API has no guidance parameter."
    if "local" in (selected or []):
        text += " Local FP8: no effect — FLUX.1 [schnell] is guidance-distilled."
    return text


def status_markdown(backends: Mapping[str, Backend], fw_key: str = "", aiml_key: str = "") -> str:
    """One line per backend: ready or not, and if not, how to fix it."""
    keys = {"fireworks": fw_key, "aiml": aiml_key}
    lines = []
    for b in backends.values():
        st = b.status(keys)
        mark = "ready" if st.ready else "off"
        lines.append(f'<span class="dot {mark}"></span> **{b.label}** — {st.message}')
    return "\n\n".join(lines)


def build_page(backends: Mapping[str, Backend]) -> SimpleNamespace:
    """Create every component inside the current Blocks; return them by name."""
    order = list(backends)
    gr.Markdown(
        f"# {TITLE}\nType a prompt, tick one or more backends and press **Generate** (Ctrl+Enter). "
        "Every image is tagged with the seed that made it — a seed remakes an image only on the same backend."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=340):
            prompt = gr.Textbox(
                label="Prompt",
                lines=3,
                max_lines=8,
                placeholder="a tiny astronaut hatching from an egg on the moon",
                info="Ctrl+Enter generates, Esc cancels.",
                elem_id="prompt",
            )
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn", scale=3)
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel-btn", scale=1)
            ticked = gr.CheckboxGroup(
                choices=[(b.label, b.id) for b in backends.values()],
                value=[b for b in order if b != "local" and backends[b].status().ready] or order[1:2],
                label="Backends",
                info="Ticked backends get the same request at once.",
                elem_id="backends",
            )
            status = gr.Markdown(status_markdown(backends), elem_id="backend-status")
            with gr.Row():
                ratio = gr.Dropdown(
                    controls.RATIO_CHOICES, value=controls.DEFAULT_RATIO, label="Aspect ratio", elem_id="ratio"
                )
                same_size = gr.Checkbox(
                    label="Same size everywhere",
                    info="Snap to the size Fireworks returns, so every column has the same pixels.",
                    elem_id="same-size",
                )
            width = gr.Slider(MIN_SIDE, MAX_SIDE, value=1024, step=SIDE_STEP, label="Width", elem_id="width")
            height = gr.Slider(MIN_SIDE, MAX_SIDE, value=1024, step=SIDE_STEP, label="Height", elem_id="height")
            steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=4, step=1, label="Steps", elem_id="steps")
            guidance = gr.Slider(0, 10, value=3.5, step=0.1, label="Guidance scale", info=guidance_info([]))
            with gr.Row():
                seed = gr.Number(
                    value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed (0 = random)", elem_id="seed"
                )
                num_images = gr.Slider(1, MAX_IMAGES, value=1, step=1, label="Images per backend")
            with gr.Accordion("API keys (this browser session only)", open=False):
                fw_key = gr.Textbox(label="Fireworks API key", type="password", placeholder="fw_…")
                aiml_key = gr.Textbox(label="AI/ML API key", type="password")
                gr.Markdown("Keys pasted here override the server's and are never stored, logged or shown.")
            precision = offload = None
            if "local" in backends:
                with gr.Accordion("Local settings", open=False):
                    local = backends["local"]
                    precision = gr.Radio(
                        ["fp8", "bf16"],
                        value=local.settings.precision,
                        label="Precision",
                        info="fp8: FP8 matmuls on compute capability 8.9+ (Ada, Hopper, Blackwell), "
                        "FP8 storage elsewhere. bf16: the reference. Changing it reloads the model.",
                    )
                    offload = gr.Dropdown(
                        ["auto", "none", "model", "sequential"],
                        value=local.settings.offload,
                        label="CPU offload",
                        info="auto picks from free VRAM: none on 24 GB+, model on 16 GB, sequential on 12 GB.",
                    )
            with gr.Accordion("Restore settings from a PNG", open=False):
                restore = gr.File(label="Drop a PNG made here", file_types=[".png"], type="filepath", elem_id="restore")
            gr.Examples(EXAMPLES, inputs=[prompt], label="Try")
        with gr.Column(scale=5):
            summary = gr.Markdown(
                "Results appear here: tick one or more backends and press **Generate**. "
                "With several backends ticked, each gets a column, filled in as soon as it finishes.",
                elem_id="run-summary",
            )
            columns, col_md, col_gallery = {}, {}, {}
            with gr.Row(equal_height=False):
                for b in backends.values():
                    with gr.Column(
                        visible=False, elem_classes="backend-col", elem_id=f"col-{b.id}", min_width=220
                    ) as col:
                        col_gallery[b.id] = gr.Gallery(
                            show_label=False,
                            columns=1,
                            height=360,
                            object_fit="contain",
                            elem_id=f"colgal-{b.id}",
                            buttons=["download", "fullscreen"],
                        )
                        col_md[b.id] = gr.Markdown(f"### {b.label}", elem_id=f"colmd-{b.id}")
                    columns[b.id] = col
            # Shown from the first run on: before it, an empty scoreboard and history only confuse.
            with gr.Column(visible=False) as results:
                with gr.Accordion("Export this comparison", open=False):
                    with gr.Row():
                        sheet_file = gr.File(label="Contact sheet (PNG)", elem_id="sheet-file")
                        json_file = gr.File(label="Run record (JSON)", elem_id="json-file")
                with gr.Row():
                    score_table = gr.Dataframe(
                        headers=COLUMNS,
                        label="Scoreboard (this session; OK, Failed and Filtered count images)",
                        elem_id="scoreboard",
                        interactive=False,
                        scale=3,
                    )
                    score_plot = gr.BarPlot(
                        pd.DataFrame({"backend": pd.Series(dtype=str), "median_s": pd.Series(dtype=float)}),
                        x="backend",
                        y="median_s",
                        title="Median latency per backend (s)",
                        y_title="seconds",
                        y_lim=[0, None],
                        elem_id="score-plot",
                        scale=2,
                        height=240,
                    )
                history = gr.Gallery(
                    label="History (this session, newest first)",
                    columns=6,
                    fit_columns=False,  # a lone first image must stay a thumbnail, not fill the row
                    height=420,
                    object_fit="contain",
                    elem_id="history",
                    buttons=["download", "fullscreen"],
                    format="png",
                )
                with gr.Row():
                    details = gr.Markdown("Select an image in the history to see its parameters.", elem_id="details")
                    with gr.Column(min_width=160, scale=0):
                        reuse_seed_btn = gr.Button("Reuse seed", elem_id="reuse-seed", size="sm")
                        reuse_all_btn = gr.Button("Reuse settings", elem_id="reuse-settings", size="sm")
                        download_btn = gr.DownloadButton("Download PNG", elem_id="download-png", size="sm")

    # Every component made above, by its variable name (events.wire reads them as page.<name>).
    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("backends", "order", "b", "col")})
