"""What the page does: one top-level function per handler, over an explicit Context, and the wiring.

Each handler takes the Context first and the component values after, so a test can call it alone.
`wire` binds the context with `types.MethodType` (not functools.partial): Gradio reads a bound
method's type hints, which it needs to pass `gr.Request` and `gr.SelectData`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import gradio as gr

from backends import Backend, BackendRun, InvalidRequest
from backends.sizes import CUSTOM, MAX_SIDE, MIN_SIDE
from config import PageOptions
from images.pngmeta import read_params
from runs import form as controls
from runs.history import HistoryEntry
from runs.session import RunState, Session, column_text, export_run
from spend.allowance import Allowance, Refused, Ticket, plan_spend
from ui.page.copy_code import wire_code
from ui.page.layout import (
    NOTHING_READY,
    Page,
    backend_choices,
    guidance_info,
    ready_ids,
    status_markdown,
)
from ui.page.progress import column_status, skipped_status

log = logging.getLogger(__name__)
NOTE_LIMIT = 2000  # characters of the browser's clamp report we read; it is client input


@dataclass
class Context:
    """What handlers need besides the values of components."""

    page: Page
    backends: Mapping[str, Backend]
    secrets: Sequence[str] = ()
    options: PageOptions = field(default_factory=PageOptions)
    allowance: Allowance = field(default_factory=lambda: Allowance(PageOptions()))

    @property
    def order(self) -> list[str]:
        return list(self.backends)

    def session_secrets(self, fw_key: str, aiml_key: str, sess: Session | None = None) -> list[str]:
        # Stripped, as the backends use them: a pasted key with a trailing newline must still be redacted.
        pasted = list(sess.endpoint_keys.values()) if sess is not None else []
        return [*self.secrets, (fw_key or "").strip(), (aiml_key or "").strip(), *pasted]

    def keys(self, fw_key: str, aiml_key: str, sess: Session | None = None) -> dict[str, str]:
        """Every key pasted in this browser session, by backend id."""
        return {**(sess.endpoint_keys if sess is not None else {}), "fireworks": fw_key, "aiml": aiml_key}


# ---- status and backends --------------------------------------------------------------


def on_status(ctx: Context, fw_key: str = "", aiml_key: str = "", sess: Session | None = None) -> tuple[str, dict]:
    """Each backend's status line, and the 'nothing is ready' note when none can run."""
    keys = ctx.keys(fw_key, aiml_key, sess)
    return status_text(ctx, fw_key, aiml_key, keys), gr.Markdown(
        NOTHING_READY, visible=not ready_ids(ctx.backends, keys)
    )


def on_ticked(ctx: Context, ticked: list[str], fw_key: str, aiml_key: str, sess: Session | None = None) -> dict:
    """Ticking a backend that cannot run says so at once, with the fix; guidance info follows the ticks."""
    keys = ctx.keys(fw_key, aiml_key, sess)
    blocked = [ctx.backends[b] for b in ticked or [] if b in ctx.backends and not ctx.backends[b].status(keys).ready]
    if blocked:
        gr.Warning(" ".join(f"{b.label} cannot run: {b.status(keys).message}." for b in blocked))
    return gr.Slider(info=guidance_info(ctx.backends, ticked))


def on_local_settings(ctx: Context, precision: str, offload: str, fw_key: str, aiml_key: str, ticked: list[str]):
    """Reconfigure the shared local model, where the operator allows it; labels follow the precision."""
    local = ctx.backends["local"]
    if not ctx.options.local_settings_editable:
        gr.Warning("Local settings are read-only on this public Space (the operator can set ALLOW_LOCAL_SETTINGS=1).")
        return local.settings.precision, local.settings.offload, *on_status(ctx, fw_key, aiml_key), gr.skip(), gr.skip()
    local.reconfigure(precision=precision, offload=offload)
    return (
        gr.skip(),
        gr.skip(),
        *on_status(ctx, fw_key, aiml_key),
        gr.CheckboxGroup(choices=backend_choices(ctx.backends)),
        gr.Slider(info=guidance_info(ctx.backends, ticked)),
    )


