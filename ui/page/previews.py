"""The Local column's picture of a run in progress: the newest denoising step, as a small image above its step bar.

The Local backend hands every finished step to a listener (backends/local/preview.py). The listener only keeps
the newest step (a reference to its latents, on the GPU thread); the page turns it into pixels when it draws the
column (every half second at most, and once per step), so a fast run costs one latent→RGB projection per redraw,
never a VAE decode, and a slow reader never slows the GPU.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import logging
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TypeVar

from backends import Backend
from backends.local import LocalBackend
from backends.local.preview import StepListener, StepUpdate, listen_steps
from runs.session import Session

log = logging.getLogger(__name__)
T = TypeVar("T")
WEBP_QUALITY = 70  # a glimpse, not the image: a 1024² run's 128² preview is a few KB


class _Watch:
    """One run's newest step, and the HTML last made from it (so redraws of the same step are free)."""

    def __init__(self, backend_id: str) -> None:
        self.backend_id = backend_id
        self.latest: StepUpdate | None = None
        self.drawn: tuple[StepUpdate, str] | None = None
        self.lock = threading.Lock()  # two redraws at once (a tick and a step) make the image once

    def remember(self, update: StepUpdate) -> None:
        """Called on the GPU thread after each step: keep a reference, nothing more."""
        self.latest = update


class StepPreviews:
    """Per browser session, the newest step of its Local run in progress."""

    def __init__(self) -> None:
        self._watches: weakref.WeakKeyDictionary[Session, _Watch] = weakref.WeakKeyDictionary()

    def watch(self, sess: Session, runnable: Sequence[Backend]) -> StepListener | None:
        """A listener for the run about to start in ``sess``, or None when no Local backend runs in it.

        A new run replaces the previous run's watch, so a step that a cancelled run finishes late
        lands in a watch nobody reads."""
        local = [b.id for b in runnable if isinstance(b, LocalBackend)]
        if len(local) != 1:  # the steps name no backend: with two local ones, whose would it be?
            self._watches.pop(sess, None)
            return None
        watch = _Watch(local[0])
        self._watches[sess] = watch
        return watch.remember

    def forget(self, sess: Session) -> None:
        """The run is over: let its latents go."""
        self._watches.pop(sess, None)

    def html(self, sess: Session | None, backend_id: str) -> str:
        """The newest step of ``backend_id``'s run in ``sess`` as ``<img>`` tags (one per image), or ''."""
        watch = self._watches.get(sess) if sess is not None else None
        if watch is None or watch.backend_id != backend_id or watch.latest is None:
            return ""
        with watch.lock:
            update = watch.latest
            if watch.drawn is not None and watch.drawn[0] is update:
                return watch.drawn[1]
            try:
                shown = preview_html(update)
            except Exception:  # a preview is a nicety: never let it break the column
                log.exception("could not draw a step preview")
                shown = ""
            watch.drawn = (update, shown)
            return shown


def preview_html(update: StepUpdate) -> str:
    """``<img>`` tags for a step's previews, at latent resolution, as inline WebP."""
    tags = []
    for i, image in enumerate(update.previews()):
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY)
        data = base64.b64encode(buffer.getvalue()).decode()
        alt = html.escape(f"Preview of image {i + 1}, step {update.step} of {update.total}")
        tags.append(f'<img class="step-preview" alt="{alt}" src="data:image/webp;base64,{data}">')
    return '<div class="step-previews">' + "".join(tags) + "</div>"


async def listening(events: AsyncGenerator[T, None], listener: StepListener | None) -> AsyncIterator[T]:
    """``events`` (a run's async iterator), with ``listener`` hearing the Local steps of the run it starts.

    The listener is a context variable that the backends' tasks copy when they are created, which is
    in the run's first step: it is set around that step only, so it is set and reset in the same context
    (a Gradio generator may be resumed in another one between its yields)."""
    async with contextlib.aclosing(events):  # closed with this one (the page went away): the run stops
        if listener is not None:
            with listen_steps(listener):
                try:
                    first = await anext(events)
                except StopAsyncIteration:
                    return
            yield first
        async for event in events:
            yield event
