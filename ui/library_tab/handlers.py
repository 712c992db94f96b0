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
from library.query import Query, QueryError, parse
from runs.keeper import Keeper
from runs.session import Session
from ui.library_access import TOKEN_RE, new_token, owner_for, served
from ui.library_tab.compare import MAX_COMPARE, MIN_COMPARE, backend_line, compare_table, grid_order, seeds_text
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


def label_of(backend: str, labels: dict[str, str] | None = None) -> str:
    """The backend's label, as every other view names it ("AI/ML API", not "aiml")."""
    return (labels or {}).get(backend, backend)


def thumb_item(library: Library, row: ImageRow, labels: dict[str, str] | None = None) -> tuple[str, str]:
    # Short captions (a thumbnail is ~200 px wide): label, seed, a star; the date is in the details.
    star = "★ " if row.star else ""
    if row.status != "ok" or not row.path:
        return placeholder(), f"{star}{label_of(row.backend, labels)} · seed {row.seed} · {row.status}"
    thumb = library.thumb(row)
    return served(thumb or library.path_of(row)), f"{star}{label_of(row.backend, labels)} · seed {row.seed}"


def parse_query(text: str, labels: dict[str, str]) -> Query:
    """The search box's text as a Query; backends by id or label ("AI/ML API" is "aiml")."""
    aliases = {label.lower(): b for b, label in labels.items()}
    return parse(text or "", backends=list(labels), aliases=aliases)


def browse(library: Library, owner: str, query: str, backends, status: str, period: str, offset: int, labels=None):
    """One page of thumbnails (worker thread); the ids in gallery order; the pager's text; the query's terms."""
    labels = labels or {}
    try:
        parsed = parse_query(query, labels) if labels else parse(query or "")
        f = filters(backends, status, period)
        rows = library.search(owner, query=parsed, limit=PAGE_SIZE, offset=offset, **f)
        total = library.count(owner, upto=COUNT_UPTO + 1, query=parsed, **f)
    except QueryError as err:
        return [], [], f"⚠ {err}", [], 0
    items = [thumb_item(library, r, labels) for r in rows]
    of = f"{COUNT_UPTO:,}+" if total > COUNT_UPTO else f"{total:,}"
    searching = bool((query or "").strip() or backends or f["statuses"] or f["failed"] or f["since"])
    empty = "No image matches this search." if searching else "Nothing here yet."
    text = f"{offset + 1}–{offset + len(rows)} of {of}" if rows else empty if not offset else ""
    return items, [r.id for r in rows], text, parsed.chips(), total


def details_markdown(row: ImageRow, labels: dict[str, str] | None = None, no_guidance: set[str] = frozenset()) -> str:
    """Everything about one image; guidance only for backends that take it."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.created_at))
    guidance = (
        "no guidance (this backend takes none)" if row.backend in no_guidance else f"guidance {row.guidance_scale:g}"
    )
    star = "★ starred · " if row.star else ""
    tags = f" · tags: {', '.join(row.tags)}" if row.tags else ""
    lines = [
        f"{star}**{label_of(row.backend, labels)}** · seed **{row.seed}** · {row.width}×{row.height} · "
        f"{row.num_inference_steps} steps · {guidance}{tags}",
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


def run_view(
    library: Library, owner: str, run_id: int | None, labels: dict[str, str] | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """A run's comparison as it was: its seeds, per backend its figures and costs, and every image with its
    caption (a grid's row by row, as its sheet)."""
    found = library.get_run(owner, run_id) if run_id else None
    if found is None:
        return "That run is not in the library any more.", []
    run, rows = found
    grid = run.kind == "grid"
    rows = grid_order(rows) if grid else rows
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_at))
    seeds = seeds_text(rows) if rows else f"seed {run.request.get('seed')}"
    lines = [f"### {'Grid' if grid else 'Run'} {run.id} · {when} · {seeds}", f"Prompt: {run.prompt}"]
    for backend in dict.fromkeys([*(b for b in run.meta if b != "grid"), *(r.backend for r in rows)]):
        part = run.meta.get(backend) if isinstance(run.meta.get(backend), dict) else {}
        made = [r for r in rows if r.backend == backend]
        if made:
            lines.append(backend_line({"label": label_of(backend, labels), **part}, backend, made, grid))
    items = []
    for r in rows:
        cell = f"{r.cell['column']}{' · ' + r.cell['row'] if r.cell.get('row') else ''} · " if r.cell else ""
        name = label_of(r.backend, labels)
        if r.path and (path := library.path_of(r)).exists():
            items.append((served(path), cell + (r.caption or f"{name} · seed {r.seed}")))
        else:
            items.append((placeholder(), f"{cell}{name} · seed {r.seed} · {r.status}: {r.error or ''}"))
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

    @property
    def labels(self) -> dict[str, str]:
        return {b.id: b.label for b in self.page.backends.values()}

    @property
    def no_guidance(self) -> set[str]:
        return {b.id for b in self.page.backends.values() if not getattr(b, "honours_guidance", True)}