def on_endpoint_keys(ctx: Context, sess: Session | None, fw_key: str, aiml_key: str, *pasted: str):
    """Keys pasted for OPENAI_IMAGE_BACKENDS endpoints: kept in this visitor's Session only; status follows."""
    if sess is not None:
        ids = list(ctx.page.endpoint_keys)
        sess.endpoint_keys = {i: k.strip() for i, k in zip(ids, pasted, strict=False) if k and k.strip()}
    return on_status(ctx, fw_key, aiml_key, sess)


def on_load_local(ctx: Context):
    """Every visitor sees the settings the shared model runs with now, and labels that match them."""
    local = ctx.backends["local"]
    return local.settings.precision, local.settings.offload, gr.CheckboxGroup(choices=backend_choices(ctx.backends))


# ---- size controls --------------------------------------------------------------------


def on_ratio(ratio: str, width: float, height: float) -> tuple[int, int]:
    return controls.size_for_ratio(ratio, width, height)


def on_size_change(width: float, height: float, same_size: bool):
    """The ratio follows the size (after a clamp too). Width and height are written back only when
    `Same size everywhere` snaps them, so a late reply can't undo a value typed meanwhile.

    Called unpreprocessed: a typed 5000 can arrive before its box clamps it, and Gradio's slider would
    refuse it (no ratio at all); the ratio is the one for the value the box will show."""
    width, height = (min(max(v, MIN_SIDE), MAX_SIDE) if isinstance(v, int | float) else v for v in (width, height))
    ratio, w, h = controls.ratio_after_resize(width, height, bool(same_size))
    if not same_size:
        return ratio, gr.skip(), gr.skip()
    return ratio, (w if w != controls.whole(width) else gr.skip()), (h if h != controls.whole(height) else gr.skip())


def on_same_size(same: bool, width: float, height: float):
    if not same:
        return gr.Dropdown(choices=controls.RATIO_CHOICES), gr.skip(), gr.skip()
    ratio, w, h = controls.ratio_after_resize(width, height, True)
    return gr.Dropdown(value=ratio, choices=controls.RATIO_CHOICES[:-1]), w, h


# ---- a run ---------------------------------------------------------------------------


def clamp_warning(note: str | None) -> str | None:
    """The browser reports typed values a slider clamped on leaving the box; say which, and what is allowed."""
    if not note:
        return None
    try:
        items = json.loads(note[:NOTE_LIMIT])
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    parts = []
    for item in items[:8]:
        if not isinstance(item, dict):
            continue
        label, value = str(item.get("label", "a value"))[:40], str(item.get("value", "?"))[:24]
        low, high, now = (str(item.get(k, "?"))[:24] for k in ("min", "max", "now"))
        parts.append(f"{label} {value} is outside {low}–{high}; the box now shows {now}")
    if not parts:
        return None
    return "Nothing was sent: " + "; ".join(parts) + ". Check it and press Generate again."


def take_allowance(
    ctx: Context, request: gr.Request | None, items: list[tuple[Backend, int]], keys: Mapping[str, str], what: str
) -> Ticket:
    """Take the images ``items`` (backend, steps) spend on the server's keys, or raise Refused (logged once)."""
    try:
        return ctx.allowance.take(request, plan_spend(items, keys), what)
    except Refused as refusal:
        log.info("refused %s: %s", what, refusal.message)
        raise


def status_text(ctx: Context, fw_key: str, aiml_key: str, keys: Mapping[str, str] | None = None) -> str:
    """Each backend's status line, and what is left of today's budget."""
    budget = ctx.allowance.budget_line()
    return status_markdown(ctx.backends, fw_key, aiml_key, keys) + (f"\n\n{budget}" if budget else "")


def pick_ab_pair(state: RunState) -> tuple[str | None, str | None]:
    """By default, two backends at the same seed; else the first two images of one backend."""
    # In the page's backend order, not the order they finished in: the default must not depend on timing.
    order = [b for b in state.backends if b in state.entries] + [b for b in state.entries if b not in state.backends]
    by_backend = [state.entries[b] for b in order if state.entries[b]]
    for i, first in enumerate(by_backend):
        for other in by_backend[i + 1 :]:
            for a in first:
                match = next((b for b in other if b.params.get("seed") == a.params.get("seed")), None)
                if match is not None:
                    return a.caption, match.caption
    everything = state.all_entries()
    if len(everything) >= 2:
        return everything[0].caption, everything[1].caption
    return None, None


