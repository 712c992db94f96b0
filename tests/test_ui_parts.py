"""The UI's pure parts: history bounds, PNG chunks, scoreboard, messages, controls, contact sheet."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from backends import BackendRun, ImageOutcome
from backends import errors as e
from images.contact_sheet import PAD, SHEET_KEY, TILE, Tile, contact_sheet, sheet_pnginfo
from images.pngmeta import CHUNK_KEY, read_params, save_png
from library.scoring import percentile
from runs import form as controls
from runs.history import History
from runs.messages import error_message, redact
from runs.scoreboard import Scoreboard

PARAMS = {
    "prompt": "p",
    "backend": "fireworks",
    "seed": 5,
    "width": 64,
    "height": 64,
    "aspect_ratio": "Custom",
    "num_inference_steps": 4,
    "guidance_scale": 3.5,
    "latency_s": 0.5,
}


def test_history_is_bounded_and_deletes_what_falls_out(tmp_path):
    history = History(limit=3, root=tmp_path)
    entries = [history.add(Image.new("RGB", (8, 8)), f"img {i}", PARAMS) for i in range(5)]
    assert [c for _, c in history.gallery()] == ["img 4", "img 3", "img 2"]
    assert entries[4].path.name.startswith("flux-fireworks-seed5-")  # says what it is once downloaded
    assert not entries[0].path.exists() and not entries[1].path.exists() and entries[4].path.exists()
    history.clear()
    assert not entries[4].path.exists()


def test_png_chunk_round_trip_writes_only_known_fields(tmp_path):
    path = save_png(Image.new("RGB", (8, 8)), tmp_path / "a.png", {**PARAMS, "api_key": "sk-secret"})
    assert read_params(path) == PARAMS
    with Image.open(path) as img:
        assert "sk-secret" not in json.dumps(img.info) and "Seed: 5" in img.info["parameters"]
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert read_params(tmp_path / "plain.png") is None
    assert read_params(tmp_path / "missing.png") is None
    assert CHUNK_KEY == "flux-playground"


def run(backend, statuses, wall):
    outcomes = [
        ImageOutcome(
            i,
            i,
            image=Image.new("RGB", (4, 4)) if s == "ok" else None,
            error=None if s == "ok" else (e.ContentFiltered() if s == "filtered" else e.UpstreamError()),
        )
        for i, s in enumerate(statuses)
    ]
    return BackendRun(backend, backend.title(), outcomes, wall_s=wall)


def test_scoreboard_counts_images_and_takes_latency_of_runs_that_made_one():
    board = Scoreboard()
    board.record(run("fireworks", ["ok"], 1.0))
    board.record(run("fireworks", ["ok", "filtered"], 3.0))
    board.record(run("fireworks", ["upstream"], 9.0))
    assert board.rows()[0][:8] == ["Fireworks", 3, 2, 1, 1, 0, 2.0, 3.0]
    assert board.plot_rows() == [{"backend": "Fireworks", "median_s": 2.0}]
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10 and percentile([1, 2, 3], 50) == 2


@pytest.mark.parametrize(
    "err, words",
    [
        (e.MissingKey(), "Fireworks: no API key. Set FIREWORKS_API_KEY"),
        (
            e.RejectedKey("Invalid API key", status=401),
            "Fireworks refused the key or account (HTTP 401: Invalid API key)",
        ),
        (e.RateLimited("Too Many Requests", status=429), "rate limiting"),
        (e.ContentFiltered(), "withheld by its safety filter"),
        (e.Timeout("x"), "raise HTTP_READ_TIMEOUT_S"),
    ],
)
def test_messages_name_the_backend_and_the_fix(err, words):
    assert words in error_message("Fireworks", "FIREWORKS_API_KEY", err)


def test_keys_echoed_by_an_api_are_redacted():
    assert redact("Invalid key sk-abcdef1234", ["sk-abcdef1234", None]) == "Invalid key •••"


def test_ratio_and_size_controls():
    assert controls.size_for_ratio("16:9", 100, 100) == (1344, 768)
    assert controls.size_for_ratio("Custom", 512, 640) == (512, 640)
    assert controls.ratio_after_resize(1344.0, 768, False) == ("16:9", 1344, 768)
    assert controls.ratio_after_resize(1280, 768, False) == ("Custom", 1280, 768)
    assert controls.ratio_after_resize(1280, 720, True) == ("16:9", 1344, 768)
    req = controls.build_request("  cat ", "Custom", 1000.0, 700, 4, 3.5, 0, 1, same_size=True)
    assert (req.width, req.height, req.aspect_ratio, req.prompt) == (1216, 832, "3:2", "cat")
    assert controls.api_size("3:4", 64, 64) == (896, 1152) and controls.api_size("Custom", 64, 96) == (64, 96)
    with pytest.raises(ValueError, match="width must be a whole number, got 1000.5"):
        controls.build_request("cat", "Custom", 1000.5, 512, 4, 3.5, 0, 1)


def test_contact_sheet_has_a_tile_per_backend_and_says_so(tmp_path):
    tiles = [Tile("Local FP8 · seed 1", Image.new("RGB", (256, 128), "red")), Tile("Fireworks · failed", None, "boom")]
    sheet = contact_sheet("a prompt", tiles)
    assert sheet.width == PAD + 2 * (TILE + PAD)
    sheet.save(tmp_path / "s.png", pnginfo=sheet_pnginfo("a prompt", tiles))
    with Image.open(tmp_path / "s.png") as img:
        assert json.loads(img.info[SHEET_KEY])["tiles"] == ["Local FP8 · seed 1", "Fireworks · failed"]