# ---- browsing and the scoreboard -------------------------------------------------------


async def show(lc: LibraryContext, sess, query, backends, status, period, offset, move=0):
    """The page of thumbnails at ``offset`` + ``move`` (past the oldest, the last page stays), the
    query's terms as chips, and the pager's buttons (off at either end)."""
    if owner(sess) is None:
        return [], [], "The page is still loading; try again in a moment.", 0, gr.skip(), gr.skip(), gr.skip()
    offset = max(0, offset + move)
    args = (lc.library, owner(sess), query, backends, status, period, offset, lc.labels)
    items, ids, text, chips, total = await asyncio.to_thread(browse, *args)
    if not ids and offset and move > 0:  # past the oldest: stay on the last page
        return gr.skip(), gr.skip(), gr.skip(), offset - move, gr.skip(), gr.skip(), gr.skip()
    chips_update = gr.update(choices=chips, value=chips, visible=bool(chips))
    newer_on = gr.update(interactive=offset > 0)
    older_on = gr.update(interactive=offset + len(ids) < total)
    return items, ids, text, offset, chips_update, newer_on, older_on


async def drop_chip(lc: LibraryContext, sess, kept, query, backends, status, period, offset):
    """An unticked chip leaves the query: the box keeps the ticked terms, and the search runs again."""
    try:
        terms = parse_query(query, lc.labels).chips()
    except QueryError:
        terms = []
    text = " ".join(t for t in terms if t in (kept or []))
    return text, *(await show(lc, sess, text, backends, status, period, 0))


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


def star_label(row: ImageRow | None) -> str:
    return "★ Starred" if row is not None and row.star else "☆ Star"


def pick(lc: LibraryContext, sess, ids, several, chosen, evt: gr.SelectData):
    """A thumbnail shows its image large, with its details; a pending "Really delete?" goes away.
    With "Select several" on, it is added to (or taken from) the selection instead."""
    n = 8
    if owner(sess) is None or not isinstance(evt.index, int) or evt.index >= len(ids):
        return (gr.skip(),) * (n + 3)
    if several:
        chosen = toggle(chosen or [], ids[evt.index])
        return (*(gr.skip(),) * n, chosen, *bulk_view(chosen))
    row = lc.library.get(owner(sess), ids[evt.index])
    hidden = gr.update(visible=False)
    if row is None:
        gone = (None, "That image is not in the library any more.", gr.skip(), None, hidden, hidden)
        return (*gone, gr.skip(), gr.skip(), *(gr.skip(),) * 3)
    path = lc.library.path_of(row)
    shown = served(path) if path is not None and path.exists() else None
    details = details_markdown(row, lc.labels, lc.no_guidance)
    return (shown, details, gr.update(value=shown), row.id, hidden, hidden, star_label(row), ", ".join(row.tags),
            *(gr.skip(),) * 3)  # fmt: skip


def toggle(chosen: list[int], image_id: int) -> list[int]:
    return [i for i in chosen if i != image_id] if image_id in chosen else [*chosen, image_id]


def bulk_view(chosen: list[int]) -> tuple:
    """The bulk row (shown while something is selected) and its count."""
    n = len(chosen)
    return gr.update(visible=bool(n)), f"**{n} selected**"


