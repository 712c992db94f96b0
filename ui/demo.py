"""The Blocks app: the page's components, one Session per visitor, and the wiring."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Mapping, Sequence

import gradio as gr

from backends import Backend
from config import PageOptions
from library import Library
from runs.grid.plan import MAX_CELLS
from spend.allowance import Allowance
from spend.ledger import Ledger
from ui.api.endpoints import register_api
from ui.api.library import register_library_api
from ui.api.mcp import PlaygroundBlocks
from ui.library_access import browser_secret
from ui.library_tab.handlers import start_session, wire_library, wire_links
from ui.library_tab.layout import build_library_tab
from ui.page.grid_handlers import wire_grid
from ui.page.handlers import on_load_local, on_status, wire
from ui.page.layout import TITLE, build_page
from ui.sessions import LiveSessions, free_on_unload, serve_history, session_state, visitor_sessions


def build_demo(
    backends: Mapping[str, Backend],
    secrets: Sequence[str] = (),
    options: PageOptions | None = None,
    grid_max_cells: int = MAX_CELLS,
    library: Library | None = None,
    sessions: LiveSessions | None = None,
    allowance: Allowance | None = None,
) -> gr.Blocks:
    """The whole page, wired to ``backends`` (id → Backend, in display order).

    ``secrets`` are the server's keys, redacted from anything an upstream API echoes back;
    ``options`` what the operator allows visitors (defaults: a local, single-user setup);
    ``grid_max_cells`` the most cells an X/Y grid may have, in the page and through /grid;
    ``library`` where every image is kept (a Library tab and /library), or None for none;
    ``sessions`` the visitors' live sessions, capped and timed out (default: MAX_SESSIONS, SESSION_TTL_S).
    """
    options = options or PageOptions()
    live = LiveSessions() if sessions is None else sessions  # (an empty one is falsy: it has a len)
    serve_history()  # history files are served where they are written: Gradio never hashes or copies them
    if allowance is None:  # app.py passes its own, which the OpenAI images route draws on too
        ledger = None
        if options.needs_ledger:  # today's spend survives a restart
            ledger = Ledger(options.ledger_path, options.daily_budget_usd, options.visitor_daily_images)
        allowance = Allowance(options, ledger)  # one for every door: the page, the grid, /generate, /grid, MCP
    # delete_cache bounds Gradio's own copies of served files (an hour's sweep, a day's age).

    session_for = visitor_sessions(live, options.trusted_proxy_hops)
    with PlaygroundBlocks(title=TITLE, delete_cache=(3600, 24 * 3600)) as demo:
        session = session_state(live)
        tabs = gr.Tabs() if library else contextlib.nullcontext()
        with tabs:
            with gr.Tab("Playground", id="playground") if library else contextlib.nullcontext():
                page = build_page(backends, options, grid_max_cells)
            if library:
                with gr.Tab("Library", id="library", elem_id="library") as library_tab:
                    library_ui = build_library_tab(backends, f"`{library.root}`")
        ctx = wire(page, session, backends, secrets, options, allowance)
        wire_grid(ctx, session, grid_max_cells)
        # /generate and /grid, for scripts and MCP
        register_api(backends, secrets, grid_max_cells, allowance, library)
        # A fresh Session per visitor (a private load event, so no stray endpoint in the API page).
        if library:
            register_library_api(library, list(backends))
            wire_library(library_ui, ctx, session, library, tabs, library_tab)
            visitor = gr.BrowserState(None, storage_key="flux-library-visitor", secret=browser_secret(library))

            def new_session(token: str | None, request: gr.Request):
                return start_session(library, token, request, session_for(request))

            loaded = demo.load(new_session, visitor, [session, visitor], api_visibility="private", queue=False)
            wire_links(library_ui, ctx, session, library, tabs, loaded)  # ?image=<id> and ?run=<id>
        else:

            def new_plain_session(request: gr.Request):
                return session_for(request)()

            demo.load(new_plain_session, None, session, api_visibility="private", queue=False)
        free_on_unload(demo)  # a closed tab's files and state go at once
        demo.load(
            types.MethodType(on_status, ctx),
            [page.fw_key, page.aiml_key],
            [page.status, page.nothing_ready],
            api_visibility="private",
        )
        if page.precision is not None:
            # The model is shared: show every visitor the settings it runs with now, not the start-up ones.
            demo.load(
                types.MethodType(on_load_local, ctx),
                None,
                [page.precision, page.offload, page.form.ticked],
                api_visibility="private",
                queue=False,
            )
    return demo
