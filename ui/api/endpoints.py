"""The scripting and MCP endpoints: typed /generate and /grid, declared with gr.api.

Each call keeps its images in its own folder inside Gradio's cache, so no other caller's
traffic can delete them: Gradio serves them from there and ``Blocks(delete_cache=...)``
removes them by age. Only a call that fails or is abandoned deletes its own folder.
"""

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import utils as gradio_utils
from gradio.data_classes import FileData

from backends import Backend, BackendRun, InvalidRequest
from backends.sizes import CUSTOM, RATIO_SIZES
from config import PageOptions
from library import Library
from runs import form as controls
from runs.grid.plan import AXES, MAX_CELLS
from runs.grid.run import make_grid, plan_grid
from runs.history import History
from runs.keeper import Keeper
from runs.session import Session
from spend.allowance import Allowance, Refused, plan_spend
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


def register_api(
    backends: Mapping[str, Backend],
    secrets: Sequence[str],
    max_cells: int = MAX_CELLS,
    allowance: Allowance | None = None,
    library: Library | None = None,
) -> None:
    """Declare /generate and /grid inside the current Blocks (they use the server's environment keys,
    drawing on the caller's ``allowance``); with a ``library``, every image they make is kept in it for the caller."""
    allowance = allowance or Allowance(PageOptions())
    order = list(backends)
    hosted = [b for b in order if b != "local"]
    registry = backends  # the endpoints' parameter is called `backends`, as scripts name it

    def chosen_backends(names: list[str] | None, default: list[str]) -> list[str]:
        if names is None:
            return default
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise refused_request(f"Nothing was sent: backends must be a list of one or more of {', '.join(order)}.")
        unknown = [n for n in names if n not in registry]
        if unknown:
            raise refused_request(f"Nothing was sent: unknown backend {unknown[0][:40]!r}; use {', '.join(order)}.")
        return [b for b in order if b in names]

    def keeper_for(request: gr.Request | None) -> Keeper | None:
        return Keeper(library, owner_for(library, request), notify=gr.Warning) if library is not None else None

    def build(prompt, aspect_ratio, width, height, steps, guidance, seed, num_images):
        if aspect_ratio not in (*RATIO_SIZES, CUSTOM):
            raise refused_request(
                f"Nothing was sent: aspect_ratio {str(aspect_ratio)[:40]!r} is unknown; use {', '.join(RATIO_SIZES)}"
            )
        w, h = controls.api_size(aspect_ratio, width, height)
        try:
            return controls.build_request(prompt, aspect_ratio, w, h, steps, guidance, seed, num_images)
        except InvalidRequest as err:
            raise refused_request(f"Nothing was sent: {err}.") from None

    def take(request: gr.Request | None, items: list, what: str):
        try:
            return allowance.take(request, plan_spend(items, {}), what)
        except Refused as refusal:
            log.info("refused %s: %s", what, refusal.message)
            raise refusal_error(refusal) from None

    async def generate(
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
        selected = chosen_backends(backends, hosted)
        req = build(prompt, aspect_ratio, width, height, num_inference_steps, guidance_scale, seed, num_images)
        req = req.with_seed()
        items = [(registry[b], req.num_inference_steps) for b in selected for _ in range(req.num_images)]
        ticket = take(request, items, "this call")
        store, state = call_store(), None
        try:
            sess = Session(history=store)
            sess.keeper = keeper_for(request)
            gallery: list[dict] = []
            state = None
            async for state, event in sess.run(req, [registry[b] for b in selected], {}, list(secrets)):
                if isinstance(event, BackendRun):
                    # The full captions (the columns' images carry them without the backend's name).
                    entries = state.entries.get(event.backend, [])
                    gallery += [{"image": file_data(e.path), "caption": e.caption} for e in entries]
            return gallery, state.records
        except BaseException:  # nobody will fetch these files
            store.clear()
            raise
        finally:
            allowance.settle(ticket, list(state.runs.values()) if state is not None else [])

    async def grid(
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
        selected = chosen_backends(backends, hosted[:1])
        req = build(prompt, aspect_ratio, width, height, num_inference_steps, guidance_scale, seed, 1)
        try:
            plan = plan_grid(req, selected, registry, x_axis, x_values, y_axis, y_values, max_cells)
        except InvalidRequest as err:
            raise refused_request(f"Nothing was sent: {err}.") from None
        ticket = take(request, [(registry[c.backend], c.request.num_inference_steps) for c in plan.cells], "this grid")
        store, result = call_store(), None
        try:
            result = await make_grid(plan, registry, store.dir, list(secrets), keeper=keeper_for(request))
            return file_data(result.sheet), result.records
        except BaseException:
            store.clear()
            raise
        finally:
            allowance.settle(ticket, result.runs if result is not None else [])

    grid.__doc__ = (grid.__doc__ or "").replace("MAXCELLS", str(max_cells))
    # Backends from OPENAI_IMAGE_BACKENDS are named too, so scripts and MCP agents can find them.
    extra = [b for b in hosted if b not in ("fireworks", "aiml")]
    if extra:
        generate.__doc__ = (generate.__doc__ or "").replace(
            '"aiml".', '"aiml", ' + ", ".join(f'"{b}"' for b in extra) + "."
        )
        grid.__doc__ = grid.__doc__.replace("fireworks, aiml;", f"fireworks, aiml, {', '.join(extra)};")
    limits: dict[str, Any] = {"concurrency_limit": API_CONCURRENCY, "concurrency_id": API_QUEUE_ID}
    gr.api(generate, api_name="generate", **limits)
    gr.api(grid, api_name="grid", **limits)


# ---- MCP: images as image content ------------------------------------------------------------


def _is_file(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("meta"), dict) and "path" in value


def _is_pair_of_lists(value: Any) -> bool:
    # /library's (gallery, records) can arrive as a list rather than a tuple on that same path.
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value)


def flatten_for_mcp(data: list) -> list:
    """Our outputs as Gradio's MCP server can turn them into content: files at the top level.

    Gradio makes ImageContent only from a top-level file output; a gallery (a list of
    {image, caption}) would come back as one block of text. Its queued path without a
    progress token also hands over the whole result as one tuple.
    """
    if len(data) == 1 and (isinstance(data[0], tuple) or _is_pair_of_lists(data[0])):
        data = list(data[0])
    flat: list = []
    for output in data:
        if (
            isinstance(output, list)
            and output
            and all(isinstance(i, dict) and _is_file(i.get("image")) for i in output)
        ):
            for item in output:
                flat.append(item["image"])
                if item.get("caption"):
                    flat.append(item["caption"])
        elif isinstance(output, list | dict) and not _is_file(output):
            flat.append(json.dumps(output))  # records as JSON, not a Python repr
        else:
            flat.append(output)
    return flat


class PlaygroundBlocks(gr.Blocks):
    """gr.Blocks whose MCP server (made at launch) returns every image as image content."""

    @property
    def mcp_server_obj(self):  # type: ignore[override]
        return self.__dict__.get("_mcp_server_obj")

    @mcp_server_obj.setter
    def mcp_server_obj(self, server) -> None:
        if server is not None and not getattr(server, "_flux_flattens", False):
            original = server.postprocess_output_data
            server.postprocess_output_data = lambda data, root_url: original(flatten_for_mcp(list(data)), root_url)
            server._flux_flattens = True
        self.__dict__["_mcp_server_obj"] = server


__all__ = ["AXES", "PlaygroundBlocks", "flatten_for_mcp", "register_api"]
