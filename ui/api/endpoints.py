"""The scripting and MCP endpoints: typed /generate and /grid, declared with gr.api over an ApiContext.

Each call keeps its images in its own folder inside Gradio's cache, so no other caller's
traffic can delete them: Gradio serves them from there and ``Blocks(delete_cache=...)``
removes them by age. Only a call that fails or is abandoned deletes its own folder.
"""

import inspect
import logging
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import utils as gradio_utils
from gradio.data_classes import FileData

from backends import Backend, BackendRun, GenerationRequest, InvalidRequest
from backends.sizes import CUSTOM, RATIO_SIZES
from config import PageOptions
from library import Library
from runs import form as form_values
from runs.grid.plan import MAX_CELLS
from runs.grid.run import make_grid, plan_grid
from runs.history import History
from runs.keeper import Keeper
from runs.session import Session
from spend.allowance import Allowance, Refused, Ticket, plan_spend
from ui.library_access import owner_for

log = logging.getLogger(__name__)
API_DIR = "flux-api"  # under Gradio's cache folder
API_CONCURRENCY = 4  # /generate, /grid and MCP calls at once: their own share, so they never lock the page out
API_QUEUE_ID = "api"


def call_store() -> History:
    """A fresh folder (in Gradio's cache) for one call's images; unbounded, as a call makes at most 16."""
    return History(limit=10_000, root=Path(gradio_utils.get_upload_folder()) / API_DIR)


def file_data(path: str | Path) -> dict:
    p = Path(path)
    return FileData(path=str(p), orig_name=p.name, mime_type="image/png").model_dump()


def refused_request(message: str) -> gr.Error:
    """A request refused before anything was sent: one log line, no traceback, the message to the caller."""
    log.info("refused a call: %s", message[:500])
    return gr.Error(message, print_exception=False)


def refusal_error(refusal: Refused) -> gr.Error:
    """A refused call as an API error (for MCP, a tool error) that says when to retry."""
    when = refusal.retry_after_s
    retry = f" Retry after {int(when) + 1} s." if when is not None and "try again in" not in refusal.message else ""
    return gr.Error(refusal.message + retry, print_exception=False)


@dataclass
class ApiContext:
    """What /generate and /grid need besides their arguments: the server's backends and keys, the grid's
    limit, the allowance they draw on, and the library that keeps their images (None: not kept)."""

    backends: Mapping[str, Backend]
    secrets: Sequence[str] = ()
    max_cells: int = MAX_CELLS
    allowance: Allowance = field(default_factory=lambda: Allowance(PageOptions()))
    library: Library | None = None

    @property
    def order(self) -> list[str]:
        return list(self.backends)

    @property
    def hosted(self) -> list[str]:
        return [b for b in self.backends if b != "local"]


def chosen_backends(ctx: ApiContext, names: list[str] | None, default: list[str]) -> list[str]:
    """The backends a call names (a lone string too), in the server's order; ``default`` when it names none."""
    if names is None:
        return default
    if isinstance(names, str):
        names = [names]
    order = ctx.order
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise refused_request(f"Nothing was sent: backends must be a list of one or more of {', '.join(order)}.")
    unknown = [n for n in names if n not in ctx.backends]
    if unknown:
        raise refused_request(f"Nothing was sent: unknown backend {unknown[0][:40]!r}; use {', '.join(order)}.")
    return [b for b in order if b in names]


def keeper_for(ctx: ApiContext, request: gr.Request | None) -> Keeper | None:
    """Where the caller's images are kept: their part of the library, if there is one."""
    if ctx.library is None:
        return None
    return Keeper(ctx.library, owner_for(ctx.library, request), notify=gr.Warning)


def build_request(prompt, aspect_ratio, width, height, steps, guidance, seed, num_images) -> GenerationRequest:
    """The call's arguments as a checked request (a preset ratio fixes the size), or the caller's error."""
    if aspect_ratio not in (*RATIO_SIZES, CUSTOM):
        raise refused_request(
            f"Nothing was sent: aspect_ratio {str(aspect_ratio)[:40]!r} is unknown; use {', '.join(RATIO_SIZES)}"
        )
    w, h = form_values.api_size(aspect_ratio, width, height)
    try:
        return form_values.build_request(prompt, aspect_ratio, w, h, steps, guidance, seed, num_images)
    except InvalidRequest as err:
        raise refused_request(f"Nothing was sent: {err}.") from None


