"""Issue 18's pure parts, each called alone: states, per-image times, words, the grid's seed, the code box."""

from __future__ import annotations

from PIL import Image

from backends import BackendRun, ImageOutcome
from backends.errors import Cancelled, Timeout
from ui.progress import column_status
from ui.scoreboard import Scoreboard


def image(i: int = 0, latency: float | None = 1.0) -> ImageOutcome:
    return ImageOutcome(i, 100 + i, image=Image.new("RGB", (2, 2)), latency_s=latency)


def test_a_cancelled_run_is_cancelled_in_a_neutral_colour_and_not_counted_as_failed():
    cancelled = BackendRun("aiml", "AI/ML API", [ImageOutcome(0, 1, error=Cancelled("cancelled"))], wall_s=0.4)
    text = column_status("AI/ML API", 0.0, cancelled, None)
    assert 'class="col-state cancelled"' in text and "cancelled in 0.4 s" in text and "failed" not in text
    timed_out = BackendRun("aiml", "AI/ML API", [ImageOutcome(0, 1, error=Timeout("slow"))], wall_s=6.0)
    assert 'class="col-state failed"' in column_status("AI/ML API", 0.0, timed_out, None)
    board = Scoreboard()
    board.record(cancelled)
    board.record(timed_out)
    runs, ok, failed, filtered = board.rows()[0][1:5]
    assert (runs, ok, failed, filtered) == (2, 0, 1, 0)