def refuse(ctx: Context, message: str) -> dict:
    """One warning, one log line, nothing sent, and no output touched (a generator must yield something)."""
    gr.Warning(message)
    log.info("refused a run: %s", message)
    return {ctx.page.summary: gr.skip()}


async def on_generate(
    ctx: Context,
    sess: Session | None,
    text: str,
    selected: list[str],
    ratio_v: str,
    w: float,
    h: float,
    steps_v: float,
    guid: float,
    seed_v: float | None,
    n: float,
    same: bool,
    fk: str,
    ak: str,
    note: str,
    request: gr.Request = None,
):
    """Validate, then run the ticked backends at once, streaming each column in as it finishes."""
    # A warning, not gr.Error: an error would stamp every output with an "Error" badge, as if it crashed.
    c = ctx.page
    if sess is None:
        yield refuse(ctx, "The page is still loading (or this tab has been idle too long: reload it).")
        return
    if sess.active:
        yield refuse(ctx, "A run is still going: wait for it to finish, or press Cancel.")
        return
    if not selected:
        yield refuse(ctx, "Nothing was sent: tick at least one backend.")
        return
    if clamped := clamp_warning(note):
        yield refuse(ctx, clamped)
        return
    try:
        req = controls.build_request(text, ratio_v, w, h, steps_v, guid, seed_v, n, same)
    except InvalidRequest as err:
        yield refuse(ctx, f"Nothing was sent: {err}.")
        return
    keys = ctx.keys(fk, ak, sess)
    chosen = [ctx.backends[b] for b in ctx.order if b in selected]
    blocked = {b.id: b.status(keys).message for b in chosen if not b.status(keys).ready}
    runnable = [b for b in chosen if b.id not in blocked]
    if not runnable:
        yield refuse(ctx, "Nothing was sent: " + " ".join(f"{b.label} cannot run: {blocked[b.id]}." for b in chosen))
        return
    try:
        items = [(b, req.num_inference_steps) for b in runnable for _ in range(req.num_images)]
        ticket = take_allowance(ctx, request, items, keys, "this run")
    except Refused as refusal:
        gr.Warning(refusal.message)
        yield {c.summary: gr.skip()}
        return
    if blocked:
        gr.Warning(" ".join(f"Not run: {ctx.backends[b].label} cannot run: {m}." for b, m in blocked.items()))
    req = req.with_seed()
    sec = ctx.session_secrets(fk, ak, sess)
    cancel = sess.start_run()  # before the first yield, so an early Cancel is not lost
    history_version = sess.history.version
    had_ab = sess.current is not None and bool(sess.current.all_entries())  # the A/B choices name its images
    started = time.perf_counter()
    first = {
        c.summary: f"Running seed **{req.seed}** on {', '.join(b.label for b in runnable)}…",
        c.results: gr.Column(visible=True),
        c.viewer: None,
        c.viewer_caption: "Waiting for the first image…",
        c.generate_btn: gr.Button("Running…", interactive=False),
        c.cancel_btn: gr.Button(interactive=True),
        c.timer: gr.Timer(active=True),
    }
    for b in ctx.order:
        label = ctx.backends[b].label
        first[c.columns[b]] = gr.Column(visible=b in selected)
        waiting = column_status(label, started, None, None)
        first[c.col_status[b]] = skipped_status(label, blocked[b]) if b in blocked else waiting
        first[c.col_md[b]] = ""
        first[c.col_gallery[b]] = gr.Gallery(value=None, columns=1 if req.num_images == 1 else 2)
    yield first
    state = None
    viewer_set = False
    try:
        async for state, event in sess.run(req, runnable, keys, sec, cancel):
            b = ctx.backends[event.backend]
            if isinstance(event, BackendRun):
                # Only this backend's column; the rest is left as it is (the scoreboard goes once, at the end).
                update = {
                    c.col_status[b.id]: column_status(b.label, state.started, event, None),
                    c.col_md[b.id]: column_text(b, state, sec),
                    c.col_gallery[b.id]: state.images.get(b.id) or None,
                }
                entries = state.entries.get(b.id) or []
                if entries and not viewer_set:  # the first image to land fills the viewer; later ones don't jump it
                    viewer_set = True
                    update.update(show_entry(ctx, sess, entries[0]))
                yield update
            else:
                yield {c.col_status[b.id]: column_status(b.label, state.started, None, event)}
    finally:  # what was not billed goes back to the visitor's day and the budget
        ctx.allowance.settle(ticket, list(state.runs.values()) if state is not None else [])
    wall = time.perf_counter() - started
    slowest = max((r.wall_s for r in state.runs.values()), default=0.0)
    sheet, record = await asyncio.to_thread(export_run, state, runnable, sess.history.dir / "export", sec)
    ok = sum(o.image is not None for r in state.runs.values() for o in r.outcomes)
    asked = req.num_images * len(runnable)
    sess.run_count += 1
    captions = [e.caption for e in state.all_entries()]
    a, b2 = pick_ab_pair(state)
    final = {
        c.summary: f"Run {sess.run_count} · seed **{req.seed}** · {ok}/{asked} image{'s' if asked != 1 else ''} · "
        f"run wall time **{wall:.2f} s** (slowest backend {slowest:.2f} s)",
        c.sheet_file: str(sheet),
        c.json_file: str(record),
        c.status: status_text(ctx, fk, ak, ctx.keys(fk, ak, sess)),
        c.score_table: sess.scoreboard.rows(),
        c.score_plot: sess.scoreboard.plot_frame(),  # data only: new limits with new data lost a bar
    }
    # The history (up to 96 files) goes out only when this run added to it; so do the A/B choices.
    if sess.history.version != history_version:
        final[c.history] = sess.history.gallery()
    if captions or had_ab:
        final.update({c.ab_a: gr.Dropdown(choices=captions, value=a), c.ab_b: gr.Dropdown(choices=captions, value=b2)})
        final[c.ab_slider] = ab_images(sess, a, b2)
    if not viewer_set:
        final[c.viewer_caption] = "No image in this run: each column says why."
    yield final