def star_one(lc: LibraryContext, sess, row_id):
    """Star the image shown large, or unstar it if it is starred."""
    row = selected_row(lc.library, sess, row_id)
    if row is None:
        return gr.skip(), gr.skip()
    (row,) = lc.library.mark(owner(sess), [row.id], star=not row.star) or [row]
    return star_label(row), details_markdown(row, lc.labels, lc.no_guidance)


def save_tags(lc: LibraryContext, sess, row_id, text):
    """The shown image's tags become those in the box (comma-separated)."""
    row = selected_row(lc.library, sess, row_id)
    if row is None:
        return gr.skip(), gr.skip()
    wanted = [t for t in (text or "").split(",") if t.strip()]
    try:
        (row,) = lc.library.mark(owner(sess), [row.id], add_tags=wanted, remove_tags=row.tags) or [row]
    except ValueError as err:
        gr.Warning(f"Tags not saved: {err}")
        return gr.skip(), gr.skip()
    gr.Info(f"Tags saved: {', '.join(row.tags) or 'none'}.")
    return ", ".join(row.tags), details_markdown(row, lc.labels, lc.no_guidance)


def bulk_mark(lc: LibraryContext, sess, chosen, tag, star=None, add=False, remove=False):
    """Star, unstar, tag or untag every selected image."""
    if owner(sess) is None or not chosen:
        gr.Warning("Select some images first (tick “Select several”, then click thumbnails).")
        return
    tags = [tag] if (add or remove) else []
    if (add or remove) and not (tag or "").strip():
        gr.Warning("Type a tag first.")
        return
    try:
        rows = lc.library.mark(
            owner(sess), chosen, star=star, add_tags=tags if add else [], remove_tags=tags if remove else []
        )
    except ValueError as err:
        gr.Warning(f"Not done: {err}")
        return
    gr.Info(f"Done for {len(rows)} image(s).")


def bulk_delete(lc: LibraryContext, sess, chosen):
    """Delete every selected image (the button asks first, in the browser)."""
    if owner(sess) is None or not chosen:
        return gr.skip(), gr.skip(), gr.skip()
    rows = lc.library.get_many(owner(sess), chosen)
    for r in rows:
        lc.library.delete(owner(sess), r.id)
    gr.Info(f"Deleted {len(rows)} image(s).")
    return [], *bulk_view([])


def bulk_zip(lc: LibraryContext, sess, chosen):
    """A ZIP of the selected images' PNGs and records.json (their records, as /library gives them)."""
    import tempfile
    import zipfile

    from gradio import utils as gradio_utils

    rows = lc.library.get_many(owner(sess), chosen or []) if owner(sess) is not None else []
    if not rows:
        gr.Warning("Select some images first.")
        return gr.update(visible=False)
    folder = Path(tempfile.mkdtemp(dir=gradio_utils.get_upload_folder()))
    target = folder / f"flux-library-{len(rows)}-images.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for r in rows:
            path = lc.library.path_of(r)
            if path is not None and path.exists():
                zf.write(path, f"{r.id}-{path.name}")
        zf.writestr("records.json", json.dumps([r.record() for r in rows], indent=1))
    return gr.update(value=str(target), visible=True)


def reuse_seed(lc: LibraryContext, sess, row_id):
    row = selected_row(lc.library, sess, row_id)
    if row is None:
        return gr.skip(), gr.skip()
    gr.Info(f"Seed {row.seed} is in the form: press Generate.")
    return row.seed, gr.Tabs(selected="playground")


def reuse_settings(lc: LibraryContext, sess, row_id, ticked):
    row = selected_row(lc.library, sess, row_id)
    if row is None:
        return (gr.skip(),) * (FORM_SIZE + 1)
    gr.Info(f"The settings of {label_of(row.backend, lc.labels)} · seed {row.seed} are in the form: press Generate.")
    return (*apply_params(lc.page, row_params(row), ticked), gr.Tabs(selected="playground"))


