"""The Library tab's handlers, and the load step that gives each visitor a Session that keeps its images."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd
from PIL import Image

from library import ImageRow, Library
from runs.keeper import Keeper
from runs.session import Session
from ui.library_access import TOKEN_RE, new_token, owner_for, served
from ui.library_tab.layout import PAGE_SIZE, PERIODS, STATUSES, LibraryTab, empty_daily
from ui.page.controls import FORM_SIZE
from ui.page.handlers import Context, apply_params, bind

_PLACEHOLDER: Path | None = None
COUNT_UPTO = 10_000  # the pager counts this far, then says "10,000+": counting 100,000 matches takes time


def start_session(
    library: Library, token: str | None, request: gr.Request = None, new: Callable[[], Session] = Session
) -> tuple[Session, str]:
    """A visitor's Session (made by ``new``), whose images go to their library; the browser's token (kept, or new)."""
    token = token if isinstance(token, str) and TOKEN_RE.fullmatch(token) else new_token()
    sess = new()
    sess.keeper = Keeper(library, owner_for(library, request, token), notify=gr.Warning)
    return sess, token


def placeholder() -> str:
    """A grey square for an image that was asked for but not made (so failures can be browsed too)."""
    global _PLACEHOLDER
    if _PLACEHOLDER is None or not _PLACEHOLDER.exists():
        from gradio import utils as gradio_utils

        path = Path(gradio_utils.get_upload_folder()) / "flux-library" / "failed.webp"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (256, 256), (70, 70, 78)).save(path, format="WEBP")
        _PLACEHOLDER = path
    return str(_PLACEHOLDER)


def filters(backends: list[str] | None, status: str, period: str) -> dict:
    days = PERIODS.get(period)
    return {
        "backends": backends or None,
        "statuses": ["ok"] if status == STATUSES[1] else None,
        "failed": status == STATUSES[2],
        "since": time.time() - days * 86400 if days else None,
    }


def thumb_item(library: Library, row: ImageRow) -> tuple[str, str]:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at))
    if row.status != "ok" or not row.path:
        return placeholder(), f"{row.backend} · seed {row.seed} · failed ({row.status}) · {when}"
    thumb = library.thumb(row)
    return served(thumb or library.path_of(row)), f"{row.backend} · seed {row.seed} · {when}"


def browse(library: Library, owner: str, query: str, backends, status: str, period: str, offset: int):
    """One page of thumbnails (worker thread); the ids in gallery order; the pager's text."""
    f = filters(backends, status, period)
    rows = library.search(owner, query=query or "", limit=PAGE_SIZE, offset=offset, **f)
    total = library.count(owner, upto=COUNT_UPTO + 1, query=query or "", **f)
    items = [thumb_item(library, r) for r in rows]
    of = f"{COUNT_UPTO:,}+" if total > COUNT_UPTO else f"{total:,}"
    text = f"{offset + 1}–{offset + len(rows)} of {of}" if rows else "Nothing here yet." if not offset else ""
    return items, [r.id for r in rows], text


def details_markdown(row: ImageRow) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.created_at))
    lines = [
        f"**{row.backend}** · seed **{row.seed}** · {row.width}×{row.height} · {row.num_inference_steps} steps · "
        f"guidance {row.guidance_scale:g}",
        f"Prompt: {row.prompt}",
        f"Status: **{row.status}**" + (f" — {row.error}" if row.error else ""),
        f"Latency: {row.latency_s:.2f} s" if row.latency_s is not None else "Latency: –",
        f"Cost: {row.cost_text or '–'}" + (f" · precision {row.precision}" if row.precision else ""),
        f"Made {when} · run {row.run_id or '–'} · `{row.path or 'no file'}`",
        "What the backend received:\n```json\n" + json.dumps(row.received, indent=1)[:1500] + "\n```",
    ]
    return "\n\n".join(lines)


def row_params(row: ImageRow) -> dict:
    keys = ("prompt", "backend", "seed", "width", "height", "aspect_ratio", "num_inference_steps", "guidance_scale")
    return {k: getattr(row, k) for k in keys}