def on_run_end(ctx: Context, sess: Session | None):
    """After a run (or a refused one): Generate back, Cancel off, the clock stopped; not while another runs."""
    if sess is not None and sess.active:
        return gr.skip(), gr.skip(), gr.skip()
    return gr.Button("Generate", interactive=True), gr.Button(interactive=False), gr.Timer(active=False)


async def on_cancel(sess: Session | None) -> None:
    if sess is not None:
        sess.cancel_all()


def on_tick(ctx: Context, sess: Session | None):
    """Every half second while a run goes: each column's elapsed time and step bar."""
    state = sess.current if sess else None
    if state is None:
        return [gr.skip()] * len(ctx.order)
    # Backends not in this run (or skipped) keep their text; the others show elapsed time or their result.
    return [
        column_status(ctx.backends[b].label, state.started, state.runs.get(b), state.progress.get(b))
        if b in state.backends
        else gr.skip()
        for b in ctx.order
    ]


# ---- picking images --------------------------------------------------------------------


def entry_details(ctx: Context, entry: HistoryEntry) -> str:
    p = entry.params
    backend = ctx.backends.get(p.get("backend"))
    guidance_text = f"guidance {p.get('guidance_scale')}" if backend and backend.honours_guidance else "no guidance"
    steps = p.get("num_inference_steps")
    return (
        f"**{entry.caption}**\n\n"
        f"Prompt: {p.get('prompt')}\n\n"
        f"{backend.label if backend else p.get('backend')} · seed {p.get('seed')} · {p.get('width')}×{p.get('height')} "
        f"(ratio {p.get('aspect_ratio')}) · {steps} step{'s' if steps != 1 else ''} · {guidance_text}"
    )


def show_entry(ctx: Context, sess: Session, entry: HistoryEntry) -> dict:
    """The large viewer, its full caption and the details panel for one image; Reuse acts on it."""
    c = ctx.page
    sess.selected = entry.params
    return {
        c.viewer: str(entry.path),
        c.viewer_caption: f"**{entry.caption}**",
        c.details: entry_details(ctx, entry),
        c.download_btn: gr.DownloadButton(value=str(entry.path)),
    }


