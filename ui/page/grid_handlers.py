"""What the grid panel does: run the cells of a grid from the page's form, within the visitor's rate limit.

Each cell goes to the visitor's history (with its own parameters) and scoreboard; the grid itself is one
labelled PNG, with a text table of the same labels beside it.
"""

from __future__ import annotations

import asyncio
import json
import time

import gradio as gr

from backends import InvalidRequest
from runs import form as controls
from runs.grid.plan import MAX_CELLS
from runs.grid.run import make_grid, plan_grid, seed_words
from runs.session import Session
from spend.allowance import Refused
from ui.page.grid_panel import summary_markdown
from ui.page.handlers import Context, take_allowance


def wire_grid(ctx: Context, session: gr.State, max_cells: int = MAX_CELLS) -> None:
    """Wire the page's grid panel to the form, the history, the scoreboard and the rate limit."""
    c, g, backends = ctx.page, ctx.page.grid, ctx.backends

    async def on_grid(
        sess: Session | None,
        xa,
        xv,
        ya,
        yv,
        text,
        selected,
        ratio,
        w,
        h,
        steps,
        guid,
        seed,
        same,
        fk,
        ak,
        request: gr.Request = None,
    ):
        unchanged = {g.summary: gr.skip()}
        if sess is None:
            gr.Warning("The page is still loading (or this tab has been idle too long: reload it).")
            yield unchanged
            return
        if sess.active:
            gr.Warning("A run is still going: wait for it to finish, or press Cancel.")
            yield unchanged
            return
        keys = ctx.keys(fk, ak, sess)
        try:
            req = controls.build_request(text, ratio, w, h, steps, guid, seed, 1, same)
            plan = plan_grid(req, list(selected or []), backends, xa, xv, ya, yv, max_cells)
        except InvalidRequest as err:
            gr.Warning(f"Nothing was sent: {err}.")
            yield unchanged
            return
        try:
            items = [(backends[x.backend], x.request.num_inference_steps) for x in plan.cells if x.backend in backends]
            ticket = take_allowance(ctx, request, items, keys, "this grid")
        except Refused as refusal:
            gr.Warning(refusal.message)
            yield unchanged
            return
        sec = ctx.session_secrets(fk, ak, sess)
        cancel = sess.start_run()
        started = time.perf_counter()
        yield {g.summary: f"Running {len(plan.cells)} cell(s) at {seed_words(plan)}…"}
        result = None
        try:
            result = await make_grid(
                plan,
                backends,
                sess.history.dir / "grid",
                sec,
                keys=keys,
                history=sess.history,
                cancel=cancel,
                keeper=sess.keeper,
            )
        finally:
            sess.active.discard(cancel)
            ctx.allowance.settle(ticket, result.runs if result is not None else [])
        for run in result.runs:
            sess.scoreboard.record(run)
        record_path = result.sheet.with_suffix(".json")
        await asyncio.to_thread(record_path.write_text, json.dumps({"grid": result.records}, indent=2))
        yield {
            g.summary: summary_markdown(result, time.perf_counter() - started),
            g.image: gr.Image(value=str(result.sheet), visible=True),
            g.record: gr.File(value=str(record_path), visible=True),
            c.results: gr.Column(visible=True),
            c.history: sess.history.gallery(),
            c.score_table: sess.scoreboard.rows(),
            c.score_plot: sess.scoreboard.plot_frame(),
        }

    form = [c.prompt, c.ticked, c.ratio, c.width, c.height, c.steps, c.guidance, c.seed, c.same_size]
    g.button.click(
        on_grid,
        [session, g.x_axis, g.x_values, g.y_axis, g.y_values, *form, c.fw_key, c.aiml_key],
        [g.summary, g.image, g.record, c.results, c.history, c.score_table, c.score_plot],
        api_visibility="private",
        concurrency_limit=16,
        concurrency_id="generate",
        show_progress="minimal",
    )
