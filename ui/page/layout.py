"""The page's components: prompt and settings on the left; the results, large viewer first, on the right."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import gradio as gr
import pandas as pd

from backends import Backend
from backends.sizes import MAX_SIDE, MIN_SIDE, SIDE_STEP
from backends.types import MAX_IMAGES, MAX_STEPS, MIN_STEPS
from config import PageOptions
from runs import form as controls
from runs.grid.plan import MAX_CELLS
from runs.messages import code_names
from runs.scoreboard import COLUMNS, LEGEND
from ui.page.copy_code import CodePanel, build_code_panel
from ui.page.grid_panel import GridPanel, build_grid_panel

TITLE = "FLUX.1 [schnell] playground"
EXAMPLES = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
    "a red fox in fresh snow at golden hour, 35mm photo",
]
# Measured on an H100 with the full model: about 77 s to load, then compiling, 101 s to the first image.
FIRST_RUN = (
    " — **its first run loads and compiles the model: about 1–2 minutes on a GPU before the first image**; "
    "later runs take seconds"
)
INTRO = (
    "Results appear here: tick one or more backends and press **Generate**. "
    "With several backends ticked, each gets a column, filled in as soon as it finishes."
)
NOTHING_READY = (
    "**No backend is ready yet. To get going:** paste a key under *API keys* (left), or set `FIREWORKS_API_KEY` / "
    "`AIML_API_KEY` and restart. To try the page without any key, start the local fake APIs with "
    "`python -m tests.fakes` and run the app with the command it prints (README, *Try it without keys*)."
)


def guidance_info(backends: Mapping[str, Backend], selected: Sequence[str]) -> str:
    text = "Sent to Fireworks only; the AI/ML API has no guidance parameter."
    also = [b.label for b in backends.values() if b.honours_guidance and b.id != "fireworks"]  # configured ones
    if also:
        text = text.replace("Fireworks only", f"Fireworks and {', '.join(also)}")
    if "local" in (selected or []) and "local" in backends:
        text += f" {backends['local'].label}: no effect — FLUX.1 [schnell] is guidance-distilled."
    return text


def ready_ids(backends: Mapping[str, Backend], keys: Mapping[str, str] | None = None) -> list[str]:
    return [b.id for b in backends.values() if b.status(keys).ready]


def default_ticked(backends: Mapping[str, Backend]) -> list[str]:
    """Every backend that can run (a green dot means ticked); Local's status says what its first run costs."""
    return ready_ids(backends)


def backend_choices(backends: Mapping[str, Backend]) -> list[tuple[str, str]]:
    return [(b.label, b.id) for b in backends.values()]


def status_markdown(
    backends: Mapping[str, Backend], fw_key: str = "", aiml_key: str = "", more_keys: Mapping[str, str] | None = None
) -> str:
    """One line per backend: ready or not, and if not, how to fix it (``more_keys``: other pasted keys, by id)."""
    keys = {**(more_keys or {}), "fireworks": fw_key, "aiml": aiml_key}
    lines = []
    for b in backends.values():
        st = b.status(keys)
        mark = "ready" if st.ready else "off"
        first = FIRST_RUN if st.ready and getattr(b, "loaded", True) is None else ""
        lines.append(f'<span class="dot {mark}"></span> **{b.label}** — {code_names(st.message)}{first}')
    return "\n\n".join(lines)


@dataclass
class Page:
    """Every component the handlers read or write, by name."""

    prompt: gr.Textbox
    generate_btn: gr.Button
    cancel_btn: gr.Button
    ticked: gr.CheckboxGroup
    status: gr.Markdown
    nothing_ready: gr.Markdown
    settings: gr.Accordion
    ratio: gr.Dropdown
    same_size: gr.Checkbox
    width: gr.Slider
    height: gr.Slider
    steps: gr.Slider
    guidance: gr.Slider
    seed: gr.Number
    num_images: gr.Slider
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
    ab_a: gr.Dropdown
    ab_b: gr.Dropdown
    ab_slider: gr.ImageSlider
    sheet_file: gr.File
    json_file: gr.File
    score_table: gr.Dataframe
    score_plot: gr.BarPlot
    history: gr.Gallery
    details: gr.Markdown
    reuse_seed_btn: gr.Button
    reuse_all_btn: gr.Button
    download_btn: gr.DownloadButton
    timer: gr.Timer
    grid: GridPanel
    endpoint_keys: dict[str, gr.Textbox] = field(default_factory=dict)  # OPENAI_IMAGE_BACKENDS key fields, by id
    code: CodePanel | None = None


