"""The Gradio page: controls on the left, the comparison, history and scoreboard on the right."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import gradio as gr
import pandas as pd

from backends import Backend, BackendRun, InvalidRequest
from backends.sizes import CUSTOM, MAX_SIDE, MIN_SIDE, SIDE_STEP
from backends.types import MAX_IMAGES, MAX_SEED, MAX_STEPS, MIN_STEPS
from ui import controls
from ui.history import History
from ui.pngmeta import read_params
from ui.scoreboard import COLUMNS
from ui.session import Session, column_text, export_run

TITLE = "FLUX.1 [schnell] playground"
EXAMPLES = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
    "a red fox in fresh snow at golden hour, 35mm photo",
]
CSS = """
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
.dot.ready { background: #16a34a; } .dot.off { background: #9ca3af; }
#run-summary p { margin: 0; }
.backend-col { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; }
.backend-col .prose h3 { margin: 0 0 4px 0; }
"""
HEAD = """
<script>
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
    e.preventDefault();
    document.querySelector('#generate-btn')?.click();
  } else if (e.key === 'Escape' && !e.target.closest?.('.gallery, [id^=colgal-], #history')) {
    // Esc also closes image previews: only cancel when it isn't aimed at a gallery.
    document.querySelector('#cancel-btn')?.click();
  }
});
</script>
"""
LAUNCH_OPTIONS = {"css": CSS, "head": HEAD, "theme": gr.themes.Soft()}


def guidance_info(selected: Sequence[str]) -> str:
    text = "Sent to Fireworks only; the AI/ML API has no guidance parameter."
    if "local" in (selected or []):
        text += " Local FP8: no effect — FLUX.1 [schnell] is guidance-distilled."
    return text


def build_demo(backends: Mapping[str, Backend], secrets: Sequence[str] = ()) -> gr.Blocks:
    """The whole page, wired to ``backends`` (id → Backend, in display order)."""
    order = list(backends)
    registry = backends  # api_generate's parameter is called `backends`, as scripts name it
    api_store = History(limit=256)  # /generate's images: bounded like a session's

    def status_markdown(fw_key: str = "", aiml_key: str = "") -> str:
        keys = {"fireworks": fw_key, "aiml": aiml_key}
        lines = []
        for b in backends.values():
            st = b.status(keys)
            mark = "ready" if st.ready else "off"
            lines.append(f'<span class="dot {mark}"></span> **{b.label}** — {st.message}')
        return "\n\n".join(lines)

    def session_secrets(fw_key: str, aiml_key: str) -> list[str]:
        return [*secrets, fw_key, aiml_key]

    with gr.Blocks(title=TITLE, delete_cache=(3600, 24 * 3600)) as demo:
        session = gr.State(Session, delete_callback=lambda s: s.close())
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
                status = gr.Markdown(status_markdown(), elem_id="backend-status")
                with gr.Row():
                    ratio = gr.Dropdown(
                        controls.RATIO_CHOICES, value=controls.DEFAULT_RATIO, label="Aspect ratio", elem_id="ratio"
                    )
                    same_size = gr.Checkbox(
                        label="Same size everywhere",
                        info="Snap to the size Fireworks returns, so every column has the same pixels.",
                        elem_id="same-size",
                    )
                with gr.Row():
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
                    restore = gr.File(
                        label="Drop a PNG made here", file_types=[".png"], type="filepath", elem_id="restore"
                    )
                gr.Examples(EXAMPLES, inputs=[prompt], label="Try")
            with gr.Column(scale=5):
                summary = gr.Markdown("Nothing generated yet.", elem_id="run-summary")
                columns, col_md, col_gallery = {}, {}, {}
                with gr.Row(equal_height=False):
                    for b in backends.values():
                        with gr.Column(
                            visible=False, elem_classes="backend-col", elem_id=f"col-{b.id}", min_width=220
                        ) as col:
                            col_gallery[b.id] = gr.Gallery(
                                show_label=False,
                                columns=1,
                                height=340,
                                object_fit="contain",
                                elem_id=f"colgal-{b.id}",
                                buttons=["download", "fullscreen"],
                            )
                            col_md[b.id] = gr.Markdown(f"### {b.label}", elem_id=f"colmd-{b.id}")
                        columns[b.id] = col
                with gr.Accordion("Export this comparison", open=False):
                    with gr.Row():
                        sheet_file = gr.File(label="Contact sheet (PNG)", elem_id="sheet-file")
                        json_file = gr.File(label="Run record (JSON)", elem_id="json-file")
                with gr.Row():
                    score_table = gr.Dataframe(
                        headers=COLUMNS,
                        label="Scoreboard (this session; counts are images)",
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
                    columns=5,
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

        # Hidden inputs/outputs for the scripting endpoint /generate (environment keys only).
        with gr.Column(visible=False):
            api_prompt = gr.Textbox()
            api_backends = gr.CheckboxGroup(choices=order, value=[o for o in order if o != "local"])
            api_ratio = gr.Dropdown(controls.RATIO_CHOICES, value=CUSTOM)
            api_width = gr.Number(value=1024, precision=0)
            api_height = gr.Number(value=1024, precision=0)
            api_steps = gr.Number(value=4, precision=0)
            api_guidance = gr.Number(value=3.5)
            api_seed = gr.Number(value=0, precision=0)
            api_num = gr.Number(value=1, precision=0)
            api_gallery = gr.Gallery(format="png")
            api_records = gr.JSON()
            api_btn = gr.Button()

        # ---- handlers ------------------------------------------------------------------
        col_outputs = [x for b in order for x in (columns[b], col_md[b], col_gallery[b])]
        run_outputs = [summary, *col_outputs, history, score_table, score_plot, sheet_file, json_file]

        async def on_generate(sess: Session, text, selected, ratio_v, w, h, steps_v, guid, seed_v, n, same, fk, ak):
            if not selected:
                raise gr.Error("Tick at least one backend.")
            try:
                req = controls.build_request(text, ratio_v, w, h, steps_v, guid, seed_v, n, same)
            except InvalidRequest as err:
                raise gr.Error(f"Nothing was sent: {err}.") from err
            req = req.with_seed()
            chosen = [backends[b] for b in order if b in selected]
            sec = session_secrets(fk, ak)
            started = time.perf_counter()
            first = {summary: f"Running seed **{req.seed}** on {', '.join(b.label for b in chosen)}…"}
            for b in order:
                first[columns[b]] = gr.Column(visible=b in selected)
                first[col_md[b]] = f"### {backends[b].label}\n\n⏳ waiting…"
                first[col_gallery[b]] = gr.Gallery(value=None, columns=1 if req.num_images == 1 else 2)
            yield first
            state = None
            async for state, event in sess.run(req, chosen, {"fireworks": fk, "aiml": ak}, sec):
                b = backends[event.backend]
                if isinstance(event, BackendRun):
                    yield {
                        col_md[b.id]: column_text(b, state, sec),
                        col_gallery[b.id]: state.images.get(b.id) or None,
                        history: sess.history.gallery(),
                        score_table: sess.scoreboard.rows(),
                        score_plot: pd.DataFrame(sess.scoreboard.plot_rows(), columns=["backend", "median_s"]),
                    }
                else:
                    yield {col_md[b.id]: f"### {b.label}\n\n⏳ {event.message}"}
            wall = time.perf_counter() - started
            slowest = max((r.wall_s for r in state.runs.values()), default=0.0)
            sheet, record = export_run(state, chosen, sess.history.dir / "export", sec)
            ok = sum(o.image is not None for r in state.runs.values() for o in r.outcomes)
            asked = req.num_images * len(chosen)
            sess.run_count += 1
            yield {
                summary: f"Run {sess.run_count} · seed **{req.seed}** · {ok}/{asked} image(s) · "
                f"run wall time **{wall:.2f} s** "
                f"(slowest backend {slowest:.2f} s)",
                sheet_file: str(sheet),
                json_file: str(record),
                status: status_markdown(fk, ak),
            }

        async def on_cancel(sess: Session):
            sess.cancel.set()

        async def api_generate(
            prompt, backends, aspect_ratio, width, height, num_inference_steps, guidance_scale, seed, num_images
        ):
            selected = [b for b in order if b in (backends or [])]
            if not selected:
                raise gr.Error(f"Name at least one backend: {', '.join(order)}.")
            w, h = controls.api_size(aspect_ratio, width, height)
            try:
                req = controls.build_request(
                    prompt, aspect_ratio, w, h, num_inference_steps, guidance_scale, seed, num_images
                )
            except InvalidRequest as err:
                raise gr.Error(f"Nothing was sent: {err}.") from err
            req = req.with_seed()
            chosen = [registry[b] for b in selected]
            sess = Session()
            sess.history = api_store
            gallery, recs = [], []
            async for state, event in sess.run(req, chosen, {}, list(secrets)):
                if isinstance(event, BackendRun):
                    gallery += state.images.get(event.backend, [])
            recs = state.records
            return gallery, recs

        def on_ratio(r, w, h):
            nw, nh = controls.size_for_ratio(r, w, h)
            return nw, nh

        def on_resize(w, h, same):
            r, nw, nh = controls.ratio_after_resize(w, h, same)
            return r, nw, nh

        def on_same_size(same, r, w, h):
            if not same:
                return gr.Dropdown(choices=controls.RATIO_CHOICES), w, h
            r2, nw, nh = controls.ratio_after_resize(w, h, True)
            return gr.Dropdown(value=r2, choices=controls.RATIO_CHOICES[:-1]), nw, nh

        def on_select(sess: Session, evt: gr.SelectData):
            entry = list(sess.history.entries)[evt.index]
            sess.selected = entry.params
            p = entry.params
            text = (
                f"**{entry.caption}**\n\n"
                f"Prompt: {p['prompt']}\n\n"
                f"Backend `{p['backend']}` · seed `{p['seed']}` · {p['width']}×{p['height']} "
                f"(ratio {p['aspect_ratio']}) · {p['num_inference_steps']} steps · guidance {p['guidance_scale']}"
            )
            return text, gr.DownloadButton(value=str(entry.path))

        def on_reuse_seed(sess: Session):
            if not sess.selected:
                raise gr.Error("Select an image in the history first.")
            return sess.selected["seed"]

        def apply_params(p: dict):
            return (
                p.get("prompt", ""),
                [p["backend"]] if p.get("backend") in backends else gr.skip(),
                p.get("aspect_ratio") if p.get("aspect_ratio") in controls.RATIO_CHOICES else CUSTOM,
                p.get("width", 1024),
                p.get("height", 1024),
                p.get("num_inference_steps", 4),
                p.get("guidance_scale", 3.5),
                p.get("seed", 0),
                1,
            )

        def on_reuse_settings(sess: Session):
            if not sess.selected:
                raise gr.Error("Select an image in the history first.")
            return apply_params(sess.selected)

        def on_restore(path):
            if not path:
                return (gr.skip(),) * 9
            params = read_params(path)
            if not params:
                gr.Warning("That PNG carries no playground settings.")
                return (gr.skip(),) * 9
            gr.Info(f"Restored settings: {params.get('backend')} · seed {params.get('seed')}")
            return apply_params(params)

        form = [prompt, ticked, ratio, width, height, steps, guidance, seed, num_images]
        gen_inputs = [
            session,
            prompt,
            ticked,
            ratio,
            width,
            height,
            steps,
            guidance,
            seed,
            num_images,
            same_size,
            fw_key,
            aiml_key,
        ]
        for trigger in (generate_btn.click, prompt.submit):
            trigger(
                on_generate,
                gen_inputs,
                run_outputs + [status],
                api_visibility="private",
                concurrency_limit=16,
                concurrency_id="generate",
                show_progress="minimal",
            )
        cancel_btn.click(on_cancel, [session], None, queue=False, api_visibility="private")
        api_btn.click(
            api_generate,
            [api_prompt, api_backends, api_ratio, api_width, api_height, api_steps, api_guidance, api_seed, api_num],
            [api_gallery, api_records],
            api_name="generate",
            concurrency_limit=16,
            concurrency_id="generate",
        )
        ratio.input(on_ratio, [ratio, width, height], [width, height], api_visibility="private", queue=False)
        for slider in (width, height):
            slider.input(
                on_resize, [width, height, same_size], [ratio, width, height], api_visibility="private", queue=False
            )
        same_size.input(
            on_same_size,
            [same_size, ratio, width, height],
            [ratio, width, height],
            api_visibility="private",
            queue=False,
        )
        ticked.change(
            lambda s: gr.Slider(info=guidance_info(s)), [ticked], [guidance], api_visibility="private", queue=False
        )
        for key in (fw_key, aiml_key):
            key.change(status_markdown, [fw_key, aiml_key], [status], api_visibility="private", queue=False)
        history.select(on_select, [session], [details, download_btn], api_visibility="private")
        reuse_seed_btn.click(on_reuse_seed, [session], [seed], api_visibility="private")
        reuse_all_btn.click(on_reuse_settings, [session], form, api_visibility="private")
        restore.upload(on_restore, [restore], form, api_visibility="private")
        if "local" in backends:

            def on_local_settings(p, o, fk, ak):
                backends["local"].reconfigure(precision=p, offload=o)
                return status_markdown(fk, ak)

            for c in (precision, offload):
                c.input(on_local_settings, [precision, offload, fw_key, aiml_key], [status], api_visibility="private")
        demo.load(status_markdown, [fw_key, aiml_key], [status], api_visibility="private")
    return demo
