"""The typed /library and /library_mark endpoints (also MCP tools): search what was made, newest first,
with the query language of library/query.py; star and tag images."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import gradio as gr
from gradio.data_classes import FileData

from library import ImageRow, Library
from library.query import parse
from ui.library_access import owner_for, served

log = logging.getLogger(__name__)
MAX_LIMIT = 200  # rows one call may return
MAX_OFFSET = 10_000_000  # past any library; keeps SQLite's 64-bit integers out of reach
MAX_MARK = 1_000  # images one /library_mark call may change


def gallery_item(library: Library, row: ImageRow) -> dict | None:
    """A gallery item for a saved image (a served copy, never the library's own path); None without a file."""
    path = library.path_of(row)
    if path is None or not path.exists():
        return None
    copy = served(path)
    data = FileData(path=copy, orig_name=path.name, mime_type="image/png").model_dump()
    return {"image": data, "caption": row.caption or f"{row.backend} · seed {row.seed}"}


def lookup(library: Library, owner: str, query, backends: list[str] | None, limit: int, offset: int):
    """The page of rows and their gallery (worker thread: database and file work)."""
    rows = library.search(owner, query=query, backends=backends, limit=limit, offset=offset)
    gallery = [item for row in rows if (item := gallery_item(library, row)) is not None]
    return gallery, [row.record() for row in rows]


def refuse(endpoint: str, reason: str) -> gr.Error:
    """The one log line for a refused call, and the error the caller gets (its reason, never a traceback)."""
    log.info("%s refused: %s", endpoint, reason)
    return gr.Error(reason, print_exception=False)


def whole(name: str, value, low: int, high: int) -> int:
    """``value`` as a whole number in low..high, or a refusal naming it (bools and floats are no numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high:,}, got {str(value)[:40]!r}")
    return value


def check_search(query, backends, limit, offset, order: Sequence[str]):
    """The arguments of /library checked and parsed; ValueError (QueryError) naming what is wrong."""
    if backends is not None:
        if isinstance(backends, str):
            backends = [backends]
        if not isinstance(backends, list) or not all(isinstance(b, str) for b in backends):
            raise ValueError("backends must be a list of backend ids")
        unknown = [b for b in backends if b not in order]
        if unknown:
            raise ValueError(f"Unknown backend {unknown[0]!r}; use {', '.join(order)}.")
    whole("limit", limit, 1, MAX_LIMIT)
    whole("offset", offset, 0, MAX_OFFSET)
    return parse("" if query is None else query, backends=order), backends or None


def check_mark(ids, star, add_tags, remove_tags) -> tuple[list[int], bool | None, list[str], list[str]]:
    """The arguments of /library_mark checked; ValueError naming what is wrong."""
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_MARK:
        raise ValueError(f"ids must be a list of 1 to {MAX_MARK:,} image ids")
    for i in ids:
        whole("each id", i, 1, 2**62)
    if star is not None and not isinstance(star, bool):
        raise ValueError(f"star must be true, false or null, got {str(star)[:40]!r}")
    tags = []
    for name, value in (("add_tags", add_tags), ("remove_tags", remove_tags)):
        value = [] if value is None else [value] if isinstance(value, str) else value
        if not isinstance(value, list) or len(value) > 32 or not all(isinstance(t, str) for t in value):
            raise ValueError(f"{name} must be a list of up to 32 tags (text)")
        tags.append(value)
    return ids, star, tags[0], tags[1]


def register_library_api(kept: Library, order: Sequence[str]) -> None:
    """Declare /library and /library_mark (MCP tools ``library``, ``library_mark``) in the current Blocks."""

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
        precision (local), run_id, star (true/false), tags, and file (its path inside the library folder;
        null when no image was made).

        Args:
            query: Words that must all occur in the prompt (prefixes match: "fox" finds "foxes"), mixed with
                field terms: backend:fireworks, seed:42, steps:>2 (<, >, <=, >=, =), size:1024x768, ratio:16:9,
                cost:<0.002, date:>2026-11-01 (also date:today, date:7d), status:failed, star:yes, tag:cats,
                run:12; -field:value excludes. "" lists all.
            backends: Only these backends: any of "local", "fireworks", "aiml". Default: all.
            limit: How many records, 1 to 200 (default 48, a page of the Library tab).
            offset: How many of the newest to skip, for the next page.
        """
        try:
            parsed, backends = check_search(query, backends, limit, offset, order)
            owner = owner_for(kept, request)
            return await asyncio.to_thread(lookup, kept, owner, parsed, backends, limit, offset)
        except ValueError as err:  # QueryError (and QueryTimeout) included
            raise refuse("/library", str(err)) from None

    async def library_mark(
        ids: list[int],
        star: bool | None = None,
        add_tags: list[str] | None = None,
        remove_tags: list[str] | None = None,
        request: gr.Request = None,
    ) -> list[dict]:
        """Star or unstar, tag and untag images of your library (tags are also collections: find them
        with the query tag:<name>). Returns the updated records (as /library's); ids that are not yours
        are left out.

        Args:
            ids: The images' ids (the "id" of /library's records), 1 to 1,000.
            star: true stars them, false unstars them, null leaves their stars as they are.
            add_tags: Tags to add, e.g. ["cats", "trip 2026"] (1 to 40 letters, digits, spaces, '.', '-', '_').
            remove_tags: Tags to remove.
        """
        try:
            ids, star, add, remove = check_mark(ids, star, add_tags, remove_tags)
            owner = owner_for(kept, request)
            rows = await asyncio.to_thread(kept.mark, owner, ids, star, add, remove)
        except ValueError as err:
            raise refuse("/library_mark", str(err)) from None
        return [r.record() for r in rows]

    gr.api(library, api_name="library", concurrency_limit=16, concurrency_id="library")
    gr.api(library_mark, api_name="library_mark", concurrency_limit=4, concurrency_id="library_mark")