def on_pick(ctx: Context, sess: Session | None, evt: gr.SelectData):
    """A click on a column's or the history's thumbnail shows that image large."""
    if sess is None:
        gr.Warning("The page is still loading.")
        return {ctx.page.details: gr.skip()}
    entry = None
    # By elem_id: the event's target may be the session's copy of the component, not ours.
    target = getattr(evt.target, "elem_id", None)
    backend = next((b for b, g in ctx.page.col_gallery.items() if g.elem_id == target), None)
    if backend is not None and sess.current is not None:
        entries = sess.current.entries.get(backend) or []
        entry = entries[evt.index] if 0 <= evt.index < len(entries) else None
    else:
        # Match by caption: a run may have added images since the gallery the user clicked was drawn.
        shown = evt.value.get("caption") if isinstance(evt.value, dict) else None
        entries = list(sess.history.entries)
        entry = next((e for e in entries if e.caption == shown), None)
        if entry is None and 0 <= evt.index < len(entries):
            entry = entries[evt.index]
    if entry is None:
        gr.Warning("That image is no longer available.")
        return {ctx.page.details: gr.skip()}
    return show_entry(ctx, sess, entry)


def ab_images(sess: Session, a: str | None, b: str | None):
    """The two images for the A/B slider, looked up by caption among the latest run's (never a client path)."""
    state = sess.current
    if state is None or not a or not b:
        return None
    by_caption = {e.caption: e for e in state.all_entries()}
    if a not in by_caption or b not in by_caption:
        return None
    return str(by_caption[a].path), str(by_caption[b].path)


def on_ab(sess: Session | None, a: str | None, b: str | None):
    if sess is None:
        return gr.skip()
    return ab_images(sess, a, b)


# ---- reuse and restore -----------------------------------------------------------------


def on_reuse_seed(ctx: Context, sess: Session | None):
    """The selected image's seed into the form, saying so (the form may be off-screen)."""
    if not sess or not sess.selected:
        gr.Warning("Select an image first (click a thumbnail).")
        return gr.skip()
    p = sess.selected
    backend = ctx.backends.get(p.get("backend"))
    gr.Info(f"Seed set to {p['seed']}: it remakes that image on {backend.label if backend else p.get('backend')}.")
    return p["seed"]


FORM_SIZE = 9  # prompt, ticked, ratio, width, height, steps, guidance, seed, images


def apply_params(ctx: Context, p: dict, ticked_now: list[str] | None, num_images: float = 1) -> tuple:
    # Keep what is ticked and add the image's backend: its seed remakes the image only there.
    keep = [b for b in ctx.order if b in (ticked_now or []) or b == p.get("backend")]
    return (
        p.get("prompt", ""),
        keep or gr.skip(),
        p.get("aspect_ratio") if p.get("aspect_ratio") in controls.RATIO_CHOICES else CUSTOM,
        p.get("width", 1024),
        p.get("height", 1024),
        p.get("num_inference_steps", 4),
        p.get("guidance_scale", 3.5),
        p.get("seed", 0),
        num_images,  # a setting of the form, not of the image: Reuse keeps it
    )


def on_reuse_settings(ctx: Context, sess: Session | None, *form: object):
    """The selected image's settings into the form (keeping Images per backend), naming what changed."""
    if not sess or not sess.selected:
        gr.Warning("Select an image first (click a thumbnail).")
        return (gr.skip(),) * FORM_SIZE
    after = apply_params(ctx, sess.selected, form[1], form[-1])
    changed = controls.changed_settings(form, after)
    gr.Info(f"Settings reused: {', '.join(changed)}." if changed else "The form already has this image's settings.")
    return after


def on_restore(ctx: Context, path: str | None, ticked_now: list[str]):
    """A dropped PNG fills the form with its settings; anything else gets exactly one warning."""
    if not path:
        return (gr.skip(),) * FORM_SIZE
    try:
        params = read_params(path)
        if params:
            # The same validation as a run: a crafted chunk must not fill the form with junk.
            controls.build_request(
                params.get("prompt", ""),
                params.get("aspect_ratio", CUSTOM),
                params.get("width", 1024),
                params.get("height", 1024),
                params.get("num_inference_steps", 4),
                params.get("guidance_scale", 3.5),
                params.get("seed", 0),
                1,
            )
    except InvalidRequest as err:
        gr.Warning(f"That PNG's settings are not valid here ({err}); nothing was changed.")
        return (gr.skip(),) * FORM_SIZE
    except Exception as err:  # a crafted file may break the parser in any way: one warning, not a crash
        log.info("restore: unreadable PNG: %s", type(err).__name__)
        gr.Warning("That file could not be read as a PNG made here; nothing was changed.")
        return (gr.skip(),) * FORM_SIZE
    if not params:
        gr.Warning("That PNG carries no playground settings; nothing was changed.")
        return (gr.skip(),) * FORM_SIZE
    made_by = ctx.backends[params["backend"]].label if params.get("backend") in ctx.backends else "unknown backend"
    gr.Info(f"Restored settings: {made_by} · seed {params.get('seed')}")
    return apply_params(ctx, params, ticked_now)