def take(ctx: ApiContext, request: gr.Request | None, items: list, what: str) -> Ticket:
    """Take the spend of ``items`` (backend, steps) on the server's keys, or the caller's error saying when to retry."""
    try:
        return ctx.allowance.take(request, plan_spend(items, {}), what)
    except Refused as refusal:
        log.info("refused %s: %s", what, refusal.message)
        raise refusal_error(refusal) from None


async def generate(
    ctx: ApiContext,
    prompt: str,
    backends: list[str] | None = None,
    aspect_ratio: str = CUSTOM,
    width: int = 1024,
    height: int = 1024,
    num_inference_steps: int = 4,
    guidance_scale: float = 3.5,
    seed: int = 0,
    num_images: int = 1,
    request: gr.Request = None,
) -> tuple[list[dict], list[dict]]:
    """Generate images with FLUX.1 [schnell] on one or more backends at once, each image tagged with its seed.

    Returns the images (each a PNG with its parameters in a text chunk, captioned "backend · seed · size ·
    steps · latency") and one JSON record per image asked for: backend, seed, width, height, status
    ("ok" or why not), error (what to do about it), latency_s, and the estimated cost (cost_usd for
    hosted APIs, gpu_s for the local GPU). A failed backend never hides the others' images.

    Args:
        prompt: What to draw, in English, up to 2000 characters (FLUX reads about the first 1000).
        backends: Which backends to run: any of "local" (own GPU), "fireworks", "aiml". Default: the hosted ones.
        aspect_ratio: A preset (1:1, 16:9, 9:16, 4:3, 3:4, 3:2, 2:3, 21:9, ...) or "Custom" for width, height.
        width: Image width in pixels with aspect_ratio "Custom": 64 to 1536, a multiple of 32.
        height: Image height in pixels with aspect_ratio "Custom": 64 to 1536, a multiple of 32.
        num_inference_steps: Denoising steps, 1 to 12; schnell is made for 4.
        guidance_scale: 0 to 20; only Fireworks receives it, and schnell mostly ignores it.
        seed: 0 draws one random seed for the call; image i uses seed + i. A seed remakes its image on its backend.
        num_images: Images per backend, 1 to 4.
    """
    selected = chosen_backends(ctx, backends, ctx.hosted)
    req = build_request(prompt, aspect_ratio, width, height, num_inference_steps, guidance_scale, seed, num_images)
    req = req.with_seed()
    items = [(ctx.backends[b], req.num_inference_steps) for b in selected for _ in range(req.num_images)]
    ticket = take(ctx, request, items, "this call")
    store, state = call_store(), None
    try:
        sess = Session(history=store)
        sess.keeper = keeper_for(ctx, request)
        gallery: list[dict] = []
        state = None
        chosen = [ctx.backends[b] for b in selected]
        async for state, event in sess.run(req, chosen, {}, list(ctx.secrets), sent=ticket.sent):
            if isinstance(event, BackendRun):
                # The full captions (the columns' images carry them without the backend's name).
                entries = state.entries.get(event.backend, [])
                gallery += [{"image": file_data(e.path), "caption": e.caption} for e in entries]
        return gallery, state.records
    except BaseException:  # nobody will fetch these files
        store.clear()
        raise
    finally:
        ctx.allowance.settle(ticket, list(state.runs.values()) if state is not None else [])


