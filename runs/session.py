"""One browser session: its history, scoreboard, cancel flag, and how a run is carried out."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backends import Backend, BackendRun, GenerationRequest, Progress, RunContext, run_backends
from backends.errors import NotAnImage
from images.contact_sheet import Tile, contact_sheet, sheet_pnginfo
from runs.history import History, HistoryEntry
from runs.keeper import Keeper
from runs.records import column_markdown, cost_words, outcome_message
from runs.result import BackendResult
from runs.scoreboard import Scoreboard

#: Told (backend id, request, image index) when an image's request reached the upstream (RunContext.on_sent).
Sent = Callable[[str, GenerationRequest, int], None]


def run_context(backend: str, keys: Mapping[str, str], sent: Sent | None) -> RunContext:
    """The backend's RunContext: its pasted key, and ``sent`` told of each image it sends."""
    ctx = RunContext(api_key=keys.get(backend) or None)
    if sent is not None:
        ctx.on_sent = functools.partial(sent, backend)
    return ctx


@dataclass
class RunState:
    """What the page shows about the run in progress."""

    request: GenerationRequest
    backends: list[str] = field(default_factory=list)  # the ids that run
    started: float = field(default_factory=time.perf_counter)
    runs: dict[str, BackendResult] = field(default_factory=dict)  # each backend's, made once (runs.result)
    images: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # backend -> (path, short caption)
    entries: dict[str, list[HistoryEntry]] = field(default_factory=dict)  # backend -> this run's images
    progress: dict[str, Progress] = field(default_factory=dict)  # backend -> its latest report
    records: list[dict] = field(default_factory=list)

    def all_entries(self) -> list[HistoryEntry]:
        return [e for entries in self.entries.values() for e in entries]


class Session:
    """Per-browser-session state (gr.State calls this class to make one per visitor)."""

    def __init__(self, history: History | None = None) -> None:
        self.history = history or History()
        self.scoreboard = Scoreboard()
        self.active: set[threading.Event] = set()  # one per run in progress; Cancel sets them all
        self.selected: dict | None = None
        self.run_count = 0
        self.current: RunState | None = None  # the latest run, shown by the columns and the timer
        #: Keys pasted for OPENAI_IMAGE_BACKENDS endpoints, by backend id (never stored anywhere else).
        self.endpoint_keys: dict[str, str] = {}
        self.keeper: Keeper | None = None  # keeps every image in the library, when there is one

    def start_run(self) -> threading.Event:
        """A cancel flag for a new run, registered before anything is sent, so no Cancel is lost."""
        flag = threading.Event()
        self.active.add(flag)
        return flag

    def cancel_all(self) -> None:
        for flag in list(self.active):
            flag.set()

    def _store(
        self, result: BackendResult, files: Sequence[Path | None]
    ) -> tuple[BackendResult, list[HistoryEntry], list[tuple[str, str]]]:
        """Put ``result``'s images in the history (blocking): a link to each one's library file where the
        keeper wrote one (``files``, per image asked for), else the history's own file. Returns the result
        with its images as files (no bytes held), their entries, and (path, short caption) for its column."""
        entries, stored, shown = [], {}, []
        for i, outcome in enumerate(result.outcomes):
            if outcome.image is not None:
                source = files[i] if i < len(files) else None
                entry = self.history.add(outcome.image, result.captions[i], result.params[i], source=source)
                entries.append(entry)
                shown.append((str(entry.path), result.short[i]))
                stored[outcome.index] = entry.stored
        return result.stored(stored), entries, shown

    def close(self) -> None:
        self.cancel_all()
        self.history.clear()

    async def run(
        self,
        request: GenerationRequest,
        backends: Sequence[Backend],
        keys: Mapping[str, str],
        secrets: Sequence[str | None],
        cancel: threading.Event | None = None,
        sent: Sent | None = None,
    ) -> AsyncIterator[tuple[RunState, Progress | BackendRun]]:
        """Run ``request`` (seed fixed) on ``backends``; yield the state after every event.

        ``sent(backend id, request, index)`` hears of every image whose request reached an upstream
        (RunContext.on_sent), as the allowance's Ticket.sent does."""
        cancel = cancel or self.start_run()
        state = RunState(request, [b.id for b in backends])
        self.current = state
        contexts = {b.id: run_context(b.id, keys, sent) for b in backends}
        by_id = {b.id: b for b in backends}
        run_id = await self.keeper.start("run", request) if self.keeper else None
        try:
            async for event in run_backends(request, backends, contexts, cancel=cancel):
                if isinstance(event, BackendRun):
                    result = BackendResult.of(by_id[event.backend], request, event, secrets)
                    self.scoreboard.record(result)
                    # The library writes each image once, from the bytes in memory; the history links to it.
                    files = await self.keeper.save(run_id, result) if self.keeper else []
                    event, entries, shown = await asyncio.to_thread(self._store, result, files)
                    state.runs[event.backend] = event
                    state.entries[event.backend] = entries
                    state.images[event.backend] = shown
                    state.records += event.records
                else:
                    state.progress[event.backend] = event
                yield state, event
        finally:
            self.active.discard(cancel)


def column_text(backend: Backend, state: RunState, secrets: Sequence[str | None]) -> str:
    run = state.runs[backend.id]
    return column_markdown(backend, state.request, run, secrets) + "\n\n" + cost_line(run, state.request)


def cost_line(run: BackendRun, request: GenerationRequest) -> str:
    """Estimated cost, beside the latency: USD on hosted APIs, GPU-seconds locally."""
    result = BackendResult.of_run(run, request.num_inference_steps)  # a result already: its own costs
    return cost_words(run.backend, result.each, result.total)


def export_run(
    state: RunState, backends: Sequence[Backend], out_dir: Path, secrets: Sequence[str | None]
) -> tuple[Path, Path]:
    """Write the comparison's contact sheet (PNG) and record (JSON); return their paths.

    Named after the run (seed and time), so downloads don't overwrite each other; the previous
    run's files are deleted here, as they leave the page (Gradio serves its own copies).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("comparison-*"):
        old.unlink(missing_ok=True)
    steps = state.request.num_inference_steps
    stem = f"comparison-seed{state.request.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    tiles = []
    for backend in backends:
        run = state.runs.get(backend.id)
        if run is None:
            continue
        first = next((o for o in run.outcomes if o.image is not None), None)
        if first is not None:
            w, h = first.image.size
            # "x", not "×": Pillow's built-in font has no "×" glyph.
            label = f"{run.label} · seed {first.seed} · {w}x{h} · {run.wall_s:.2f} s"
            try:  # the sheet is the first place these pixels are needed: decoded here, in export's thread
                tiles.append(Tile(label, first.image.decode()))
            except NotAnImage as err:
                tiles.append(Tile(f"{run.label} · seed {first.seed} · damaged", None, str(err)))
        else:
            message = next((outcome_message(backend, o, secrets) for o in run.outcomes if o.error), None)
            label = f"{run.label} · seed {run.outcomes[0].seed} · failed · {run.wall_s:.2f} s"
            tiles.append(Tile(label, None, message))
    sheet_path = out_dir / f"{stem}.png"
    sheet = contact_sheet(state.request.prompt, tiles)
    sheet.save(sheet_path, format="PNG", pnginfo=sheet_pnginfo(state.request.prompt, tiles))
    record = {
        "request": state.request.as_dict(),
        "wall_s": round(time.perf_counter() - state.started, 3),
        "backends": [BackendResult.of_run(r, steps).export_part() for r in state.runs.values()],
        "images": state.records,
    }
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(record, indent=2))
    return sheet_path, json_path
