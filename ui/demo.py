"""The Blocks app: the page's components, one Session per visitor, and the wiring."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Mapping, Sequence

import gradio as gr

from backends import Backend
from backends.grid import MAX_CELLS
from library import Library
from ui.api import PlaygroundBlocks, register_api
from ui.events import on_load_local, on_status, wire
from ui.grid_events import wire_grid
from ui.layout import TITLE, build_page
from ui.library_access import browser_secret
from ui.library_api import register_library_api
from ui.library_events import start_session, wire_library
from ui.library_tab import build_library_tab
from ui.options import PageOptions
from ui.session import Session


def build_demo(
    backends: Mapping[str, Backend],
    secrets: Sequence[str] = (),
    options: PageOptions | None = None,
    grid_max_cells: int = MAX_CELLS,
    library: Library | None = None,
) -> gr.Blocks:
    """The whole page, wired to ``backends`` (id → Backend, in display order).

    ``secrets`` are the server's keys, redacted from anything an upstream API echoes back;
    ``options`` what the operator allows visitors (defaults: a local, single-user setup);
    ``grid_max_cells`` the most cells an X/Y grid may have, in the page and through /grid;
    ``library`` where every image is kept (a Library tab and /library), or None for none.
    """
    options = options or PageOptions()
    # delete_cache bounds Gradio's own copies of served files (an hour's sweep, a day's age).
    with PlaygroundBlocks(title=TITLE, delete_cache=(3600, 24 * 3600)) as demo:
        session = gr.State(delete_callback=lambda s: s.close() if s else None)
        tabs = gr.Tabs() if library else contextlib.nullcontext()
        with tabs:
            with gr.Tab("Playground", id="playground") if library else contextlib.nullcontext():
                page = build_page(backends, options, grid_max_cells)
            if library:
                with gr.Tab("Library", id="library", elem_id="library") as library_tab:
                    library_ui = build_library_tab(backends, f"`{library.root}`")
        ctx = wire(page, session, backends, secrets, options)
        wire_grid(ctx, session, grid_max_cells)
        register_api(backends, secrets, grid_max_cells, library)  # /generate and /grid, for scripts and MCP
        # A fresh Session per visitor (a private load event, so no stray endpoint in the API page).
        if library:
            register_library_api(library, list(backends))
            wire_library(library_ui, ctx, session, library, tabs, library_tab)
            visitor = gr.BrowserState(None, storage_key="flux-library-visitor", secret=browser_secret(library))

            def new_session(token: str | None, request: gr.Request):
                return start_session(library, token, request)

            demo.load(new_session, visitor, [session, visitor], api_visibility="private", queue=False)
        else:
            demo.load(Session, None, session, api_visibility="private", queue=False)
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
                [page.precision, page.offload, page.ticked],
                api_visibility="private",
                queue=False,
            )
    return demo
