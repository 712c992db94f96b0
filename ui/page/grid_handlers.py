"""What the grid panel does: run the cells of a grid from the page's form, within the visitor's rate limit.

Each cell goes to the visitor's history (with its own parameters) and scoreboard; the grid itself is one
labelled PNG, with a text table of the same labels beside it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import gradio as gr

from backends import InvalidRequest
from runs import form as form_values
from runs.grid.plan import MAX_CELLS
from runs.grid.run import GridPlan, GridResult, make_grid, plan_grid, seed_words
from runs.session import Session
from spend.allowance import Refused, Ticket
from ui.page.grid_panel import summary_markdown
from ui.page.handlers import Context, bind, on_run_end, take_allowance
from ui.page.handlers.wire import PRIVATE


def check_grid(
    ctx: Context, sess: Session | None, axes: tuple, form: tuple, same: bool, keys: dict[str, str], request
) -> tuple[GridPlan, Ticket] | None:
    """The grid the panel and the form ask for, its spend taken; None (after one warning) when nothing may be sent."""
    if sess is None:
        gr.Warning("The page is still loading (or this tab has been idle too long: reload it).")
        return None
    if sess.active:
        gr.Warning("A run is still going: wait for it to finish, or press Cancel.")
        return None
    text, selected, *settings, _num_images = form  # one image per cell
    try:
        req = form_values.build_request(text, *settings, 1, same)
        plan = plan_grid(req, list(selected or []), ctx.backends, *axes, ctx.max_cells)
    except InvalidRequest as err:
        gr.Warning(f"Nothing was sent: {err}.")
        return None
    try:
        items = [
            (ctx.backends[x.backend], x.request.num_inference_steps) for x in plan.cells if x.backend in ctx.backends
        ]
        return plan, take_allowance(ctx, request, items, keys, "this grid")
    except Refused as refusal:
        gr.Warning(refusal.message)
        return None


async def grid_update(ctx: Context, sess: Session, result: GridResult, wall_s: float) -> dict:
    """The finished grid: its image, its JSON record, and the page's history and scoreboard with its cells."""
    c, g = ctx.page, ctx.page.grid
    for run in result.runs:
        sess.scoreboard.record(run)
    record_path = result.sheet.with_suffix(".json")
    await asyncio.to_thread(record_path.write_text, json.dumps({"grid": result.records}, indent=2))
    return {
        g.summary: summary_markdown(result, wall_s),
        g.image: gr.Image(value=str(result.sheet), visible=True),
        g.record: gr.File(value=str(record_path), visible=True),
        c.results: gr.Column(visible=True),
        c.history: sess.history.gallery(),
        c.score_table: sess.scoreboard.rows(),
        c.score_plot: sess.scoreboard.plot_frame(),
    }


async def on_grid(
    ctx: Context,
    sess: Session | None,
    xa: str,
    xv: str,
    ya: str,
    yv: str,
    text: str,
    selected: list[str],
    ratio: str,
    w: float,
    h: float,
    steps: float,
    guid: float,
    seed: float | None,
    num_images: float,
    same: bool,
    fk: str,
    ak: str,
    request: gr.Request = None,
):
    """Check, then make every cell of the grid (within the rate limit), then show it with its table."""
    keys = ctx.keys(fk, ak, sess)
    form = (text, selected, ratio, w, h, steps, guid, seed, num_images)
    checked = check_grid(ctx, sess, (xa, xv, ya, yv), form, same, keys, request)
    if checked is None:
        yield {ctx.page.grid.summary: gr.skip()}
        return
    plan, ticket = checked
    sec = ctx.session_secrets(fk, ak, sess)
    cancel = sess.start_run()  # before the first yield, so an early Cancel (or Esc) is not lost
    started = time.perf_counter()
    c, g = ctx.page, ctx.page.grid
    # A grid is a run like any other: Cancel on (with it the run bar and Esc), Generate off, and no old grid shown.
    yield {
        g.summary: f"Running {len(plan.cells)} cell(s) at {seed_words(plan)}…",
        g.image: gr.Image(value=None, visible=False),
        g.record: gr.File(value=None, visible=False),
        c.generate_btn: gr.Button("Running…", interactive=False),
        c.cancel_btn: gr.Button(interactive=True),
    }
    result = None
    try:
        result = await make_grid(
            plan,
            ctx.backends,
            sess.history.dir / "grid",
            sec,
            keys=keys,
            history=sess.history,
            cancel=cancel,
            keeper=sess.keeper,
            sent=ticket.sent,
        )
    finally:
        sess.active.discard(cancel)
        ctx.allowance.settle(ticket, result.runs if result is not None else [])
    yield await grid_update(ctx, sess, result, time.perf_counter() - started)


def wire_grid(ctx: Context, session: gr.State, max_cells: int = MAX_CELLS) -> None:
    """Wire the page's grid panel to the form, the history, the scoreboard and the rate limit."""
    grid_ctx = dataclasses.replace(ctx, max_cells=max_cells)
    c, g = ctx.page, ctx.page.grid
    g.button.click(
        bind(on_grid, grid_ctx),
        [session, g.x_axis, g.x_values, g.y_axis, g.y_values, *c.form.inputs, c.same_size, c.fw_key, c.aiml_key],
        [g.summary, g.image, g.record, c.results, c.history, c.score_table, c.score_plot, c.generate_btn, c.cancel_btn],
        api_visibility="private",
        concurrency_limit=16,
        concurrency_id="generate",
        show_progress="minimal",
    ).then(bind(on_run_end, ctx), [session], [c.generate_btn, c.cancel_btn, c.timer], **PRIVATE)
