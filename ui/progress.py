"""What each comparison column says while a run goes: a ticking elapsed time and, for Local, a step bar."""

from __future__ import annotations

import html
import time

from backends import BackendRun, Progress


def column_status(
    label: str, started: float, run: BackendRun | None, progress: Progress | None, now: float | None = None
) -> str:
    """HTML for a column's heading line: running with elapsed seconds (and a bar), or done/failed."""
    head = f"<h3>{html.escape(label)}</h3>"
    if run is not None:
        ok = sum(o.image is not None for o in run.outcomes)
        word = "done" if ok else "failed"
        return f'{head}<div class="col-state {word}">{word} in {run.wall_s:.1f} s</div>'
    elapsed = max(0.0, (time.perf_counter() if now is None else now) - started)
    message = html.escape(progress.message) if progress else "waiting for the first image"
    line = f'<div class="col-state running">Running · {elapsed:.1f} s · {message}</div>'
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
