"""The typed /library endpoint (also an MCP tool): search what was made, newest first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import gradio as gr
from gradio.data_classes import FileData

from library import ImageRow, Library
from ui.library_access import owner_for, served

MAX_LIMIT = 200  # rows one call may return


def gallery_item(library: Library, row: ImageRow) -> dict | None:
    """A gallery item for a saved image (a served copy, never the library's own path); None without a file."""
    path = library.path_of(row)
    if path is None or not path.exists():
        return None
    copy = served(path)
    data = FileData(path=copy, orig_name=path.name, mime_type="image/png").model_dump()
    return {"image": data, "caption": row.caption or f"{row.backend} · seed {row.seed}"}


def lookup(library: Library, owner: str, query: str, backends: list[str] | None, limit: int, offset: int):
    """The page of rows and their gallery (worker thread: database and file work)."""
    rows = library.search(owner, query=query, backends=backends, limit=limit, offset=offset)
    gallery = [item for row in rows if (item := gallery_item(library, row)) is not None]
    return gallery, [row.record() for row in rows]


def register_library_api(kept: Library, order: Sequence[str]) -> None:
    """Declare /library (the MCP tool ``library``) inside the current Blocks, over the library ``kept``."""

    async def library(
        query: str = "",
        backends: list[str] | None = None,
        limit: int = 48,
        offset: int = 0,
        request: gr.Request = None,
    ) -> tuple[list[dict], list[dict]]:
        """Search the images this playground has kept (yours only, on a public Space), newest first.

        Returns the saved images (PNGs with their parameters in a text chunk) and one JSON record per
        image asked for, failed ones included: id, created_at, prompt, backend, seed, width, height,
        num_inference_steps, guidance_scale, status, error, latency_s, cost (cost_unit "usd" or "gpu_s"),
        precision (local), run_id, and file (its path inside the library folder; null when no image was made).

        Args:
            query: Words that must all occur in the prompt (prefixes match: "fox" finds "foxes"); "" lists all.
            backends: Only these backends: any of "local", "fireworks", "aiml". Default: all.
            limit: How many records, 1 to 200 (default 48, a page of the Library tab).
            offset: How many of the newest to skip, for the next page.
        """
        if backends is not None:
            if isinstance(backends, str):
                backends = [backends]
            unknown = [b for b in backends if b not in order]
            if unknown:
                raise gr.Error(f"Unknown backend {unknown[0]!r}; use {', '.join(order)}.")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise gr.Error(f"limit must be 1 to {MAX_LIMIT}, got {limit!r}.")
        if not isinstance(offset, int) or offset < 0:
            raise gr.Error(f"offset must be 0 or more, got {offset!r}.")
        owner = owner_for(kept, request)
        return await asyncio.to_thread(lookup, kept, owner, query or "", backends or None, limit, offset)

    gr.api(library, api_name="library", concurrency_limit=16, concurrency_id="library")
