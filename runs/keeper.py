"""Where results land in the library: every image of a page run, grid cell, /generate, /grid or MCP call.

One ``Keeper`` per session (or API call) knows the library and whose images they are. File and
database work runs in worker threads, never on the event loop. A save that fails (disk full, a
read-only folder) never hides an image: the run shows it and one warning says it was not kept.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from backends import Backend, BackendRun, GenerationRequest, ImageOutcome
from images.pngmeta import png_with_params
from library import ImageRow, Library
from library.store import LOCAL_OWNER, NotSaved
from runs.result import BackendResult

log = logging.getLogger(__name__)
# No thumbnail is made here: the Library makes each one where it is first shown (library.store.thumb),
# so none takes CPU between a run's start and its last image reaching the client (issue 27).
_WRITES = ThreadPoolExecutor(max_workers=8, thread_name_prefix="library-writes")


def png_bytes(outcome: ImageOutcome, params: dict) -> bytes | None:
    """The image as a PNG with the download's text chunks (the upstream's checked bytes, not re-encoded)."""
    return png_with_params(outcome.image, params) if outcome.image is not None else None


def image_rows(result: BackendResult) -> list[tuple[ImageRow, ImageOutcome, dict]]:
    """One row per image asked for (failed ones too), with the outcome and its PNG chunk's params."""
    out = []
    parts = zip(result.outcomes, result.records, result.params, result.captions, strict=True)
    for outcome, record, params, text in parts:
        usd, gpu_s = record.get("cost_usd"), record.get("gpu_s")
        unit = "gpu_s" if gpu_s is not None else ("usd" if usd is not None else None)
        row = ImageRow(
            prompt=params["prompt"], backend=result.backend, seed=outcome.seed,
            width=record["width"], height=record["height"],
            num_inference_steps=record["num_inference_steps"], guidance_scale=record["guidance_scale"],
            aspect_ratio=params["aspect_ratio"], received=result.received, status=outcome.status,
            error=record["error"], latency_s=record["latency_s"],
            cost=gpu_s if gpu_s is not None else usd, cost_unit=unit,
            cost_text=record["cost"], precision=result.received.get("precision") if result.backend == "local" else None,
            caption=text,
        )  # fmt: skip
        out.append((row, outcome, params))
    return out


@dataclass
class Keeper:
    """Saves one session's (or one API call's) images into the library, for ``owner``."""

    library: Library
    owner: str = LOCAL_OWNER
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    warned: bool = False  # one warning per problem, not one per image
    #: How a person hears that images were not kept (the page passes gr.Warning); None: the log only.
    notify: Callable[[str], object] | None = None

    async def start(self, kind: str, request: GenerationRequest) -> int | None:
        """A run's (or grid's) row; None if the library cannot be written (the run goes on)."""
        try:
            return await asyncio.to_thread(
                self.library.start_run, kind, request.prompt, request.as_dict(), self.owner, self.session
            )
        except NotSaved as err:
            self._warn(str(err))
            return None
        except Exception as err:  # never break the run over its record
            log.exception("library: a run's row could not be written")
            self._warn(f"an unexpected error: {type(err).__name__}")
            return None

    async def save(self, run_id: int | None, result: BackendResult, cell: dict | None = None) -> list[Path | None]:
        """Keep every image of ``result`` (a row for each one asked for), written once from the bytes in
        memory; each image's library file, or None where none was kept (the caller then writes its own)."""
        none: list[Path | None] = [None] * len(result.outcomes)
        if run_id is None and self.warned:
            return none
        try:
            rows = image_rows(result)
            saved = await asyncio.to_thread(self._save_all, run_id, result, rows, cell)
        except Exception as err:  # the library must never break a run: its images are shown regardless
            log.exception("library: saving %s's images failed", result.backend)
            self._warn(f"an unexpected error: {type(err).__name__}")
            return none
        return [self.library.path_of(r) for r in saved] if len(saved) == len(none) else none

    def _save_all(self, run_id, result, rows, cell) -> list[ImageRow]:
        def save_one(item: tuple[ImageRow, ImageOutcome, dict]) -> ImageRow:
            row, outcome, params = item
            row.owner, row.session, row.run_id, row.cell = self.owner, self.session, run_id, cell
            return self.library.save_image(row, png_bytes(outcome, params))

        saved = []
        try:
            if run_id is not None:
                self.library.update_run(run_id, {result.backend: result.library_part()})
            # A backend's images are written side by side: each waits on its own fsync, not on the others'.
            saved = list(_WRITES.map(save_one, rows))
        except NotSaved as err:
            self._warn(str(err))
        return saved

    async def note(self, run_id: int | None, meta: dict) -> None:
        """Add ``meta`` (a grid's axes) to a run's row; a failure only warns."""
        if run_id is None:
            return
        try:
            await asyncio.to_thread(self.library.update_run, run_id, meta)
        except NotSaved as err:
            self._warn(str(err))

    def _warn(self, reason: str) -> None:
        log.warning("library: images not saved: %s", reason)
        if not self.warned:
            self.warned = True
            if self.notify is not None:
                self.notify(f"These images were not saved to the library ({reason}); they are shown here only.")


def served_run_keeper(
    library: Library | None, backends: Backend | Mapping[str, Backend]
) -> Callable[..., Awaitable[None]] | None:
    """What keeps the runs served over the OpenAI images API (``OPENAI_SERVE_KEY``): they land in the
    workstation's own library, like page runs (serving is refused on a Space unless allowed).
    ``backends``: id → Backend, or the one Local backend (a cluster replica)."""
    if library is None:
        return None
    by_id = dict(backends) if isinstance(backends, Mapping) else {"local": backends}
    keeper = Keeper(library)

    async def keep(request: GenerationRequest, run: BackendRun) -> None:
        run_id = await keeper.start("run", request)
        # A served call hands over its BackendResult, made once with the keys redacted.
        result = run if isinstance(run, BackendResult) else BackendResult.of(by_id[run.backend], request, run, ())
        await keeper.save(run_id, result)

    return keep
