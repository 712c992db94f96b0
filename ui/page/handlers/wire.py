"""The page's listeners: which handler each component's event calls, with which inputs and outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gradio as gr

from backends import Backend
from config import PageOptions
from spend.allowance import Allowance
from ui.page.copy_code import wire_code
from ui.page.handlers.context import Context, bind
from ui.page.handlers.reuse import on_lightbox, on_restore, on_reuse_seed, on_reuse_settings
from ui.page.handlers.run import on_cancel, on_generate, on_run_end, on_tick
from ui.page.handlers.selection import on_ab, on_pick
from ui.page.handlers.sizes import on_ratio, on_same_size, on_size_change
from ui.page.handlers.status import on_endpoint_keys, on_local_settings, on_status, on_ticked
from ui.page.layout import Page

PRIVATE = {"api_visibility": "private", "queue": False}

# Runs in the browser before a run is sent: report typed values a slider clamped (see theme.HEAD),
# and on a phone bring the results into view.
GENERATE_JS = """(...args) => {
  const note = window.__fluxClamped || [];
  window.__fluxClamped = [];
  // A seed typed as text (e.g. "abc", "1e") reads as empty, which would mean "random": refuse it instead.
  if (document.querySelector('#seed input')?.validity?.badInput) note.push({label: 'Seed', typed: 'not a number'});
  args[args.length - 1] = note.length ? JSON.stringify(note) : "";
  if (window.innerWidth < 640 && String(args[1] || "").trim() && !note.length) {
    // The results show once the run starts: scroll when they are there (there is nothing below yet).
    let tries = 0;
    const bring = setInterval(() => {
      const results = document.querySelector('#results');
      if (++tries > 100 || (results && results.offsetParent !== null)) {
        clearInterval(bring);
        document.querySelector('#run-summary')?.scrollIntoView({block: 'start'});
      }
    }, 100);
  }
  return args;
}"""

# The lightbox's ask (ui/lightbox.py leaves it in window.__fluxLightboxPick) as the hidden pick's value.
LIGHTBOX_JS = """(sess, pick, ...form) => [sess, window.__fluxLightboxPick || "", ...form]"""


def run_outputs(page: Page) -> list:
    """Everything a run may write, in the order Gradio gets them."""
    c = page
    return [
        c.summary,
        c.results,
        c.viewer,
        c.viewer_caption,
        c.details,
        c.download_btn,
        *c.columns.values(),
        *c.col_status.values(),
        *c.col_gallery.values(),
        *c.col_md.values(),
        c.ab_box,
        c.export_box,
        c.ab_a,
        c.ab_b,
        c.ab_slider,
        c.history,
        c.score_table,
        c.score_plot,
        c.sheet_file,
        c.json_file,
        c.status,
        c.generate_btn,
        c.cancel_btn,
        c.timer,
    ]


def wire_run(ctx: Context, session: gr.State) -> None:
    """Generate (button and Ctrl+Enter), Cancel, and the clock that draws each column's progress."""
    c = ctx.page
    for trigger in (c.generate_btn.click, c.form.prompt.submit):
        trigger(
            bind(on_generate, ctx),
            [session, *c.form.inputs, c.same_size, c.fw_key, c.aiml_key, c.client_note],
            run_outputs(c),
            js=GENERATE_JS,
            api_visibility="private",
            concurrency_limit=16,
            concurrency_id="generate",
            show_progress="hidden",  # the columns show progress themselves
        ).then(bind(on_run_end, ctx), [session], [c.generate_btn, c.cancel_btn, c.timer], **PRIVATE)
    c.cancel_btn.click(on_cancel, [session], None, **PRIVATE)
    c.timer.tick(bind(on_tick, ctx), [session], list(c.col_status.values()), show_progress="hidden", **PRIVATE)


