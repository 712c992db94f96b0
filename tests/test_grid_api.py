"""/grid through gradio_client against the fakes, and the typed /generate's API description."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.helpers import read_grid_params


def test_seed_by_backend_grid_gives_six_records_each_at_its_seed(client, fireworks, aiml):
    sheet, records = client.predict(
        prompt="a lighthouse at dusk",
        x_axis="seed",
        x_values="7-9",
        y_axis="backend",
        y_values="fireworks, aiml",
        width=512,
        height=512,
        api_name="/grid",
    )
    assert len(records) == 6
    assert [(r["backend"], r["seed"]) for r in records] == [
        ("fireworks", 7),
        ("fireworks", 8),
        ("fireworks", 9),
        ("aiml", 7),
        ("aiml", 8),
        ("aiml", 9),
    ]
    assert {r["status"] for r in records} == {"ok"}
    assert [r["column"] for r in records[:3]] == ["seed=7", "seed=8", "seed=9"]
    assert records[3]["row"] == "backend=AI/ML API"
    # Each cell was really asked for at its own seed.
    assert sorted(r["body"]["seed"] for r in fireworks.requests if r["body"]) == [7, 8, 9]
    assert sorted(r["body"]["seed"] for r in aiml.requests if r["body"]) == [7, 8, 9]
    params = read_grid_params(sheet)
    assert params["x_axis"] == "seed" and params["y_values"] == ["Fireworks", "AI/ML API"]
    with Image.open(sheet) as img:
        assert img.width > 3 * 384 and img.height > 2 * 384


def test_a_failed_cell_keeps_its_place_and_says_why(client, fireworks):
    fireworks.mode = "400"
    _, records = client.predict(
        prompt="a lighthouse at dusk",
        x_axis="backend",
        x_values="fireworks, aiml",
        seed=5,
        width=256,
        height=256,
        api_name="/grid",
    )
    assert [r["backend"] for r in records] == ["fireworks", "aiml"]
    assert records[0]["status"] == "bad_request" and "Fireworks rejected the request" in records[0]["error"]
    assert records[1]["status"] == "ok"


def test_bad_grids_are_refused_and_nothing_is_sent(client, fireworks, aiml):
    with pytest.raises(Exception, match="20 cells is too many: the limit is 16"):
        client.predict(prompt="x", x_axis="seed", x_values="1-5", y_axis="steps", y_values="1-4", api_name="/grid")
    with pytest.raises(Exception, match="'1-17' alone makes 17 values"):
        client.predict(prompt="x", x_axis="seed", x_values="1-17", api_name="/grid")
    with pytest.raises(Exception, match="'x' is not a whole number"):
        client.predict(prompt="x", x_axis="steps", x_values="2, x", api_name="/grid")
    with pytest.raises(Exception, match="make backend an axis"):
        client.predict(prompt="x", x_axis="seed", x_values="1,2", backends=["fireworks", "aiml"], api_name="/grid")
    with pytest.raises(Exception, match="unknown backend 'dalle'"):
        client.predict(prompt="x", backends=["dalle"], api_name="/generate")
    with pytest.raises(Exception, match="backends must be a list"):
        client.predict(prompt="x", backends=[], api_name="/generate")
    assert fireworks.requests == [] and aiml.requests == []


def test_view_api_shows_real_names_and_types(client):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    generate = info["/generate"]
    names = [p["parameter_name"] for p in generate["parameters"]]
    assert names == [
        "prompt",
        "backends",
        "aspect_ratio",
        "width",
        "height",
        "num_inference_steps",
        "guidance_scale",
        "seed",
        "num_images",
    ]
    types = {p["parameter_name"]: p["type"].get("type") for p in generate["parameters"]}
    assert types["width"] == "integer" and types["guidance_scale"] == "number" and types["prompt"] == "string"
    assert len(generate["returns"]) == 2
    assert "value_" not in str(info)
    grid = [p["parameter_name"] for p in info["/grid"]["parameters"]]
    assert grid[:5] == ["prompt", "x_axis", "x_values", "y_axis", "y_values"]
    # Only the two scripting endpoints are public.
    assert set(info) == {"/generate", "/grid"}


@pytest.mark.local
def test_a_grid_with_local_and_hosted_cells(client):
    _, records = client.predict(
        prompt="a lighthouse at dusk",
        x_axis="seed",
        x_values="3, 4",
        y_axis="backend",
        y_values="local, fireworks",
        width=256,
        height=256,
        api_name="/grid",
    )
    assert [(r["backend"], r["seed"], r["status"]) for r in records] == [
        ("local", 3, "ok"),
        ("local", 4, "ok"),
        ("fireworks", 3, "ok"),
        ("fireworks", 4, "ok"),
    ]
    assert all(r["gpu_s"] > 0 and r["cost"].endswith("GPU-s") for r in records[:2])
    assert records[2]["cost"] == "$0.0014"
