"""What the page does: the event handlers, and the wiring of components to them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from backends import Backend, BackendRun, InvalidRequest
from backends.sizes import CUSTOM
from ui import controls
from ui.layout import guidance_info, status_markdown
from ui.pngmeta import read_params
from ui.session import Session, column_text, export_run


def wire(
    page: SimpleNamespace, session: gr.State, backends: Mapping[str, Backend], secrets: Sequence[str]
) -> Callable[[str, str], str]:
    """Attach every listener; return the status renderer."""
    c = page  # the components, by name
    order = list(backends)

    def show_status(fw_key: str = "", aiml_key: str = "") -> str:
        return status_markdown(backends, fw_key, aiml_key)

    def session_secrets(fw_key: str, aiml_key: str) -> list[str]:
        # Stripped, as the backends use them: a pasted key with a trailing newline must still be redacted.
        return [*secrets, (fw_key or "").strip(), (aiml_key or "").strip()]

    # ---- handlers ------------------------------------------------------------------
    col_outputs = [x for b in order for x in (c.columns[b], c.col_md[b], c.col_gallery[b])]
    run_outputs = [
        c.summary,
        c.results,
        *col_outputs,
        c.history,
        c.score_table,
        c.score_plot,
        c.sheet_file,
        c.json_file,
    ]

    async def on_generate(sess: Session, text, selected, ratio_v, w, h, steps_v, guid, seed_v, n, same, fk, ak):
        # A warning, not gr.Error: an error would stamp every output with an "Error" badge, as if it crashed.
        # (A generator that yields nothing would blank every output: yield "no change" instead.)
        unchanged = {c.summary: gr.skip()}
        if sess is None:
            gr.Warning("The page is still loading; try again in a moment.")
            yield unchanged
            return
        if not selected:
            gr.Warning("Tick at least one backend.")
            yield unchanged
            return
        try:
            req = controls.build_request(text, ratio_v, w, h, steps_v, guid, seed_v, n, same)
        except InvalidRequest as err:
            gr.Warning(f"Nothing was sent: {err}.")
            yield unchanged
            return
        req = req.with_seed()
        chosen = [backends[b] for b in order if b in selected]
        sec = session_secrets(fk, ak)
        cancel = sess.start_run()  # before the first yield, so an early Cancel is not lost
        started = time.perf_counter()
        first = {
            c.summary: f"Running seed **{req.seed}** on {', '.join(b.label for b in chosen)}…",
            c.results: gr.Column(visible=True),
        }
        for b in order:
            first[c.columns[b]] = gr.Column(visible=b in selected)
            first[c.col_md[b]] = f"### {backends[b].label}\n\n⏳ waiting…"
            first[c.col_gallery[b]] = gr.Gallery(value=None, columns=1 if req.num_images == 1 else 2)
        yield first
        state = None
        async for state, event in sess.run(req, chosen, {"fireworks": fk, "aiml": ak}, sec, cancel):
            b = backends[event.backend]
            if isinstance(event, BackendRun):
                yield {
                    c.col_md[b.id]: column_text(b, state, sec),
                    c.col_gallery[b.id]: state.images.get(b.id) or None,
                    c.history: sess.history.gallery(),
                    c.score_table: sess.scoreboard.rows(),
                    c.score_plot: pd.DataFrame(sess.scoreboard.plot_rows(), columns=["backend", "median_s"]),
                }
            else:
                yield {c.col_md[b.id]: f"### {b.label}\n\n⏳ {event.message}"}
        wall = time.perf_counter() - started
        slowest = max((r.wall_s for r in state.runs.values()), default=0.0)
        sheet, record = await asyncio.to_thread(export_run, state, chosen, sess.history.dir / "export", sec)
        ok = sum(o.image is not None for r in state.runs.values() for o in r.outcomes)
        asked = req.num_images * len(chosen)
        sess.run_count += 1
        yield {
            c.summary: f"Run {sess.run_count} · seed **{req.seed}** · {ok}/{asked} image(s) · "
            f"run wall time **{wall:.2f} s** "
            f"(slowest backend {slowest:.2f} s)",
            c.sheet_file: str(sheet),
            c.json_file: str(record),
            c.status: show_status(fk, ak),
        }

    async def on_cancel(sess: Session | None):
        if sess is not None:
            sess.cancel_all()

    def on_same_size(same, r, w, h):
        if not same:
            return gr.Dropdown(choices=controls.RATIO_CHOICES), w, h
        r2, nw, nh = controls.ratio_after_resize(w, h, True)
        return gr.Dropdown(value=r2, choices=controls.RATIO_CHOICES[:-1]), nw, nh

    def on_select(sess: Session, evt: gr.SelectData):
        if sess is None:
            raise gr.Error("The page is still loading.")
        # Match by caption: a run may have added images since the gallery the user clicked was drawn.
        entries = list(sess.history.entries)
        shown = evt.value.get("caption") if isinstance(evt.value, dict) else None
        entry = next((e for e in entries if e.caption == shown), None)
        if entry is None:
            if not 0 <= evt.index < len(entries):
                raise gr.Error("That image is no longer in the history.")
            entry = entries[evt.index]
        sess.selected = entry.params
        p = entry.params
        backend = backends.get(p["backend"])
        guidance_text = f"guidance {p['guidance_scale']}" if backend and backend.honours_guidance else "no guidance"
        text = (
            f"**{entry.caption}**\n\n"
            f"Prompt: {p['prompt']}\n\n"
            f"{backend.label if backend else p['backend']} · seed {p['seed']} · {p['width']}×{p['height']} "
            f"(ratio {p['aspect_ratio']}) · {p['num_inference_steps']} steps · {guidance_text}"
        )
        return text, gr.DownloadButton(value=str(entry.path))

    def on_reuse_seed(sess: Session | None):
        if not sess or not sess.selected:
            raise gr.Error("Select an image in the history first.")
        return sess.selected["seed"]

    def apply_params(p: dict, ticked_now: list[str] | None):
        # Keep what is ticked and add the image's backend: its seed remakes the image only there.
        keep = [b for b in order if b in (ticked_now or []) or b == p.get("backend")]
        return (
            p.get("prompt", ""),
            keep or gr.skip(),
            p.get("aspect_ratio") if p.get("aspect_ratio") in controls.RATIO_CHOICES else CUSTOM,
            p.get("width", 1024),
            p.get("height", 1024),
            p.get("num_inference_steps", 4),
            p.get("guidance_scale", 3.5),
            p.get("seed", 0),
            1,
        )

    def on_reuse_settings(sess: Session, ticked_now):
        if not sess or not sess.selected:
            raise gr.Error("Select an image in the history first.")
        return apply_params(sess.selected, ticked_now)

    def on_restore(path, ticked_now):
        if not path:
            return (gr.skip(),) * 9
        params = read_params(path)
        if not params:
            gr.Warning("That PNG carries no playground settings.")
            return (gr.skip(),) * 9
        made_by = backends[params["backend"]].label if params.get("backend") in backends else "unknown backend"
        gr.Info(f"Restored settings: {made_by} · seed {params.get('seed')}")
        return apply_params(params, ticked_now)

    form = [c.prompt, c.ticked, c.ratio, c.width, c.height, c.steps, c.guidance, c.seed, c.num_images]
    gen_inputs = [session, *form, c.same_size, c.fw_key, c.aiml_key]
    for trigger in (c.generate_btn.click, c.prompt.submit):
        trigger(
            on_generate,
            gen_inputs,
            run_outputs + [c.status],
            api_visibility="private",
            concurrency_limit=16,
            concurrency_id="generate",
            show_progress="minimal",
        )
    c.cancel_btn.click(on_cancel, [session], None, queue=False, api_visibility="private")
    private = {"api_visibility": "private", "queue": False}
    c.ratio.input(controls.size_for_ratio, [c.ratio, c.width, c.height], [c.width, c.height], **private)
    for slider in (c.width, c.height):
        slider.input(
            controls.ratio_after_resize, [c.width, c.height, c.same_size], [c.ratio, c.width, c.height], **private
        )
    c.same_size.input(on_same_size, [c.same_size, c.ratio, c.width, c.height], [c.ratio, c.width, c.height], **private)
    c.ticked.change(lambda s: gr.Slider(info=guidance_info(s)), [c.ticked], [c.guidance], **private)
    for key in (c.fw_key, c.aiml_key):
        key.change(show_status, [c.fw_key, c.aiml_key], [c.status], **private)
    c.history.select(on_select, [session], [c.details, c.download_btn], api_visibility="private")
    c.reuse_seed_btn.click(on_reuse_seed, [session], [c.seed], api_visibility="private")
    c.reuse_all_btn.click(on_reuse_settings, [session, c.ticked], form, api_visibility="private")
    c.restore.upload(on_restore, [c.restore, c.ticked], form, api_visibility="private")
    if "local" in backends:

        def on_local_settings(precision, offload, fk, ak):
            backends["local"].reconfigure(precision=precision, offload=offload)
            return show_status(fk, ak)

        for control in (c.precision, c.offload):
            control.input(
                on_local_settings, [c.precision, c.offload, c.fw_key, c.aiml_key], [c.status], api_visibility="private"
            )
    return show_status
