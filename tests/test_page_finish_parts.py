"""Issue 18's pure parts, each called alone: states, per-image times, words, the grid's seed, the code box."""

from __future__ import annotations

from PIL import Image

from backends import BackendRun, ImageOutcome
from backends.errors import Cancelled, Timeout
from runs.scoreboard import Scoreboard
from ui.page.progress import column_status


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
    runs, ok, failed, filtered, cancelled = board.rows()[0][1:6]
    assert (runs, ok, failed, filtered, cancelled) == (2, 0, 1, 0, 1)


def test_a_local_batch_gives_each_image_its_share_of_the_job_in_captions_scoreboard_records_and_cost():
    from backends import GenerationRequest
    from backends.cost import run_cost
    from runs.records import caption, per_image_outcomes
    from runs.result import BackendResult

    run = BackendRun("local", "Local FP8", [image(0, 24.4), image(1, 24.4)], wall_s=25.0)
    each = per_image_outcomes(run)
    assert [o.latency_s for o in each] == [12.2, 12.2]
    assert caption("Local FP8", each[0], 4).endswith("· 12.20 s")
    assert run_cost(run, 4)[0].text() == "12.20 GPU-s"  # the cost said so already
    board = Scoreboard()
    board.record(run)
    assert board.rows()[0][6:9] == [12.2, 12.2, "12.20 GPU-s"]
    fake = type("B", (), {"id": "local", "label": "Local FP8", "key_env": None})()
    got = BackendResult.of(fake, GenerationRequest("p", num_images=2), run, []).records
    assert [r["latency_s"] for r in got] == [12.2, 12.2]
    # Hosted images are separate calls: their own times stay as they are.
    hosted = BackendRun("aiml", "AI/ML API", [image(0, 3.0), image(1, 5.0)], wall_s=5.1)
    assert [o.latency_s for o in per_image_outcomes(hosted)] == [3.0, 5.0]


def test_a_grid_whose_seed_is_an_axis_names_the_axis_seeds_not_the_forms_random_seed(tmp_path):
    from backends import GenerationRequest
    from runs.grid.run import GridResult, grid_file_name, plan_grid
    from ui.page.grid_panel import summary_markdown

    fake = type("B", (), {"id": "fireworks", "label": "Fireworks"})()
    plan = plan_grid(GenerationRequest("p", seed=0), ["fireworks"], {"fireworks": fake}, "seed", "3-5")
    form_seed = str(plan.request.seed)  # drawn at random: no cell uses it
    text = summary_markdown(GridResult(plan, tmp_path / "g.png", []), 1.0)
    assert "seeds **3, 4, 5**" in text and form_seed not in text
    assert grid_file_name(plan) == "grid-seeds3-5.png"
    steps = plan_grid(GenerationRequest("p", seed=42), ["fireworks"], {"fireworks": fake}, "steps", "1-2")
    assert grid_file_name(steps) == "grid-seed42.png" and "seed **42**" in summary_markdown(
        GridResult(steps, tmp_path / "g.png", []), 1.0
    )


def test_words_one_cost_phrase_env_names_in_code_and_locals_first_run_announced():
    from backends.cost import Cost
    from backends.types import BackendStatus
    from runs.records import cost_words
    from ui.page.texts import status_markdown

    unpriced = Cost(priced=False)
    assert cost_words("aiml", unpriced, unpriced) == "est. cost: unknown (no price set; set `AIML_PRICE_PER_IMAGE`)"
    assert cost_words("fireworks", Cost(usd=0.0014), Cost(usd=0.0028)) == (
        "est. cost: **$0.0014**/image · $0.0028 this run"
    )

    class Hosted:
        id, label, loaded = "fireworks", "Fireworks", True

        def status(self, keys=None):
            return BackendStatus(False, "needs a key: set FIREWORKS_API_KEY or paste one under 'API keys'")

    class Local:
        id, label, loaded = "local", "Local FP8", None  # not loaded yet

        def status(self, keys=None):
            return BackendStatus(True, "loads flux on first use (fp8)")

    text = status_markdown({"fireworks": Hosted(), "local": Local()})
    assert "set `FIREWORKS_API_KEY` or paste" in text
    assert "first run loads and compiles the model: about 1–2 minutes" in text
    Local.loaded = object()
    assert "first run" not in status_markdown({"local": Local()})


def test_reuse_settings_keeps_images_per_backend_and_names_what_changed(monkeypatch):
    import gradio as gr

    from runs.session import Session
    from ui.page.handlers import Context, on_reuse_seed, on_reuse_settings

    shown = []
    monkeypatch.setattr(gr, "Info", lambda message, *a, **k: shown.append(message))
    fake = type("B", (), {"id": "fireworks", "label": "Fireworks"})()
    ctx = Context(page=None, backends={"fireworks": fake, "aiml": fake})
    sess = Session.__new__(Session)  # no history folder needed
    sess.selected = {
        "prompt": "a fox",
        "backend": "fireworks",
        "seed": 77,
        "width": 1024,
        "height": 1024,
        "aspect_ratio": "1:1",
        "num_inference_steps": 4,
        "guidance_scale": 3.5,
    }
    form = ("a fox", ["aiml"], "1:1", 1024, 1024, 2, 3.5, 0, 3)
    after = on_reuse_settings(ctx, sess, *form)
    assert after[-1] == 3  # Images per backend kept, not reset to 1
    assert after[1] == ["fireworks", "aiml"] and after[5] == 4 and after[7] == 77
    assert shown == ["Settings reused: backends, steps 4, seed 77."]
    assert on_reuse_seed(ctx, sess) == 77
    assert shown[-1] == "Seed set to 77: it remakes that image on Fireworks."
