"""Open run and Compare over a library on disk: a grid's seeds, summed costs and grid order; a Local
image's own seconds; and the table of what differed between saved images."""

from __future__ import annotations

from library import Library
from tests.test_library_store import png, row
from ui.library_tab.compare import compare_table
from ui.library_tab.handlers import run_view

LABELS = {"fireworks": "Fireworks", "aiml": "AI/ML API", "local": "Local FP8"}


def test_open_run_of_a_grid_shows_its_seeds_summed_cost_and_grid_order(tmp_path):
    lib = Library(tmp_path / "lib")
    run_id = lib.start_run("grid", "a paper boat", {"prompt": "a paper boat", "seed": 42})
    # Cells finish by latency, not in grid order; each cell's save overwrote the backend's part of the run.
    for x, seed in ((2, 7), (0, 5), (1, 6)):
        cell = {"column": f"seed={seed}", "row": None, "x": x, "y": 0}
        r = row("a paper boat", seed=seed, cost=0.0014, cost_unit="usd", cost_text="$0.0014", latency_s=1.5)
        r.run_id, r.cell = run_id, cell
        lib.save_image(r, png({"seed": seed}))
        lib.update_run(run_id, {"fireworks": {"label": "Fireworks", "wall_s": 1.5, "cost_total": "$0.0014"}})
    text, items = run_view(lib, "local", run_id, LABELS)
    assert "seeds 5, 6, 7" in text and "seed 42" not in text
    assert "$0.0042 in all" in text and "3/3 image(s)" in text
    assert [caption.split(" · ")[0] for _, caption in items] == ["seed=5", "seed=6", "seed=7"]


def test_open_run_shows_a_local_images_own_seconds_not_the_batch(tmp_path):
    lib = Library(tmp_path / "lib")
    run_id = lib.start_run("run", "a lamp", {"prompt": "a lamp", "seed": 8})
    for seed in (8, 9):  # one GPU job of 45.55 s made both: 22.77 s each
        r = row("a lamp", backend="local", seed=seed, latency_s=22.775, cost=22.775, cost_unit="gpu_s")
        r.run_id, r.cost_text = run_id, "22.77 GPU-s"
        lib.save_image(r, png())
    lib.update_run(run_id, {"local": {"label": "Local FP8", "wall_s": 45.55, "cost_total": "45.55 GPU-s"}})
    text, _ = run_view(lib, "local", run_id, LABELS)
    line = next(li for li in text.split("\n\n") if li.startswith("**Local FP8**"))
    assert "22.77 s/image" in line or "22.78 s/image" in line
    assert "est. cost 22.77 GPU-s/image" in line and "45.55 GPU-s in all" in line
    assert "the whole run took 45.55 s" in line  # said as the run's, never as an image's


def test_compare_table_marks_what_differed_and_folds_the_rest(tmp_path):
    lib = Library(tmp_path / "lib")
    a = lib.save_image(row("a fox", seed=1, received={"steps": 4, "seed": 1}), png())
    b = lib.save_image(row("a fox", backend="aiml", seed=2, received={"steps": 4, "seed": 2}), png())
    table = compare_table([a, b], LABELS, no_guidance={"aiml"})
    lines = table.splitlines()
    seed = next(li for li in lines if li.startswith("| **seed** ≠"))
    assert "| 1 | 2 |" in seed
    assert any(li.startswith("| **backend** ≠ | Fireworks | AI/ML API |") for li in lines)
    assert any(li.startswith("| **guidance** ≠") and "none taken" in li for li in lines)
    assert any(li.startswith("| **received: seed** ≠") for li in lines)
    same = table.split("Same in all: ")[1]
    assert "steps" in same and "prompt a fox" in same and "received: steps 4" in same
    assert "seed" not in same.replace("received: steps", "")
    assert compare_table([a, a], LABELS).startswith("**Nothing differed**")