def run_view(library: Library, owner: str, run_id: int | None) -> tuple[str, list[tuple[str, str]]]:
    """A run's comparison as it was: per backend its figures and costs, and every image with its caption."""
    found = library.get_run(owner, run_id) if run_id else None
    if found is None:
        return "That run is not in the library any more.", []
    run, rows = found
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at))
    lines = [f"### {'Grid' if run.kind == 'grid' else 'Run'} {run.id} · {when} · seed {run.request.get('seed')}"]
    lines.append(f"Prompt: {run.prompt}")
    for backend, part in run.meta.items():
        if backend == "grid" or not isinstance(part, dict):
            continue
        made = [r for r in rows if r.backend == backend]
        ok = sum(r.status == "ok" for r in made)
        lines.append(
            f"**{part.get('label', backend)}**: {ok}/{len(made)} image(s) · wall {part.get('wall_s', 0):.2f} s · "
            f"est. cost {part.get('cost_each')}/image · {part.get('cost_total')} this run"
        )
    items = []
    for r in rows:
        cell = f"{r.cell['column']}{' · ' + r.cell['row'] if r.cell.get('row') else ''} · " if r.cell else ""
        if r.path and (path := library.path_of(r)).exists():
            items.append((served(path), cell + (r.caption or f"{r.backend} · seed {r.seed}")))
        else:
            items.append((placeholder(), f"{cell}{r.backend} · seed {r.seed} · {r.status}: {r.error or ''}"))
    return "\n\n".join(lines), items


def score_rows(library: Library, owner: str, period: str) -> tuple[list[list], pd.DataFrame]:
    days = PERIODS.get(period)
    since = time.time() - days * 86400 if days else None
    table = []
    for s in library.stats(owner, since=since):
        parts = [f"${s['usd']:.4f}"] if s["usd"] or (s["priced"] and not s["gpu_s"]) else []
        parts += [f"{s['gpu_s']:.1f} GPU-s"] if s["gpu_s"] else []
        cost = " · ".join(parts) or "price not set"
        p50, p95 = (f"{v:.2f}" if v is not None else "–" for v in (s["p50_s"], s["p95_s"]))
        table.append([s["backend"], s["images"], s["failures"], s["filtered"], s["cancelled"], p50, p95, cost])
    daily = library.daily(owner, since=since)
    plot = pd.DataFrame(daily, columns=["day", "median_s", "backend"]) if daily else empty_daily()
    return table or [["–", 0, 0, 0, 0, "–", "–", "–"]], plot


def owner(sess: Session | None) -> str | None:
    """Whose library this session sees; None until the page has loaded its Session."""
    return sess.keeper.owner if sess is not None and sess.keeper is not None else None


@dataclass
class LibraryContext:
    """What the tab's handlers need besides the values of components: the tab, the page's context, the library."""

    tab: LibraryTab
    page: Context
    library: Library


# ---- browsing and the scoreboard -------------------------------------------------------


async def show(lc: LibraryContext, sess, query, backends, status, period, offset, move=0):
    """The page of thumbnails at ``offset`` + ``move``; past the oldest, the last page stays."""
    if owner(sess) is None:
        return [], [], "The page is still loading; try again in a moment.", 0
    offset = max(0, offset + move)
    items, ids, text = await asyncio.to_thread(browse, lc.library, owner(sess), query, backends, status, period, offset)
    if not ids and offset and move > 0:  # past the oldest: stay on the last page
        return gr.skip(), gr.skip(), gr.skip(), offset - move
    return items, ids, text, offset


async def first(lc: LibraryContext, sess, query, backends, status, period, offset):
    return await show(lc, sess, query, backends, status, period, 0)


async def older(lc: LibraryContext, sess, query, backends, status, period, offset):
    return await show(lc, sess, query, backends, status, period, offset, PAGE_SIZE)


async def newer(lc: LibraryContext, sess, query, backends, status, period, offset):
    return await show(lc, sess, query, backends, status, period, offset, -PAGE_SIZE)


async def scores(lc: LibraryContext, sess, period):
    if owner(sess) is None:
        return gr.skip(), gr.skip()
    return await asyncio.to_thread(score_rows, lc.library, owner(sess), period)


# ---- the large view and its buttons ----------------------------------------------------


def selected_row(library: Library, sess: Session | None, row_id: int | None) -> ImageRow | None:
    row = library.get(owner(sess), row_id) if owner(sess) is not None and row_id is not None else None
    if row is None:
        gr.Warning("Select an image in the Library first.")
    return row


def pick(lc: LibraryContext, sess, ids, evt: gr.SelectData):
    """A thumbnail shows its image large, with its details; a pending "Really delete?" goes away."""
    if owner(sess) is None or not isinstance(evt.index, int) or evt.index >= len(ids):
        return (gr.skip(),) * 5
    row = lc.library.get(owner(sess), ids[evt.index])
    if row is None:
        return None, "That image is not in the library any more.", gr.skip(), None, gr.update(visible=False)
    path = lc.library.path_of(row)
    shown = served(path) if path is not None and path.exists() else None
    return shown, details_markdown(row), gr.update(value=shown), row.id, gr.update(visible=False)