def open_run(lc: LibraryContext, sess, row_id):
    row = selected_row(lc.library, sess, row_id)
    if row is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    text, items = run_view(lc.library, owner(sess), row.run_id, lc.labels)
    return gr.update(visible=True), text, items, row.run_id


def compare(lc: LibraryContext, sess, chosen):
    """The selected images side by side (the A/B slider for exactly two) and what differed between them."""
    rows = lc.library.get_many(owner(sess), chosen or []) if owner(sess) is not None else []
    if not MIN_COMPARE <= len(rows) <= MAX_COMPARE:
        gr.Warning(f"Select {MIN_COMPARE} to {MAX_COMPARE} images to compare ({len(rows)} selected).")
        return (gr.skip(),) * 4
    paths = [lc.library.path_of(r) for r in rows]
    shown = [served(p) if p is not None and p.exists() else placeholder() for p in paths]
    captions = [f"{chr(65 + i)} · {label_of(r.backend, lc.labels)} · seed {r.seed}" for i, r in enumerate(rows)]
    two = len(rows) == 2
    slider = gr.update(value=tuple(shown), visible=True) if two else gr.update(value=None, visible=False)
    table = compare_table(rows, lc.labels, lc.no_guidance)
    return gr.update(visible=True), slider, list(zip(shown, captions, strict=True)), table


def link_target(params: dict) -> tuple[str, int] | None:
    """``?image=<id>`` or ``?run=<id>`` in a page's address, or None."""
    for kind in ("image", "run"):
        value = str(params.get(kind) or "").strip()
        if value.isdigit() and len(value) < 19:
            return kind, int(value)
    return None


def open_link(lc: LibraryContext, sess, request: gr.Request):
    """A link's image (large, with its details) or run, in the Library tab, for its owner; anyone else
    (or a deleted one) gets "not found", never a hint that it exists."""
    n = 11
    target = link_target(dict(getattr(request, "query_params", None) or {}))
    if target is None or owner(sess) is None:
        return (gr.skip(),) * n
    kind, key = target
    tab, hidden = gr.Tabs(selected="library"), gr.update(visible=False)
    if kind == "run":
        found = lc.library.get_run(owner(sess), key)
        if found is None:
            return (tab, None, f"**Run {key} was not found** in your library.", *(gr.skip(),) * 4, hidden,
                    gr.skip(), gr.skip(), None)  # fmt: skip
        text, items = run_view(lc.library, owner(sess), key, lc.labels)
        return (tab, *(gr.skip(),) * 6, gr.update(visible=True), text, items, key)
    row = lc.library.get(owner(sess), key)
    if row is None:
        return (tab, None, f"**Image {key} was not found** in your library.", gr.update(value=None), None,
                star_label(None), "", hidden, gr.skip(), gr.skip(), None)  # fmt: skip
    path = lc.library.path_of(row)
    shown = served(path) if path is not None and path.exists() else None
    details = details_markdown(row, lc.labels, lc.no_guidance)
    return (tab, shown, details, gr.update(value=shown), row.id, star_label(row), ", ".join(row.tags), hidden,
            gr.skip(), gr.skip(), None)  # fmt: skip


def ask(lc: LibraryContext, sess, row_id):
    shown = gr.update(visible=selected_row(lc.library, sess, row_id) is not None)
    return shown, shown


def keep(lc: LibraryContext):
    """ "Keep it": the way back from "Really delete?"."""
    return gr.update(visible=False), gr.update(visible=False)


def delete(lc: LibraryContext, sess, row_id):
    row = selected_row(lc.library, sess, row_id)
    if row is not None:
        lc.library.delete(owner(sess), row.id)
        gr.Info("Deleted: the image, its thumbnail and its entry.")
    # The reopened run goes too: it would still show the deleted image.
    hidden = gr.update(visible=False)
    return hidden, hidden, None, "Deleted." if row else gr.skip(), None, hidden


# ---- wiring (the private endpoints are named after the handlers) ---------------------------

# The full address of the page with ?image= or ?run= (built in the browser: only it knows the address
# it was opened at, behind a proxy or in a Space's frame); copied, and shown in case the clipboard is refused.
COPY_LINK = """(query) => { if (!query || !query.startsWith('?')) return query;
  const u = new URL(window.location.href); u.search = query; u.hash = '';
  try { navigator.clipboard.writeText(u.href).catch(() => {}); } catch (e) {}
  return u.href; }"""