# ---- wiring ----------------------------------------------------------------------------

# Runs in the browser before a run is sent: report typed values a slider clamped (see theme.HEAD),
# and on a phone bring the results into view.
GENERATE_JS = """(...args) => {
  const note = window.__fluxClamped || [];
  window.__fluxClamped = [];
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
    c = page

    def bind(fn: Callable) -> Callable:
        return types.MethodType(fn, ctx)

    private = {"api_visibility": "private", "queue": False}
    form = [c.prompt, c.ticked, c.ratio, c.width, c.height, c.steps, c.guidance, c.seed, c.num_images]
    run_outputs = [
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
    for trigger in (c.generate_btn.click, c.prompt.submit):
        trigger(
            bind(on_generate),
            [session, *form, c.same_size, c.fw_key, c.aiml_key, c.client_note],
            run_outputs,
            js=GENERATE_JS,
            api_visibility="private",
            concurrency_limit=16,
            concurrency_id="generate",
            show_progress="hidden",  # the columns show progress themselves
        ).then(bind(on_run_end), [session], [c.generate_btn, c.cancel_btn, c.timer], **private)
    c.cancel_btn.click(on_cancel, [session], None, **private)
    c.timer.tick(bind(on_tick), [session], list(c.col_status.values()), show_progress="hidden", **private)

    c.ratio.input(on_ratio, [c.ratio, c.width, c.height], [c.width, c.height], **private)
    # One handler for both sliders, whose replies come back in order (always_last): a typed width
    # and then a typed height can't overtake each other.
    gr.on(
        [c.width.change, c.height.change],
        on_size_change,
        [c.width, c.height, c.same_size],
        [c.ratio, c.width, c.height],
        trigger_mode="always_last",
        show_progress="hidden",
        preprocess=False,  # see on_size_change
        **private,
    )
    c.same_size.input(on_same_size, [c.same_size, c.width, c.height], [c.ratio, c.width, c.height], **private)
    # Queued: a warning reaches the page only through the queue.
    c.ticked.input(bind(on_ticked), [c.ticked, c.fw_key, c.aiml_key, session], [c.guidance], api_visibility="private")
    for key in (c.fw_key, c.aiml_key):
        key.change(bind(on_status), [c.fw_key, c.aiml_key, session], [c.status, c.nothing_ready], **private)
    endpoint_keys = list(c.endpoint_keys.values())
    for key in endpoint_keys:
        key.change(
            bind(on_endpoint_keys),
            [session, c.fw_key, c.aiml_key, *endpoint_keys],
            [c.status, c.nothing_ready],
            **private,
        )

    pick_outputs = [c.viewer, c.viewer_caption, c.details, c.download_btn]
    for gallery in (*c.col_gallery.values(), c.history):
        gallery.select(bind(on_pick), [session], pick_outputs, api_visibility="private")
    for dropdown in (c.ab_a, c.ab_b):
        dropdown.input(on_ab, [session, c.ab_a, c.ab_b], [c.ab_slider], api_visibility="private")
    c.reuse_seed_btn.click(bind(on_reuse_seed), [session], [c.seed], api_visibility="private")
    c.reuse_all_btn.click(bind(on_reuse_settings), [session, *form], form, api_visibility="private")
    c.restore.upload(bind(on_restore), [c.restore, c.ticked], form, api_visibility="private")
    if c.code is not None:
        wire_code(c.code, form)
    if c.precision is not None and c.offload is not None:
        for control in (c.precision, c.offload):
            control.input(
                bind(on_local_settings),
                [c.precision, c.offload, c.fw_key, c.aiml_key, c.ticked],
                [c.precision, c.offload, c.status, c.nothing_ready, c.ticked, c.guidance],
                api_visibility="private",
            )
    return ctx
