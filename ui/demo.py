"""The Blocks app: the page's components, one Session per visitor, and the wiring."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gradio as gr

from backends import Backend
from backends.grid import MAX_CELLS
from ui.api import PlaygroundBlocks, register_api
from ui.events import wire
from ui.grid_tab import build_grid_tab
from ui.layout import TITLE, build_page
from ui.session import Session


def build_demo(
    backends: Mapping[str, Backend], secrets: Sequence[str] = (), grid_max_cells: int = MAX_CELLS
) -> gr.Blocks:
    """The whole page, wired to ``backends`` (id → Backend, in display order).

    ``secrets`` are the server's keys, redacted from anything an upstream API echoes back.
    """
    # delete_cache bounds Gradio's own copies of served files (an hour's sweep, a day's age).
    with PlaygroundBlocks(title=TITLE, delete_cache=(3600, 24 * 3600)) as demo:
        session = gr.State(delete_callback=lambda s: s.close() if s else None)
        page = build_page(backends)
        show_status = wire(page, session, backends, secrets)
        build_grid_tab(page, session, backends, secrets, grid_max_cells)
        register_api(backends, secrets, grid_max_cells)  # /generate and /grid, for scripts and MCP
        # A fresh Session per visitor (a private load event, so no stray endpoint in the API page).
        demo.load(Session, None, session, api_visibility="private", queue=False)
        demo.load(show_status, [page.fw_key, page.aiml_key], [page.status], api_visibility="private")
        if page.precision is not None:
            # The model is shared: show every visitor the settings it runs with now, not the start-up ones.
            local = backends["local"]
            demo.load(
                lambda: (local.settings.precision, local.settings.offload),
                None,
                [page.precision, page.offload],
                api_visibility="private",
                queue=False,
            )
    return demo
