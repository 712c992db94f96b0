"""Gradio's queue and upload parser, bounded: the API's share of the queue and one file per upload."""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
from gradio import route_utils

log = logging.getLogger(__name__)
MAX_FILES_PER_UPLOAD = 1


def share_queue(demo: gr.Blocks, concurrency_id: str, max_waiting: int) -> None:
    """Refuse a new ``concurrency_id`` event (with "queue full", HTTP 503) while ``max_waiting`` of them wait."""
    queue = demo._queue
    push = queue.push

    async def shared_push(body: Any, request: Any, username: str | None):
        fn = demo.fns.get(body.fn_index) if body.fn_index is not None else None
        if fn is not None and fn.concurrency_id == concurrency_id:
            waiting = queue.event_queue_per_concurrency_id.get(concurrency_id)
            if waiting is not None and len(waiting.queue) >= max_waiting:
                message = f"The API's share of the queue is full ({max_waiting} calls waiting); retry in a minute."
                log.info("refused an API call: %s", message)
                return False, message, "queue_full"
        return await push(body=body, request=request, username=username)

    queue.push = shared_push


class _OneFileParser(route_utils.GradioMultiPartParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["max_files"] = min(kwargs.get("max_files", MAX_FILES_PER_UPLOAD), MAX_FILES_PER_UPLOAD)
        super().__init__(*args, **kwargs)


def one_file_per_upload() -> None:
    """Gradio's upload route parses up to 1,000 files a request; ours take one (the restore box)."""
    route_utils.GradioMultiPartParser = _OneFileParser  # looked up by route_utils.upload_fn at each call


#: How long Gradio's queue loop sleeps while no event waits. Gradio 6.31 sleeps 1 ms (``Queue.sleep_when_free``,
#: gradio/queueing.py ``start_processing``), about a thousand wake-ups a second with no visitor at all (45–90 ms
#: of CPU a second on this machine, issue 27). 10 ms, like Gradio's own progress loop, adds at most 10 ms before a
#: queued run starts (runs take seconds) and cuts the idle wake-ups tenfold.
QUEUE_POLL_S = 0.01


def slower_queue_poll(demo: gr.Blocks, seconds: float = QUEUE_POLL_S) -> None:
    """Raise the queue's idle polling interval to ``seconds`` (call after ``demo.queue()``, which makes the queue).

    Gradio has no setting for it: the attribute is set on the queue object; if a Gradio upgrade drops it, one
    warning says so and the default stays."""
    queue = demo._queue
    if not isinstance(getattr(queue, "sleep_when_free", None), int | float):
        log.warning("Gradio's queue has no sleep_when_free any more: its idle polling interval is left as it is")
        return
    queue.sleep_when_free = max(queue.sleep_when_free, seconds)