def reuse_seed(lc: LibraryContext, sess, row_id):
    row = selected_row(lc.library, sess, row_id)
    return (row.seed, gr.Tabs(selected="playground")) if row else (gr.skip(), gr.skip())


def reuse_settings(lc: LibraryContext, sess, row_id, ticked):
    row = selected_row(lc.library, sess, row_id)
    if row is None:
        return (gr.skip(),) * (FORM_SIZE + 1)
    return (*apply_params(lc.page, row_params(row), ticked), gr.Tabs(selected="playground"))


def open_run(lc: LibraryContext, sess, row_id):
    row = selected_row(lc.library, sess, row_id)
    if row is None:
        return gr.skip(), gr.skip(), gr.skip()
    text, items = run_view(lc.library, owner(sess), row.run_id)
    return gr.update(visible=True), text, items


def ask(lc: LibraryContext, sess, row_id):
    return gr.update(visible=selected_row(lc.library, sess, row_id) is not None)


def delete(lc: LibraryContext, sess, row_id):
    row = selected_row(lc.library, sess, row_id)
    if row is not None:
        lc.library.delete(owner(sess), row.id)
        gr.Info("Deleted: the image, its thumbnail and its entry.")
    # The reopened run goes too: it would still show the deleted image.
    return gr.update(visible=False), None, "Deleted." if row else gr.skip(), None, gr.update(visible=False)


# ---- wiring (the private endpoints are named after the handlers) ---------------------------

PRIVATE = {"api_visibility": "private"}


def wire_library(t: LibraryTab, ctx: Context, session: gr.State, library: Library, tabs: gr.Tabs, tab: gr.Tab) -> None:
    """Attach the Library tab's listeners (all private: the public way in is /library)."""
    lc = LibraryContext(t, ctx, library)
    browse_in = [session, t.query, t.backends, t.status, t.period, t.offset]
    browse_out = [t.gallery, t.ids, t.page_info, t.offset]
    wire_browse(lc, session, tab, browse_in, browse_out)
    wire_detail(lc, session, tabs)
    t.confirm_btn.click(
        bind(delete, lc),
        [session, t.selected],
        [t.confirm_btn, t.viewer, t.details, t.selected, t.run_box],
        **PRIVATE,
    ).then(bind(show, lc), browse_in, browse_out, **PRIVATE).then(
        bind(scores, lc), [session, t.score_period], [t.score_table, t.score_plot], **PRIVATE
    )


def wire_browse(lc: LibraryContext, session: gr.State, tab: gr.Tab, browse_in: list, browse_out: list) -> None:
    """Search, filters, pager and scoreboard."""
    t = lc.tab
    for trigger in (t.search_btn.click, t.query.submit, t.backends.input, t.status.input, t.period.input):
        trigger(bind(first, lc), browse_in, browse_out, **PRIVATE)
    t.next_btn.click(bind(older, lc), browse_in, browse_out, **PRIVATE)
    t.prev_btn.click(bind(newer, lc), browse_in, browse_out, **PRIVATE)
    scores_out = [t.score_table, t.score_plot]
    tab.select(bind(show, lc), browse_in, browse_out, **PRIVATE).then(
        bind(scores, lc), [session, t.score_period], scores_out, **PRIVATE
    )
    t.score_period.input(bind(scores, lc), [session, t.score_period], scores_out, **PRIVATE)


def wire_detail(lc: LibraryContext, session: gr.State, tabs: gr.Tabs) -> None:
    """The large view and its buttons: reuse, open run, download, delete (asked twice)."""
    t, form = lc.tab, lc.page.page.form
    pick_out = [t.viewer, t.details, t.download_btn, t.selected, t.confirm_btn]
    t.gallery.select(bind(pick, lc), [session, t.ids], pick_out, **PRIVATE)
    t.reuse_seed_btn.click(bind(reuse_seed, lc), [session, t.selected], [form.seed, tabs], **PRIVATE)
    t.reuse_all_btn.click(bind(reuse_settings, lc), [session, t.selected, form.ticked], [*form.inputs, tabs], **PRIVATE)
    t.open_run_btn.click(bind(open_run, lc), [session, t.selected], [t.run_box, t.run_md, t.run_gallery], **PRIVATE)
    t.delete_btn.click(bind(ask, lc), [session, t.selected], [t.confirm_btn], **PRIVATE)