PRIVATE = {"api_visibility": "private"}


SCROLL_TO = "() => document.getElementById('%s')?.scrollIntoView({behavior: 'smooth', block: 'start'})"
SCROLL_TOP = "() => window.scrollTo({top: 0, behavior: 'smooth'})"
# On a phone the large view is far below the thumbnails: go there (not while selecting several).
SCROLL_DETAIL = """() => { if (window.innerWidth < 800 && !document.querySelector('#library-several input')?.checked)
  document.getElementById('library-detail')?.scrollIntoView({behavior: 'smooth', block: 'start'}); }"""


def wire_library(t: LibraryTab, ctx: Context, session: gr.State, library: Library, tabs: gr.Tabs, tab: gr.Tab) -> None:
    """Attach the Library tab's listeners (all private: the public way in is /library)."""
    lc = LibraryContext(t, ctx, library)
    browse_in = [session, t.query, t.backends, t.status, t.period, t.offset]
    browse_out = [t.gallery, t.ids, t.page_info, t.offset, t.chips, t.prev_btn, t.next_btn]
    wire_browse(lc, session, tab, browse_in, browse_out)
    wire_detail(lc, session, tabs)
    wire_bulk(lc, session, browse_in, browse_out)
    t.confirm_btn.click(
        bind(delete, lc),
        [session, t.selected],
        [t.confirm_btn, t.cancel_btn, t.viewer, t.details, t.selected, t.run_box],
        **PRIVATE,
    ).then(bind(show, lc), browse_in, browse_out, **PRIVATE).then(
        bind(scores, lc), [session, t.score_period], [t.score_table, t.score_plot], **PRIVATE
    )


def link_query(kind: str) -> Callable[[int | None], dict]:
    """The handler that puts ``?image=<id>`` (or ``?run=``) in the link box, for the browser to complete."""

    def query(key: int | None) -> dict:
        if key is None:
            gr.Warning(f"Open {'a run' if kind == 'run' else 'an image'} first.")
            return gr.skip()
        return gr.update(value=f"?{kind}={int(key)}", visible=True)

    return query


def wire_links(t: LibraryTab, ctx: Context, session: gr.State, library: Library, tabs: gr.Tabs, loaded) -> None:
    """After the page's load event ``loaded`` has made the visitor's Session: open a ?image= or ?run= link."""
    lc = LibraryContext(t, ctx, library)
    out = [tabs, t.viewer, t.details, t.download_btn, t.selected, t.star_btn, t.tags_box]
    out += [t.run_box, t.run_md, t.run_gallery, t.run_id]
    loaded.then(bind(open_link, lc), session, out, **PRIVATE)


def wire_browse(lc: LibraryContext, session: gr.State, tab: gr.Tab, browse_in: list, browse_out: list) -> None:
    """Search, chips, filters, pager and scoreboard."""
    t = lc.tab
    for trigger in (t.search_btn.click, t.query.submit, t.backends.input, t.status.input, t.period.input):
        trigger(bind(first, lc), browse_in, browse_out, **PRIVATE)
    t.chips.input(bind(drop_chip, lc), [session, t.chips, *browse_in[1:]], [t.query, *browse_out], **PRIVATE)
    t.next_btn.click(bind(older, lc), browse_in, browse_out, **PRIVATE)
    t.prev_btn.click(bind(newer, lc), browse_in, browse_out, **PRIVATE)
    scores_out = [t.score_table, t.score_plot]
    tab.select(bind(show, lc), browse_in, browse_out, **PRIVATE).then(
        bind(scores, lc), [session, t.score_period], scores_out, **PRIVATE
    )
    t.score_period.input(bind(scores, lc), [session, t.score_period], scores_out, **PRIVATE)


