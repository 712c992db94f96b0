"""A run from the page: the checks before anything is sent, the columns streamed in as backends finish,
Cancel and the half-second clock."""

from __future__ import annotations

import json
import logging
import time

import gradio as gr

from backends import BackendRun, InvalidRequest
from runs import form as form_values
from runs.session import RunState, Session, column_text
from spend.allowance import Refused
from ui.page.handlers.context import Context, Launch, take_allowance
from ui.page.handlers.export import finish_update
from ui.page.handlers.selection import show_entry
from ui.page.previews import listening
from ui.page.progress import column_status, skipped_status

log = logging.getLogger(__name__)
NOTE_LIMIT = 2000  # characters of the browser's clamp report we read; it is client input


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
        if item.get("typed"):  # text where a number goes
            parts.append(f"{label} is not a whole number; type one (0 = random)")
            continue
        low, high, now = (str(item.get(k, "?"))[:24] for k in ("min", "max", "now"))
        parts.append(f"{label} {value} is outside {low}–{high}; the box now shows {now}")
    if not parts:
        return None
    return "Nothing was sent: " + "; ".join(parts) + ". Check it and press Generate again."


def refuse(ctx: Context, message: str) -> dict:
    """One warning, one log line, nothing sent, and no output touched (a generator must yield something)."""
    gr.Warning(message)
    log.info("refused a run: %s", message)
    return {ctx.page.summary: gr.skip()}


def check_run(
    ctx: Context,
    sess: Session | None,
    form: tuple,
    same: bool,
    fk: str,
    ak: str,
    note: str,
    request: gr.Request | None,
) -> Launch | dict:
    """The run the form asks for, its spend taken; or, when nothing may be sent, the refusal's update."""
    # A warning, not gr.Error: an error would stamp every output with an "Error" badge, as if it crashed.
    if sess is None:
        return refuse(ctx, "The page is still loading (or this tab has been idle too long: reload it).")
    if sess.active:
        return refuse(ctx, "A run is still going: wait for it to finish, or press Cancel.")
    text, selected, *settings = form
    if not selected:
        return refuse(ctx, "Nothing was sent: tick at least one backend.")
    if clamped := clamp_warning(note):
        return refuse(ctx, clamped)
    try:
        req = form_values.build_request(text, *settings, same)
    except InvalidRequest as err:
        return refuse(ctx, f"Nothing was sent: {err}.")
    keys = ctx.keys(fk, ak, sess)
    chosen = [ctx.backends[b] for b in ctx.order if b in selected]
    blocked = {b.id: b.status(keys).message for b in chosen if not b.status(keys).ready}
    runnable = [b for b in chosen if b.id not in blocked]
    if not runnable:
        return refuse(ctx, "Nothing was sent: " + " ".join(f"{b.label} cannot run: {blocked[b.id]}." for b in chosen))
    try:
        items = [(b, req.num_inference_steps) for b in runnable for _ in range(req.num_images)]
        ticket = take_allowance(ctx, request, items, keys, "this run")
    except Refused as refusal:  # logged where it was taken
        gr.Warning(refusal.message)
        return {ctx.page.summary: gr.skip()}
    return Launch(req.with_seed(), runnable, blocked, keys, ticket)


def first_update(ctx: Context, launch: Launch, selected: list[str], started: float) -> dict:
    """The run's first update: the results shown, a column per ticked backend waiting, Cancel on."""
    c, req = ctx.page, launch.req
    first = {
        c.summary: f"Running seed **{req.seed}** on {', '.join(b.label for b in launch.runnable)}…",
        c.results: gr.Column(visible=True),
        c.viewer: gr.Image(value=None, visible=True),
        c.viewer_caption: "Waiting for the first image…",
        c.generate_btn: gr.Button("Running…", interactive=False),
        c.cancel_btn: gr.Button(interactive=True),
        c.timer: gr.Timer(active=True),
    }
    for b in ctx.order:
        label = ctx.backends[b].label
        first[c.columns[b]] = gr.Column(visible=b in selected)
        waiting = column_status(label, started, None, None)
        first[c.col_status[b]] = skipped_status(label, launch.blocked[b]) if b in launch.blocked else waiting
        first[c.col_md[b]] = ""
        first[c.col_gallery[b]] = gr.Gallery(value=None, columns=1 if req.num_images == 1 else 2)
    return first


