"""The end of a run: its contact sheet and JSON record exported, the summary, scoreboard, history and A/B choices."""

from __future__ import annotations

import asyncio
import time

import gradio as gr

from runs.session import RunState, Session, export_run
from ui.page.handlers.context import Context, Launch
from ui.page.handlers.selection import ab_images, pick_ab_pair
from ui.page.handlers.status import status_text


async def finish_update(
    ctx: Context,
    sess: Session,
    state: RunState,
    launch: Launch,
    sec: list[str],
    started: float,
    history_version: int,
    had_ab: bool,
) -> dict:
    """The run's last update: what it made, its exports, the scoreboard, and what only changes once per run."""
    c, req, runnable = ctx.page, launch.req, launch.runnable
    wall = time.perf_counter() - started
    slowest = max((r.wall_s for r in state.runs.values()), default=0.0)
    sheet, record = await asyncio.to_thread(export_run, state, runnable, sess.history.dir / "export", sec)
    ok = sum(o.image is not None for r in state.runs.values() for o in r.outcomes)
    asked = req.num_images * len(runnable)
    sess.run_count += 1
    captions = [e.caption for e in state.all_entries()]
    a, b = pick_ab_pair(state)
    fk, ak = launch.keys["fireworks"], launch.keys["aiml"]
    final = {
        c.ab_box: gr.Accordion(visible=ok > 0),
        c.export_box: gr.Accordion(visible=ok > 0),
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
        final.update({c.ab_a: gr.Dropdown(choices=captions, value=a), c.ab_b: gr.Dropdown(choices=captions, value=b)})
        final[c.ab_slider] = ab_images(sess, a, b)
    return final
