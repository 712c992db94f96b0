"""What each comparison column says while a run goes: a ticking elapsed time and, for Local, a step bar."""

from __future__ import annotations

import html
import time

from backends import BackendRun, Progress


def run_state(run: BackendRun) -> str:
    """`done` if any image came, `cancelled` if the person stopped it before one did, else `failed`."""
    if any(o.image is not None for o in run.outcomes):
        return "done"
    # A Cancel is the person's choice, not the backend's fault: it gets its own word and a neutral colour.
    if run.outcomes and all(o.status == "cancelled" for o in run.outcomes):
        return "cancelled"
    return "failed"


def column_status(
    label: str,
    started: float,
    run: BackendRun | None,
    progress: Progress | None,
    now: float | None = None,
    preview: str = "",
) -> str:
    """HTML for a column's heading line: running with elapsed seconds (and a bar), or done/failed.

    ``preview`` (HTML, ui/page/previews.py) goes above the bar while the backend runs, and never after."""
    head = f"<h3>{html.escape(label)}</h3>"
    if run is not None:
        word = run_state(run)
        return f'{head}<div class="col-state {word}">{word} in {run.wall_s:.1f} s</div>'
    elapsed = max(0.0, (time.perf_counter() if now is None else now) - started)
    message = html.escape(progress.message) if progress else "waiting for the first image"
    line = f'<div class="col-state running">Running · {elapsed:.1f} s · {message}</div>' + preview
    if progress is not None and progress.fraction is not None:
        pct = round(100 * min(1.0, max(0.0, progress.fraction)))
        line += (
            f'<div class="stepbar" role="progressbar" aria-label="{html.escape(label)} progress" '
            f'aria-valuenow="{pct}" aria-valuemin="0" aria-valuemax="100"><span style="width:{pct}%"></span></div>'
        )
    return head + line


def skipped_status(label: str, reason: str) -> str:
    """A ticked backend that could not run: why, and how to enable it."""
    return f'<h3>{html.escape(label)}</h3><div class="col-state off">Not run: {html.escape(reason)}</div>'