def column_update(ctx: Context, sess: Session, state: RunState, event: BackendRun, sec: list[str], fill: bool) -> dict:
    """A finished backend's column only (the scoreboard goes once, at the end); with ``fill``, its first
    image in the large viewer."""
    c, b = ctx.page, ctx.backends[event.backend]
    update = {
        c.col_status[b.id]: column_status(b.label, state.started, event, None),
        c.col_md[b.id]: column_text(b, state, sec),
        c.col_gallery[b.id]: state.images.get(b.id) or None,
    }
    entries = state.entries.get(b.id) or []
    if entries and fill:
        update.update(show_entry(ctx, sess, entries[0]))
    return update


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
    form = (text, selected, ratio_v, w, h, steps_v, guid, seed_v, n)
    launch = check_run(ctx, sess, form, same, fk, ak, note, request)
    if not isinstance(launch, Launch):
        yield launch
        return
    if launch.blocked:
        gr.Warning(" ".join(f"Not run: {ctx.backends[b].label} cannot run: {m}." for b, m in launch.blocked.items()))
    sec = ctx.session_secrets(fk, ak, sess)
    cancel = sess.start_run()  # before the first yield, so an early Cancel is not lost
    history_version = sess.history.version
    had_ab = sess.current is not None and bool(sess.current.all_entries())  # the A/B choices name its images
    started = time.perf_counter()
    yield first_update(ctx, launch, selected, started)
    state, viewer_set = None, False
    events = sess.run(launch.req, launch.runnable, launch.keys, sec, cancel, launch.ticket.sent)
    try:
        async for state, event in listening(events, ctx.previews.watch(sess, launch.runnable)):
            if isinstance(event, BackendRun):
                # The first image to land fills the viewer; later ones don't jump it.
                yield column_update(ctx, sess, state, event, sec, fill=not viewer_set)
                viewer_set = viewer_set or bool(state.entries.get(event.backend))
            else:
                yield {ctx.page.col_status[event.backend]: running_status(ctx, sess, state, event.backend)}
    finally:  # what was not billed goes back to the visitor's day and the budget
        ctx.previews.forget(sess)
        ctx.allowance.settle(launch.ticket, list(state.runs.values()) if state is not None else [])
    final = await finish_update(ctx, sess, state, launch, sec, started, history_version, had_ab)
    if not viewer_set:  # no 560 px of empty viewer between the summary and the columns that say why
        final[ctx.page.viewer] = gr.Image(visible=False)
        final[ctx.page.viewer_caption] = "No image in this run: each column below says why."
    yield final


def on_run_end(ctx: Context, sess: Session | None):
    """After a run (or a refused one): Generate back, Cancel off, the clock stopped; not while another runs."""
    if sess is not None and sess.active:
        return gr.skip(), gr.skip(), gr.skip()
    return gr.Button("Generate", interactive=True), gr.Button(interactive=False), gr.Timer(active=False)


async def on_cancel(sess: Session | None) -> None:
    if sess is not None:
        sess.cancel_all()


def running_status(ctx: Context, sess: Session, state: RunState, backend_id: str) -> str:
    """A column of the run in progress: its elapsed time, step bar and (Local) newest step, or its result."""
    run = state.runs.get(backend_id)
    preview = ctx.previews.html(sess, backend_id) if run is None else ""
    label = ctx.backends[backend_id].label
    return column_status(label, state.started, run, state.progress.get(backend_id), preview=preview)


def on_tick(ctx: Context, sess: Session | None):
    """Every half second while a run goes: each column's elapsed time, step bar and preview."""
    state = sess.current if sess else None
    if state is None:
        return [gr.skip()] * len(ctx.order)
    # Backends not in this run (or skipped) keep their text; the others show elapsed time or their result.
    return [running_status(ctx, sess, state, b) if b in state.backends else gr.skip() for b in ctx.order]
