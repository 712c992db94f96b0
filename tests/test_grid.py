"""X/Y grids: axis parsing, cell planning and the drawn sheet (pure, no servers)."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from backends import GenerationRequest
from images.grid_sheet import GridCell, grid_sheet, save_grid
from runs.grid.plan import GridError, parse_axis, plan_cells
from tests.helpers import read_grid_params

LABELS = {"local": "Local FP8", "fireworks": "Fireworks", "aiml": "AI/ML API"}
BASE = GenerationRequest(prompt="a red fox in the snow", seed=42)


def axis(name, text, **kw):
    return parse_axis(name, text, prompt=BASE.prompt, backends=LABELS, **kw)


def test_comma_separated_values_and_ranges():
    assert axis("seed", "1, 5, 9").values == (1, 5, 9)
    assert axis("seed", "1-4").values == (1, 2, 3, 4)
    assert axis("steps", "2-8 (+2)").values == (2, 4, 6, 8)
    assert axis("steps", "1, 3-4").values == (1, 3, 4)
    assert axis("guidance", "0, 3.5").labels == ("0", "3.5")
    assert axis("aspect_ratio", "1:1, 16:9").values == ("1:1", "16:9")
    assert axis("backend", "fireworks, AI/ML API").values == ("fireworks", "aiml")
    assert axis("backend", "fireworks").labels == ("Fireworks",)
    assert axis("prompt", "fox, wolf, owl").values == ("fox", "wolf", "owl")


def test_the_issue_range_example():
    assert axis("steps", "10-40 (+10)", max_cells=16).values == (10, 20, 30, 40)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("seed", "1, x", "'x' is not a whole number"),
        ("seed", "4-1", "must go up"),
        ("seed", "0", "out of range"),
        ("steps", "1-2000000000", "at most 16 cells"),
        ("guidance", "lots", "not a number"),
        ("aspect_ratio", "7:3", "not a preset"),
        ("backend", "midjourney", "unknown"),
        ("prompt", "cat, dog", r"'cat' \(the text to replace\) is not in the prompt"),
        ("colour", "red", "unknown axis"),
        ("seed", "", "at least one value"),
        ("seed", "3, 3", "repeated"),
    ],
)
def test_bad_values_are_refused_by_name(name, text, message):
    with pytest.raises(GridError, match=message):
        axis(name, text)


def test_cells_row_by_row_each_with_its_own_request():
    cells = plan_cells(BASE, ["fireworks"], axis("seed", "1-3"), axis("backend", "fireworks, aiml"))
    assert [(c.column, c.row) for c in cells] == [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    assert [c.request.seed for c in cells] == [1, 2, 3, 1, 2, 3]
    assert [c.backend for c in cells] == ["fireworks"] * 3 + ["aiml"] * 3
    assert {c.request.num_images for c in cells} == {1}


def test_other_axes_change_only_their_setting():
    cells = plan_cells(BASE, ["fireworks"], axis("aspect_ratio", "16:9"), axis("prompt", "fox, wolf"))
    assert [(c.request.width, c.request.height, c.request.aspect_ratio) for c in cells][0] == (1344, 768, "16:9")
    assert [c.request.prompt for c in cells] == ["a red fox in the snow", "a red wolf in the snow"]
    assert {c.request.seed for c in cells} == {42}
    steps = plan_cells(BASE, ["fireworks"], axis("steps", "2, 4"), axis("guidance", "1.5"))
    assert [(c.request.num_inference_steps, c.request.guidance_scale) for c in steps] == [(2, 1.5), (4, 1.5)]


def test_too_many_cells_is_refused_with_the_limit():
    with pytest.raises(GridError, match="20 cells is too many: the limit is 16"):
        plan_cells(BASE, ["fireworks"], axis("seed", "1-5"), axis("steps", "1-4"))
    assert len(plan_cells(BASE, ["fireworks"], axis("seed", "1-5"), axis("steps", "1-4"), max_cells=20)) == 20


def test_a_bad_cell_is_named_and_nothing_is_planned():
    with pytest.raises(GridError, match=r"cell Steps 13.*steps 13 is out of range"):
        plan_cells(BASE, ["fireworks"], axis("steps", "4, 13"))


def test_without_a_backend_axis_one_backend_is_needed():
    with pytest.raises(GridError, match="make backend an axis"):
        plan_cells(BASE, ["fireworks", "aiml"], axis("seed", "1, 2"))
    with pytest.raises(GridError, match="both axes are seed"):
        plan_cells(BASE, ["fireworks"], axis("seed", "1, 2"), axis("seed", "3"))


def test_grid_sheet_layout_and_params_chunk(tmp_path):
    colours = ["red", "green", "blue", "orange"]
    cells = [
        GridCell(
            c, r, f"Fireworks · seed {c + 1}", "4 steps · 0.50 s · $0.0014", Image.new("RGB", (64, 48), colours[c])
        )
        for r in range(3)
        for c in range(4)
        if (c, r) != (3, 2)
    ]
    cells.append(GridCell(3, 2, "AI/ML API · seed 4", "4 steps · 0.10 s", None, "AI/ML API: no API key."))
    sheet = grid_sheet("a red fox", "Seed", ["1", "2", "3", "4"], "Steps", ["2", "4", "8"], cells)
    # Four 384-px columns beside the row labels; three rows under a title and header.
    assert 4 * 384 < sheet.width < 4 * 384 + 300 and 3 * 384 < sheet.height < 3 * 384 + 500
    # Every image sits in its own column: sample the middle of the first row's cells.
    top = sheet.height - 3 * (384 + 50 + 14) - 14
    for c, colour in enumerate(colours):
        x = sheet.width - 14 - (4 - c) * (384 + 14) + 192
        assert sheet.getpixel((x, top + 192)) == Image.new("RGB", (1, 1), colour).getpixel((0, 0))
    path = save_grid(sheet, tmp_path / "grid.png", {"x_axis": "seed", "x_values": ["1", "2", "3", "4"]})
    assert read_grid_params(path)["x_values"] == ["1", "2", "3", "4"]


async def test_a_cell_whose_backend_is_unknown_is_refused_before_any_cell_runs_not_waited_for():
    from runs.grid.plan import Cell, run_cells

    class Never:  # a backend that must not be called
        id, label = "fireworks", "Fireworks"

        async def generate(self, request, ctx):  # pragma: no cover - the point is that it never runs
            raise AssertionError("a cell ran")

    cells = [
        Cell(0, 0, "fireworks", GenerationRequest("a", seed=1)),
        Cell(1, 0, "nonesuch", GenerationRequest("a", seed=1)),
    ]

    async def drain() -> None:
        async for _ in run_cells(cells, {"fireworks": Never()}):
            pass

    with pytest.raises(GridError, match="nonesuch"):  # a hang would end in TimeoutError, failing the test
        await asyncio.wait_for(drain(), 30)