def wire_sizes(ctx: Context) -> None:
    """Ratio, width, height and "Same size everywhere" keep each other in step."""
    c, f = ctx.page, ctx.page.form
    f.ratio.input(on_ratio, [f.ratio, f.width, f.height], [f.width, f.height], **PRIVATE)
    # One handler for both sliders, whose replies come back in order (always_last): a typed width
    # and then a typed height can't overtake each other.
    gr.on(
        [f.width.change, f.height.change],
        on_size_change,
        [f.width, f.height, c.same_size],
        [f.ratio, f.width, f.height],
        trigger_mode="always_last",
        show_progress="hidden",
        preprocess=False,  # see on_size_change
        **PRIVATE,
    )
    c.same_size.input(on_same_size, [c.same_size, f.width, f.height], [f.ratio, f.width, f.height], **PRIVATE)


def wire_status(ctx: Context, session: gr.State) -> None:
    """Ticking a backend, pasting a key, and the shared Local model's settings."""
    c = ctx.page
    # Queued: a warning reaches the page only through the queue.
    c.form.ticked.input(
        bind(on_ticked, ctx),
        [c.form.ticked, c.fw_key, c.aiml_key, session],
        [c.form.guidance],
        api_visibility="private",
    )
    for key in (c.fw_key, c.aiml_key):
        key.change(bind(on_status, ctx), [c.fw_key, c.aiml_key, session], [c.status, c.nothing_ready], **PRIVATE)
    endpoint_keys = list(c.endpoint_keys.values())
    for key in endpoint_keys:
        key.change(
            bind(on_endpoint_keys, ctx),
            [session, c.fw_key, c.aiml_key, *endpoint_keys],
            [c.status, c.nothing_ready],
            **PRIVATE,
        )


def wire_selection(ctx: Context, session: gr.State) -> None:
    """A thumbnail shows its image large; the A/B choices; Reuse seed and Reuse settings; Restore from a PNG."""
    c = ctx.page
    pick_outputs = [c.viewer, c.viewer_caption, c.details, c.download_btn]
    for gallery in (*c.col_gallery.values(), c.history):
        gallery.select(bind(on_pick, ctx), [session], pick_outputs, api_visibility="private")
    for dropdown in (c.ab_a, c.ab_b):
        dropdown.input(on_ab, [session, c.ab_a, c.ab_b], [c.ab_slider], api_visibility="private")
    form = c.form.inputs
    c.reuse_seed_btn.click(bind(on_reuse_seed, ctx), [session], [c.form.seed], api_visibility="private")
    c.reuse_all_btn.click(bind(on_reuse_settings, ctx), [session, *form], form, api_visibility="private")
    c.restore.upload(bind(on_restore, ctx), [c.restore, c.form.ticked], form, api_visibility="private")
    c.lightbox_act.click(
        bind(on_lightbox, ctx),
        [session, c.lightbox_pick, *form],
        [*pick_outputs, *form],
        js=LIGHTBOX_JS,
        api_visibility="private",
    )


def wire_local_settings(ctx: Context) -> None:
    """Precision and offload of the shared Local model (where there is one)."""
    c = ctx.page
    if c.precision is None or c.offload is None:
        return
    for control in (c.precision, c.offload):
        control.input(
            bind(on_local_settings, ctx),
            [c.precision, c.offload, c.fw_key, c.aiml_key, c.form.ticked],
            [c.precision, c.offload, c.status, c.nothing_ready, c.form.ticked, c.form.guidance],
            api_visibility="private",
        )


def wire(
    page: Page,
    session: gr.State,
    backends: Mapping[str, Backend],
    secrets: Sequence[str],
    options: PageOptions | None = None,
    allowance: Allowance | None = None,
) -> Context:
    """Attach every listener of the page; return the handlers' context (/generate and /grid: ui/api/endpoints.py)."""
    options = options or PageOptions()
    ctx = Context(page, backends, tuple(secrets), options, allowance or Allowance(options))
    wire_run(ctx, session)
    wire_sizes(ctx)
    wire_status(ctx, session)
    wire_selection(ctx, session)
    if page.code is not None:
        wire_code(page.code, page.form.inputs)
    wire_local_settings(ctx)
    return ctx