def empty_plot() -> pd.DataFrame:
    return pd.DataFrame({"backend": pd.Series(dtype=str), "median_s": pd.Series(dtype=float)})


def build_page(
    backends: Mapping[str, Backend], options: PageOptions | None = None, grid_max_cells: int = MAX_CELLS
) -> Page:
    """Create every component inside the current Blocks; return them as a Page."""
    options = options or PageOptions()
    ticked_now = default_ticked(backends)
    gr.Markdown(
        f"# {TITLE}\nType a prompt, tick one or more backends and press **Generate** (Ctrl+Enter). "
        "Every image is tagged with the seed that made it: a seed remakes an image only on the same backend.",
        elem_id="intro",
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320, elem_id="controls"):
            prompt = gr.Textbox(
                label="Prompt",
                lines=3,
                max_lines=8,
                placeholder="a tiny astronaut hatching from an egg on the moon",
                info="Ctrl+Enter generates; Esc cancels a run (outside text fields). "
                "Click an image to see it full screen.",
                elem_id="prompt",
            )
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn", scale=3)
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel-btn", scale=1, interactive=False)
            ticked = gr.CheckboxGroup(
                choices=backend_choices(backends),
                value=ticked_now,
                label="Backends",
                info="Ticked backends get the same request at once. Grey dot: cannot run yet (the line says why).",
                elem_id="backends",
            )
            status = gr.Markdown(status_markdown(backends), elem_id="backend-status")
            if options.sign_in:  # signed-in visitors are counted by account, with RATE_LIMIT_PER_MIN_SIGNED_IN
                gr.LoginButton(elem_id="login")
            with gr.Accordion("Size, steps and seed", open=True, elem_id="settings") as settings:
                with gr.Row():
                    ratio = gr.Dropdown(
                        controls.RATIO_CHOICES, value=controls.DEFAULT_RATIO, label="Aspect ratio", elem_id="ratio"
                    )
                    same_size = gr.Checkbox(
                        label="Same size everywhere",
                        info="Snap to the size Fireworks returns, so every column has the same pixels.",
                        elem_id="same-size",
                    )
                # buttons=[]: no per-slider reset button; the page's JS would otherwise face a dozen
                # identically named "Reset to default value" buttons.
                width = gr.Slider(
                    MIN_SIDE, MAX_SIDE, value=1024, step=SIDE_STEP, label="Width", elem_id="width", buttons=[]
                )
                height = gr.Slider(
                    MIN_SIDE, MAX_SIDE, value=1024, step=SIDE_STEP, label="Height", elem_id="height", buttons=[]
                )
                steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=4, step=1, label="Steps", elem_id="steps", buttons=[])
                guidance = gr.Slider(
                    0,
                    10,
                    value=3.5,
                    step=0.1,
                    label="Guidance scale",
                    info=guidance_info(backends, ticked_now),
                    elem_id="guidance",
                    buttons=[],
                )
                with gr.Row():
                    # No minimum/maximum: Gradio would reject a bad seed with its own "Error" badge;
                    # our handler names the value and the range instead.
                    seed = gr.Number(value=0, label="Seed (0 = random)", elem_id="seed")
                    num_images = gr.Slider(
                        1, MAX_IMAGES, value=1, step=1, label="Images per backend", elem_id="num-images", buttons=[]
                    )
            with gr.Accordion("API keys (this browser session only)", open=False, elem_id="keys"):
                fw_key = gr.Textbox(label="Fireworks API key", type="password", placeholder="fw_…")
                aiml_key = gr.Textbox(label="AI/ML API key", type="password")
                # One more per OPENAI_IMAGE_BACKENDS entry that takes a key.
                endpoint_keys = {
                    b.id: gr.Textbox(label=f"{b.label} API key", type="password", placeholder=b.key_env)
                    for b in backends.values()
                    if b.key_env and b.id not in ("fireworks", "aiml")
                }
                gr.Markdown("Keys pasted here override the server's and are never stored, logged or shown.")
            precision = offload = None
            if "local" in backends:
                local = backends["local"]
                editable = options.local_settings_editable
                with gr.Accordion("Local settings", open=False, elem_id="local-settings"):
                    if not editable:
                        gr.Markdown(
                            "Read-only on this public Space: the model is shared by every visitor. "
                            "The operator can allow changes with `ALLOW_LOCAL_SETTINGS=1`.",
                            elem_id="local-readonly",
                        )
                    precision = gr.Radio(
                        ["fp8", "bf16"],
                        value=local.settings.precision,
                        label="Precision",
                        info="fp8: FP8 matmuls on compute capability 8.9+ (Ada, Hopper, Blackwell), "
                        "FP8 storage elsewhere. bf16: the reference. Changing it reloads the model.",
                        interactive=editable,
                        elem_id="precision",
                    )
                    offload = gr.Dropdown(
                        ["auto", "none", "model", "sequential"],
                        value=local.settings.offload,
                        label="CPU offload",
                        info="auto picks from free VRAM: none on 24 GB+, model on 16 GB, sequential on 12 GB.",
                        interactive=editable,
                        elem_id="offload",
                    )
            with gr.Accordion("Restore settings from a PNG", open=False, elem_id="restore-box"):
                restore = gr.File(label="Drop a PNG made here", file_types=[".png"], type="filepath", elem_id="restore")
            gr.Examples(EXAMPLES, inputs=[prompt], label="Try")
            code = build_code_panel()
            client_note = gr.Textbox(visible=False)
        with gr.Column(scale=5, elem_id="results-pane"):
            # Where a new user looks first: with nothing ready, how to get going, not "tick and press Generate".
            nothing_ready = gr.Markdown(NOTHING_READY, visible=not ready_ids(backends), elem_id="nothing-ready")
            summary = gr.Markdown(INTRO if ready_ids(backends) else "", elem_id="run-summary")
            # Above the results (which stay hidden until the first run), so a grid can be the first thing made.
            grid = build_grid_panel(grid_max_cells)
            # Shown from the first run on: before it, empty viewers, scoreboard and history only confuse.
            with gr.Column(visible=False, elem_id="results") as results:
                viewer = gr.Image(
                    show_label=False,
                    interactive=False,
                    height=560,
                    elem_id="viewer",
                    buttons=["download", "fullscreen"],
                )
                viewer_caption = gr.Markdown("", elem_id="viewer-caption")
                columns, col_status, col_gallery, col_md = {}, {}, {}, {}
                with gr.Row(equal_height=False, elem_id="backend-columns"):
                    for b in backends.values():
                        with gr.Column(
                            visible=False, elem_classes="backend-col", elem_id=f"col-{b.id}", min_width=200
                        ) as col:
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
                with gr.Accordion("A/B compare: drag across two images of this run", open=False, elem_id="ab"):
                    with gr.Row():
                        ab_a = gr.Dropdown([], label="Left image (A)", elem_id="ab-a")
                        ab_b = gr.Dropdown([], label="Right image (B)", elem_id="ab-b")
                    ab_slider = gr.ImageSlider(show_label=False, elem_id="ab-slider", max_height=640)
                with gr.Accordion("Export this comparison", open=False, elem_id="export"):
                    with gr.Row():
                        sheet_file = gr.File(label="Contact sheet (PNG)", elem_id="sheet-file")
                        json_file = gr.File(label="Run record (JSON)", elem_id="json-file")
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
                        # From 0 (bars start at zero), top automatic; never changed by an update (see
                        # Scoreboard.plot_frame).
                        y_lim=[0, None],
                        elem_id="score-plot",
                        min_width=300,
                        scale=2,
                        height=260,
                    )
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
    timer = gr.Timer(0.5, active=False)
    return Page(
        prompt=prompt,
        generate_btn=generate_btn,
        cancel_btn=cancel_btn,
        ticked=ticked,
        status=status,
        nothing_ready=nothing_ready,
        settings=settings,
        ratio=ratio,
        same_size=same_size,
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        seed=seed,
        num_images=num_images,
        fw_key=fw_key,
        aiml_key=aiml_key,
        endpoint_keys=endpoint_keys,
        precision=precision,
        offload=offload,
        restore=restore,
        client_note=client_note,
        summary=summary,
        results=results,
        viewer=viewer,
        viewer_caption=viewer_caption,
        columns=columns,
        col_status=col_status,
        col_gallery=col_gallery,
        col_md=col_md,
        ab_a=ab_a,
        ab_b=ab_b,
        ab_slider=ab_slider,
        sheet_file=sheet_file,
        json_file=json_file,
        score_table=score_table,
        score_plot=score_plot,
        history=history,
        details=details,
        reuse_seed_btn=reuse_seed_btn,
        reuse_all_btn=reuse_all_btn,
        download_btn=download_btn,
        timer=timer,
        grid=grid,
        code=code,
    )