def wire_detail(lc: LibraryContext, session: gr.State, tabs: gr.Tabs) -> None:
    """The large view and its buttons: reuse, open run, star, tags, download, delete (asked twice)."""
    t, form = lc.tab, lc.page.page.form
    pick_out = [t.viewer, t.details, t.download_btn, t.selected, t.confirm_btn, t.cancel_btn, t.star_btn, t.tags_box]
    pick_out += [t.chosen, t.bulk.box, t.bulk.info]
    t.gallery.select(bind(pick, lc), [session, t.ids, t.several, t.chosen], pick_out, **PRIVATE).then(
        None, js=SCROLL_DETAIL, **PRIVATE
    )
    t.reuse_seed_btn.click(bind(reuse_seed, lc), [session, t.selected], [form.seed, tabs], **PRIVATE).then(
        None, js=SCROLL_TOP, **PRIVATE
    )
    t.reuse_all_btn.click(
        bind(reuse_settings, lc), [session, t.selected, form.ticked], [*form.inputs, tabs], **PRIVATE
    ).then(None, js=SCROLL_TOP, **PRIVATE)
    run_out = [t.run_box, t.run_md, t.run_gallery, t.run_id]
    t.open_run_btn.click(bind(open_run, lc), [session, t.selected], run_out, **PRIVATE)
    for button, state, kind in ((t.link_btn, t.selected, "image"), (t.run_link_btn, t.run_id, "run")):
        # The id is in a State (server side): the server says which, the browser makes it a full address.
        button.click(link_query(kind), state, t.link_box, **PRIVATE).then(
            None, t.link_box, t.link_box, js=COPY_LINK, **PRIVATE
        )
    t.delete_btn.click(bind(ask, lc), [session, t.selected], [t.confirm_btn, t.cancel_btn], **PRIVATE)
    t.cancel_btn.click(bind(keep, lc), None, [t.confirm_btn, t.cancel_btn], **PRIVATE)
    t.star_btn.click(bind(star_one, lc), [session, t.selected], [t.star_btn, t.details], **PRIVATE)
    t.tags_btn.click(bind(save_tags, lc), [session, t.selected, t.tags_box], [t.tags_box, t.details], **PRIVATE)
    t.tags_box.submit(bind(save_tags, lc), [session, t.selected, t.tags_box], [t.tags_box, t.details], **PRIVATE)


def wire_bulk(lc: LibraryContext, session: gr.State, browse_in: list, browse_out: list) -> None:
    """The bulk actions on the selection; each refreshes the page (stars show in the captions)."""
    t, b = lc.tab, lc.tab.bulk
    mark_in = [session, t.chosen, b.tag]
    for button, kw in ((b.star, {"star": True}), (b.unstar, {"star": False}), (b.add_tag, {"add": True}),
                       (b.remove_tag, {"remove": True})):  # fmt: skip
        button.click(
            lambda sess, chosen, tag, kw=kw: bulk_mark(lc, sess, chosen, tag, **kw), mark_in, None, **PRIVATE
        ).then(bind(show, lc), browse_in, browse_out, **PRIVATE)
    hidden = gr.update(visible=False)
    b.delete.click(lambda: gr.update(visible=True), None, b.really, **PRIVATE)
    b.really.click(bind(bulk_delete, lc), [session, t.chosen], [t.chosen, b.box, b.info], **PRIVATE).then(
        lambda: hidden, None, b.really, **PRIVATE
    ).then(bind(show, lc), browse_in, browse_out, **PRIVATE)
    b.clear.click(lambda: ([], hidden, "", hidden), None, [t.chosen, b.box, b.info, b.really], **PRIVATE)
    b.zip.click(bind(bulk_zip, lc), [session, t.chosen], b.zip_file, **PRIVATE)
    c = t.compare
    b.compare.click(bind(compare, lc), [session, t.chosen], [c.box, c.slider, c.gallery, c.table], **PRIVATE).then(
        None, js=SCROLL_TO % "library-compare", **PRIVATE
    )
    c.close.click(lambda: gr.update(visible=False), None, c.box, **PRIVATE)
    t.several.input(lambda on: ([], *bulk_view([])) if not on else (gr.skip(),) * 3, t.several,
                    [t.chosen, b.box, b.info], **PRIVATE)  # fmt: skip
