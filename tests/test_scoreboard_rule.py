"""One scoreboard rule: the session's scoreboard and the library, fed the same runs, count and time them alike."""

from __future__ import annotations

import asyncio

from PIL import Image

from backends import BackendRun, GenerationRequest, ImageOutcome
from backends.errors import Cancelled, ContentFiltered, UpstreamError
from library import Library
from library.scoring import kind, median, percentile
from runs.keeper import Keeper
from runs.result import BackendResult
from runs.scoreboard import COLUMNS, Scoreboard


class Named:
    """Just what records need of a backend."""

    def __init__(self, backend_id: str, label: str) -> None:
        self.id, self.label, self.key_env = backend_id, label, None


def outcome(i: int, status: str, latency: float | None) -> ImageOutcome:
    errors = {"filtered": ContentFiltered(), "cancelled": Cancelled("stopped"), "failed": UpstreamError("down")}
    image = Image.new("RGB", (8, 8)) if status == "ok" else None
    return ImageOutcome(i, 100 + i, image=image, error=errors.get(status), latency_s=latency)


def runs() -> list[tuple[Named, BackendRun]]:
    fw, aiml, local = Named("fireworks", "Fireworks"), Named("aiml", "AI/ML API"), Named("local", "Local FP8")
    out = []
    # 20 Fireworks images with 1..20 s: p95 is the 19th (nearest rank), not the slowest.
    for n in range(5):
        out.append((fw, BackendRun("fireworks", "Fireworks", [outcome(i, "ok", 4 * n + i + 1.0) for i in range(4)])))
    mixed = ["ok", "filtered", "cancelled", "failed"]
    out.append((fw, BackendRun("fireworks", "Fireworks", [outcome(i, s, 9.5) for i, s in enumerate(mixed)])))
    # Two AI/ML images: the median of an even count is the mean of the middle two.
    out.append((aiml, BackendRun("aiml", "AI/ML API", [outcome(0, "ok", 2.0), outcome(1, "ok", 3.0)])))
    out.append((aiml, BackendRun("aiml", "AI/ML API", [outcome(0, "cancelled", None)], wall_s=0.3)))
    # One Local job of two images: each image's own seconds is its share.
    out.append((local, BackendRun("local", "Local FP8", [outcome(0, "ok", 5.0), outcome(1, "ok", 5.0)], wall_s=5.1)))
    return out


def test_the_session_and_the_library_count_and_time_the_same_runs_alike(tmp_path):
    board, lib = Scoreboard(), Library(tmp_path / "lib")
    keeper = Keeper(lib)
    request = GenerationRequest("a lighthouse", width=64, height=64, num_images=4, seed=100)

    async def keep() -> None:
        run_id = await keeper.start("run", request)
        for backend, run in runs():
            result = BackendResult.of(backend, request, run, [])
            board.record(result)
            await keeper.save(run_id, result)

    asyncio.run(keep())
    session = {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in board.rows()}
    labels = {"fireworks": "Fireworks", "aiml": "AI/ML API", "local": "Local FP8"}
    library = {labels[s["backend"]]: s for s in lib.stats("local")}
    assert set(session) == set(library) == set(labels.values())
    for label, s in session.items():
        got = library[label]
        assert (s["OK"], s["Failed"], s["Filtered"], s["Cancelled"]) == (
            got["images"], got["failures"], got["filtered"], got["cancelled"]
        ), label  # fmt: skip
        assert (s["Median s"], s["p95 s"]) == (round(got["p50_s"], 2), round(got["p95_s"], 2)), label
    fw = session["Fireworks"]
    assert (fw["OK"], fw["Failed"], fw["Filtered"], fw["Cancelled"]) == (21, 1, 1, 1)
    assert (fw["Median s"], fw["p95 s"]) == (10.0, 19.0)  # of 1..20 and 9.5: the 11th and the 20th of 21
    assert (session["AI/ML API"]["Median s"], session["AI/ML API"]["Cancelled"]) == (2.5, 1)
    assert (session["Local FP8"]["Median s"], session["Local FP8"]["p95 s"]) == (2.5, 2.5)


def test_the_rule_itself():
    assert [kind(s) for s in ("ok", "filtered", "cancelled", "timeout", "rate_limited", "error")] == [
        "ok", "filtered", "cancelled", "failed", "failed", "failed",
    ]  # fmt: skip
    assert median([1.0, 2.0]) == 1.5 and median([]) is None
    assert percentile(range(1, 21), 95) == 19 and percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    assert percentile([], 95) is None and percentile([3.0], 50) == 3.0