async def grid(
    ctx: ApiContext,
    prompt: str,
    x_axis: str,
    x_values: str,
    y_axis: str = "",
    y_values: str = "",
    backends: list[str] | None = None,
    aspect_ratio: str = CUSTOM,
    width: int = 1024,
    height: int = 1024,
    num_inference_steps: int = 4,
    guidance_scale: float = 3.5,
    seed: int = 0,
    request: gr.Request = None,
) -> tuple[dict, list[dict]]:
    """Make an X/Y grid: one FLUX.1 [schnell] image per combination of two settings, drawn as one labelled PNG.

    Every setting not on an axis comes from the other arguments, as in generate. Values are comma-separated;
    seed and steps also take ranges ("1-4", "10-40 (+10)"); backend takes local, fireworks, aiml; for prompt,
    the first value is the text to replace and each value (the first included) is put in its place. At most
    MAXCELLS cells. Returns the grid image
    (axis titles and values; each cell captioned with backend and seed; failed cells drawn as labelled
    placeholders) and one JSON record per cell, row by row, as generate gives them plus "column" and "row".

    Args:
        prompt: What to draw. With the prompt axis, its first value must occur in this text.
        x_axis: The setting that varies across columns: seed, steps, backend, guidance, aspect_ratio or prompt.
        x_values: Comma-separated values for x_axis, e.g. "1-4" or "10-40 (+10)" for seed and steps.
        y_axis: The setting that varies down rows (same choices), or "" for a single row.
        y_values: Comma-separated values for y_axis.
        backends: Without a backend axis, the one backend to use (default: the first hosted one).
        aspect_ratio: A preset that fixes the size, or "Custom" to use width and height.
        width: Image width with aspect_ratio "Custom": 64 to 1536, a multiple of 32.
        height: Image height with aspect_ratio "Custom": 64 to 1536, a multiple of 32.
        num_inference_steps: Denoising steps, 1 to 12.
        guidance_scale: 0 to 20; only Fireworks receives it.
        seed: 0 draws one random seed shared by every cell (unless seed is an axis).
    """
    selected = chosen_backends(ctx, backends, ctx.hosted[:1])
    req = build_request(prompt, aspect_ratio, width, height, num_inference_steps, guidance_scale, seed, 1)
    try:
        plan = plan_grid(req, selected, ctx.backends, x_axis, x_values, y_axis, y_values, ctx.max_cells)
    except InvalidRequest as err:
        raise refused_request(f"Nothing was sent: {err}.") from None
    items = [(ctx.backends[c.backend], c.request.num_inference_steps) for c in plan.cells]
    ticket = take(ctx, request, items, "this grid")
    store, result = call_store(), None
    try:
        result = await make_grid(
            plan, ctx.backends, store.dir, list(ctx.secrets), keeper=keeper_for(ctx, request), sent=ticket.sent
        )
        return file_data(result.sheet), result.records
    except BaseException:
        store.clear()
        raise
    finally:
        ctx.allowance.settle(ticket, result.runs if result is not None else [])


def docstrings(ctx: ApiContext) -> tuple[str, str]:
    """/generate's and /grid's docstrings for this server: its grid limit, and backends from
    OPENAI_IMAGE_BACKENDS named too, so scripts and MCP agents can find them."""
    generate_doc = generate.__doc__ or ""
    grid_doc = (grid.__doc__ or "").replace("MAXCELLS", str(ctx.max_cells))
    extra = [b for b in ctx.hosted if b not in ("fireworks", "aiml")]
    if extra:
        generate_doc = generate_doc.replace('"aiml".', '"aiml", ' + ", ".join(f'"{b}"' for b in extra) + ".")
        grid_doc = grid_doc.replace("fireworks, aiml;", f"fireworks, aiml, {', '.join(extra)};")
    return generate_doc, grid_doc


def endpoint(fn: Callable, ctx: ApiContext, doc: str) -> Callable:
    """``fn`` with ``ctx`` bound as its first argument and ``doc`` as its docstring, for gr.api.

    Gradio reads the endpoint's signature, type hints and docstring (its Args become the API and MCP
    descriptions). The docstring depends on the server, so each registration gets its own wrapper
    rather than a changed ``fn.__doc__``."""
    bound = types.MethodType(fn, ctx)

    async def call(*args, **kwargs):
        return await bound(*args, **kwargs)

    call.__name__ = call.__qualname__ = fn.__name__
    call.__doc__ = doc
    call.__signature__ = inspect.signature(bound)  # type: ignore[attr-defined]
    call.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "ctx"}
    return call


def register_api(
    backends: Mapping[str, Backend],
    secrets: Sequence[str],
    max_cells: int = MAX_CELLS,
    allowance: Allowance | None = None,
    library: Library | None = None,
) -> None:
    """Declare /generate and /grid inside the current Blocks (they use the server's environment keys,
    drawing on the caller's ``allowance``); with a ``library``, every image they make is kept in it for the caller."""
    ctx = ApiContext(backends, tuple(secrets), max_cells, allowance or Allowance(PageOptions()), library)
    generate_doc, grid_doc = docstrings(ctx)
    limits: dict[str, Any] = {"concurrency_limit": API_CONCURRENCY, "concurrency_id": API_QUEUE_ID}
    gr.api(endpoint(generate, ctx, generate_doc), api_name="generate", **limits)
    gr.api(endpoint(grid, ctx, grid_doc), api_name="grid", **limits)


__all__ = ["API_QUEUE_ID", "ApiContext", "generate", "grid", "register_api"]
