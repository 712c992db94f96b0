"""Break one README promise at a time with a one-line change and check that a test notices.

Each entry below is a promise from the README, the file and the exact snippet that keeps it, a
replacement that breaks it, and the tests that should then fail. For each one this script applies the
change, runs those tests (``pytest -x -q``, with a timeout), reports caught or NOT caught, and always puts
the file back, on Ctrl-C too. A snippet that is no longer in its file (the code moved) is reported as
stale, never guessed at. It refuses to touch a file with uncommitted changes.

    python scripts/mutate.py                 # every promise; exits 1 if any is not caught (or stale)
    python scripts/mutate.py grid-cell-cap   # one or more by name
    python scripts/mutate.py --list          # names and promises
    python scripts/mutate.py --baseline ...  # also run the tests unmutated first: they must pass

Add an entry whenever the README gains a promise.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 600


@dataclass(frozen=True)
class Mutation:
    name: str
    promise: str  # what the README says, in short
    file: str  # relative to the repository root
    original: str  # exact text, found exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest arguments: node ids, files, or "-k", "expr"
    pending: str = ""  # why it is skipped for now (e.g. its tests are on another branch)


G = "tests/test_guards.py"
K, S = "tests/test_promises_keys.py", "tests/test_promises_spend.py"
L, LB = "tests/test_promises_limits.py", "tests/test_promises_library.py"
MUTATIONS: list[Mutation] = [
    # --- issue 20's eight ---------------------------------------------------------------------------
    Mutation(
        "grid-cell-cap",
        "A grid of more than GRID_MAX_CELLS cells is refused; exactly the limit runs",
        "runs/grid/plan.py",
        "if count > max_cells:",
        "if count > max_cells + 1:",
        (f"{G}::test_a_grid_of_exactly_the_cell_limit_runs_and_one_more_is_refused",),
    ),
    Mutation(
        "grid-max-cells-env",
        "GRID_MAX_CELLS from the environment sets the grid limit of `python app.py`",
        "app.py",
        "        grid_max_cells=settings.backends.grid_max_cells,",
        "",
        (f"{G}::test_python_app_py_takes_its_grid_limit_from_grid_max_cells",),
    ),
    Mutation(
        "grid-one-backend",
        "Without a backend axis exactly one backend must be ticked",
        "runs/grid/plan.py",
        "if not on_axis and len(backends) != 1:",
        "if not on_axis and len(backends) > 1:",
        (G, "-k", "no_backend_axis_and_no_backend or nothing_ticked"),
    ),
    Mutation(
        "grid-failed-not-billed",
        "Failed grid cells are captioned 'not billed' on the grid image",
        "runs/grid/run.py",
        'cost = result.each.text() if outcome.status in BILLED else "not billed"',
        "cost = result.each.text()",
        (f"{G}::test_a_failed_cells_caption_on_the_grid_image_says_not_billed",),
    ),
    Mutation(
        "grid-allowance-per-cell",
        "RATE_LIMIT_PER_MIN counts images: a 16-cell grid on one backend spends 16",
        "ui/page/grid_handlers.py",
        "for x in plan.cells if x.backend in ctx.backends",
        "for x in {c.backend: c for c in plan.cells}.values() if x.backend in ctx.backends",
        (f"{G}::test_a_16_cell_grid_on_one_backend_spends_16_images_of_the_allowance",),
    ),
    Mutation(
        "launch-settings-env",
        "`python app.py` takes MAX_UPLOAD_MB and APP_AUTH from the environment",
        "app.py",
        "settings = config.load(os.environ)",
        "settings = config.load({})",
        (G, "-k", "login_from_app_auth or upload_cap_from_max_upload_mb"),
    ),
    Mutation(
        "error-body-cap",
        "Error replies are read up to 256 KB, no further",
        "backends/http.py",
        "MAX_ERROR_BYTES = 256 * 1024  #",
        "MAX_ERROR_BYTES = 256 * 1024 * 1024  #",
        (f"{G}::test_a_5_mb_error_body_is_read_only_up_to_its_cap",),
    ),
    Mutation(
        "auto-offload-1024",
        "Auto offload plans for the loading request, at least 1024², 1 image",
        "backends/local/loader.py",
        "if width * height < 1024 * 1024:",
        "if width * height < 512 * 512:",
        ("tests/test_local_plan.py::test_auto_offload_plans_for_1024_even_when_the_first_request_is_512",),
    ),
    # --- the local code, from the same review (tests from issue 14) -------------------------------
    Mutation(
        "quantize-on-device",
        "FP8 matmul weights are quantized on the execution device, one block at a time",
        "backends/local/loader.py",
        "quantize_transformer_fp8(pipe.transformer, device, home,",
        'quantize_transformer_fp8(pipe.transformer, "cpu", home,',
        ("tests/test_local_plan.py", "-k", "quantized_on_the_gpu"),
    ),
    Mutation(
        "model-offload-device",
        "Model offload executes on the chosen device, not the CPU",
        "backends/local/loader.py",
        "pipe.enable_model_cpu_offload(device=device)",
        'pipe.enable_model_cpu_offload(device="cpu")',
        ("tests/test_local_plan.py::test_the_model_offload_target_is_the_execution_device",),
    ),
    Mutation(
        "aot-token-bound",
        "AoT-compiled blocks serve every size up to 1536² (9216 image tokens)",
        "backends/local/aot.py",
        "MIN_TOKENS, MAX_TOKENS = 16, 9216",
        "MIN_TOKENS, MAX_TOKENS = 16, 1024",
        ("tests/test_local_plan.py::test_the_aot_token_bound_covers_1536_squared",),
    ),
    Mutation(
        "row-wise-scales",
        "fp8-matmul uses torchao dynamic float8 with row-wise scales",
        "backends/local/fp8.py",
        "FqnToConfig, PerRow, quantize_",
        "FqnToConfig, PerTensor as PerRow, quantize_",
        ("tests/test_fp8_paths.py", "-k", "row"),
    ),
    # --- requests ---------------------------------------------------------------------------------
    Mutation(
        "seed-range",
        "A seed outside 0–2147483647 is refused and nothing is sent",
        "backends/types.py",
        "MAX_SEED = 2**31 - 1",
        "MAX_SEED = 2**32 - 1",
        ("tests/test_translations.py", "-k", "bad_requests_say_what_is_wrong"),
    ),
    Mutation(
        "steps-range",
        "Steps are 1–12",
        "backends/types.py",
        "MIN_STEPS, MAX_STEPS = 1, 12",
        "MIN_STEPS, MAX_STEPS = 1, 20",
        ("tests/test_translations.py", "-k", "bad_requests_say_what_is_wrong"),
    ),
    Mutation(
        "size-grid",
        "A size off the 32-pixel grid is refused",
        "backends/types.py",
        "elif not MIN_SIDE <= v <= MAX_SIDE or v % SIDE_STEP:",
        "elif not MIN_SIDE <= v <= MAX_SIDE or v % 8:",
        ("tests/test_translations.py", "-k", "bad_requests_say_what_is_wrong"),
    ),
    Mutation(
        "images-per-backend",
        "At most 4 images per backend",
        "backends/types.py",
        "MAX_IMAGES = 4",
        "MAX_IMAGES = 5",
        ("tests/test_translations.py", "-k", "bad_requests_say_what_is_wrong"),
    ),
    Mutation(
        "seed-zero-room",
        "Seed 0 draws one seed in [1, 2³¹−1] that leaves room for seed + i",
        "backends/types.py",
        "rng.randint(1, MAX_SEED - (self.num_images - 1))",
        "rng.randint(1, MAX_SEED)",
        (f"{G}::test_seed_zero_leaves_room_for_seed_plus_i_even_at_the_top_of_the_range",),
    ),
    Mutation(
        "seed-plus-i",
        "Image i of a run uses seed + i",
        "backends/types.py",
        "return self.seed + index",
        "return self.seed",
        ("tests/test_translations.py", "-k", "seed_plus_index or its_own_seed"),
    ),
    Mutation(
        "aiml-no-guidance",
        "The AI/ML API has no guidance parameter: none is sent",
        "backends/aiml.py",
        '"num_images": 1,',
        '"num_images": 1, "guidance_scale": request.guidance_scale,',
        ("tests/test_translations.py::test_aiml_body_is_one_image_per_call_with_its_own_seed",),
    ),
    # --- retries, caps and hostile upstreams ------------------------------------------------------
    Mutation(
        "retries-at-most-two",
        "Retries: at most two",
        "backends/http.py",
        "max_retries: int = 2",
        "max_retries: int = 3",
        ("tests/test_hostile_upstreams.py::test_a_500_backs_off_exponentially",),
    ),
    Mutation(
        "retry-after-cap",
        "Retry-After is honoured up to 10 s",
        "backends/http.py",
        "max_delay_s: float = 10.0",
        "max_delay_s: float = 60.0",
        (f"{G}::test_the_default_retry_policy_honours_retry_after_up_to_10_s",),
    ),
    Mutation(
        "retry-only-408-429-5xx",
        "Only 408, 429 and 5xx are retried",
        "backends/http.py",
        "return status in (408, 429) or status >= 500",
        "return status in (408, 429) or status >= 400",
        ("tests/test_translations.py::test_only_408_429_and_5xx_are_retried",),
    ),
    Mutation(
        "reply-cap-40mb",
        "API replies are capped at 40 MB",
        "backends/http.py",
        "MAX_REPLY_BYTES = 40 * 1024 * 1024",
        "MAX_REPLY_BYTES = 400 * 1024 * 1024",
        ("tests/test_hostile_upstreams.py", "-k", "huge_json_reply"),
    ),
    Mutation(
        "download-cap-25mb",
        "Image downloads are capped at 25 MB",
        "backends/aiml.py",
        "MAX_IMAGE_BYTES = 25 * 1024 * 1024",
        "MAX_IMAGE_BYTES = 250 * 1024 * 1024",
        ("tests/test_hostile_upstreams.py::test_image_downloads_are_capped_at_25_mb",),
    ),
    Mutation(
        "text-cut-300",
        "Upstream text is cut to about 300 characters",
        "backends/errors.py",
        "MAX_DETAIL_CHARS = 300",
        "MAX_DETAIL_CHARS = 3000",
        ("tests/test_translations.py::test_upstream_error_text_is_cut_where_the_error_is_made",),
    ),
    Mutation(
        "upstream-seed-range",
        "Seeds from upstream outside 0–2⁶⁴−1 are treated as not reported",
        "backends/hosted.py",
        "MAX_REPORTED_SEED = 2**64 - 1",
        "MAX_REPORTED_SEED = 2**65 - 1",
        ("tests/test_translations.py", "-k", "only_real_seeds_count_as_reported"),
    ),
    Mutation(
        "url-guard-loopback",
        "Image URLs resolving to loopback addresses are refused",
        "backends/urlguard.py",
        '("loopback", ip.is_loopback),',
        '("loopback", False),',
        ("tests/test_hostile_upstreams.py", "-k", "localhost_is_refused or loopback_name_is_refused"),
    ),
    Mutation(
        "deadline-180",
        "HTTP_DEADLINE_S defaults to 180 s",
        "backends/http.py",
        "DEADLINE_S = 180.0",
        "DEADLINE_S = 120.0",
        ("tests/test_deploy.py::test_deadline_setting",),
    ),
    Mutation(
        "keys-redacted",
        "A key echoed by an upstream message is redacted",
        "backends/redact.py",
        "    if not wanted or not text:",
        "    if wanted or not text:",
        ("tests/test_ui_parts.py::test_keys_echoed_by_an_api_are_redacted", "tests/test_space_keys.py"),
    ),
    # --- cost -------------------------------------------------------------------------------------
    Mutation(
        "fireworks-price",
        "Fireworks: 0.00035 USD per step by default",
        "backends/cost.py",
        "FIREWORKS_PRICE_PER_STEP = 0.00035",
        "FIREWORKS_PRICE_PER_STEP = 0.00045",
        ("tests/test_cost.py::test_per_image_figures",),
    ),
    Mutation(
        "filtered-is-billed",
        "A filtered image counts as billed; failed calls are not billed",
        "backends/cost.py",
        'BILLED = ("ok", "filtered")',
        'BILLED = ("ok",)',
        ("tests/test_cost.py::test_a_run_is_charged_for_images_made_only",),
    ),
    Mutation(
        "local-gpu-split",
        "Local: the GPU job's seconds are split evenly over its images",
        "backends/cost.py",
        "Cost(gpu_s=round(gpu / len(billed), 3))",
        "Cost(gpu_s=round(gpu, 3))",
        ("tests/test_cost.py::test_a_run_is_charged_for_images_made_only",),
    ),
    # --- server limits and the allowance --------------------------------------------------------
    Mutation(
        "queue-64",
        "QUEUE_MAX_SIZE defaults to 64 waiting runs",
        "config.py",
        "QUEUE_MAX_SIZE = 64",
        "QUEUE_MAX_SIZE = 128",
        ("tests/test_deploy.py::test_the_queue_is_bounded",),
    ),
    Mutation(
        "launch-options-merged",
        "With OPENAI_SERVE_KEY set, MCP still needs the APP_AUTH login and UPLOADS_PER_MIN still counts",
        "app.py",
        "    return merge_launch_options(look, gate, served)",
        "    return {**look, **gate, **served}",
        ("tests/test_settings.py", "-k", "served or merged"),
    ),
    Mutation(
        "upload-cap-10mb",
        "Uploads over MAX_UPLOAD_MB (10 MB) are refused before any handler",
        "ui/theme.py",
        'MAX_UPLOAD = "10mb"',
        'MAX_UPLOAD = "100mb"',
        ("tests/test_deploy.py::test_uploads_over_10_mb_are_refused_before_any_handler",),
    ),
    Mutation(
        "rate-window-minute",
        "RATE_LIMIT_PER_MIN counts images in a sliding minute",
        "spend/ratelimit.py",
        "WINDOW_S = 60.0",
        "WINDOW_S = 6.0",
        ("tests/test_page_parts.py::test_rate_limit_counts_images_per_client_in_a_sliding_minute_and_names_the_wait",),
    ),
    Mutation(
        "run-allowance-per-image",
        "A page run spends one image of the allowance per image on the server's keys",
        "spend/allowance.py",
        "        images += 1",
        "        images += backend.id not in used",
        ("tests/test_page_parts.py::test_server_key_images_count_only_hosted_backends_without_a_pasted_key",),
    ),
    # --- issue 29: what the README promises of the newer features ------------------------------------
    Mutation(
        "serve-empty-bearer",
        "The served OpenAI route refuses an empty Bearer or a part of the key",
        "serving/openai_images.py",
        'return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._key)',
        'return scheme.lower() == "bearer" and self._key.startswith(given.strip().encode())',
        (f"{K}::test_part_of_the_serve_key_is_refused", f"{K}::test_an_empty_bearer_or_another_scheme_is_refused"),
    ),
    Mutation(
        "serve-key-16",
        "OPENAI_SERVE_KEY must be 16 characters or more",
        "config.py",
        "if key and len(key) < 16:",
        "if key and len(key) < 8:",
        (K, "-k", "serve_key_of_8_to_15"),
    ),
    Mutation(
        "endpoint-ids-reserved",
        "An OpenAI endpoint may not take a built-in backend's id (local, fireworks, aiml)",
        "backends/openai_config.py",
        "if ident in RESERVED_IDS:",
        'if ident == "fireworks":',
        (K, "-k", "built_in_backends_id"),
    ),
    Mutation(
        "allow-openai-serve-0",
        "ALLOW_OPENAI_SERVE=0 on a Space stops the app like unset",
        "config.py",
        'if key and on_space and not switch(env, "ALLOW_OPENAI_SERVE", False):',
        'if key and on_space and "ALLOW_OPENAI_SERVE" not in env:',
        (f"{K}::test_allow_openai_serve_0_on_a_space_stops_the_app",),
    ),
    Mutation(
        "single-forwarded-entry",
        "A single-entry X-Forwarded-For (a Space's proxy) names the visitor",
        "spend/visitors.py",
        "    if proxy_hops > 0 and len(entries) >= proxy_hops:",
        "    if proxy_hops > 0 and len(entries) > proxy_hops:",
        (f"{S}::test_each_single_entry_forwarded_address_is_its_own_visitor",),
    ),
    Mutation(
        "daily-cap-whole-run",
        "A run or grid from just below the daily cap is refused whole, nothing sent",
        "spend/ledger.py",
        "if self.visitor_daily and used + images > self.visitor_daily:",
        "if self.visitor_daily and used >= self.visitor_daily:",
        (f"{S}::test_a_run_or_grid_from_just_below_the_daily_cap_is_refused_whole",),
    ),
    Mutation(
        "unsent-images-refunded-to-the-day",
        "Images refused or failed before they were sent go back to the daily count and the budget",
        "spend/ledger.py",
        "back_images = max(0, reservation.images - images)",
        "back_images = 0",
        (f"{S}::test_images_that_never_left_are_given_back_to_the_day_and_the_budget",),
    ),
    Mutation(
        "ledger-visitors-hashed",
        "The ledger stores visitors as hashes, no address or account in clear",
        "spend/ledger.py",
        'return hashlib.sha256(visitor.encode("utf-8", "replace")).hexdigest()[:32]',
        "return visitor",
        (f"{S}::test_the_ledger_file_holds_no_visitor_address_in_clear",),
    ),
    Mutation(
        "ledger-on-data",
        "On a Space with /data the ledger defaults to /data/flux-playground/spend.sqlite3",
        "config.py",
        '    if env.get("SPACE_ID") and Path("/data").is_dir():',
        '    if env.get("SPACE_ID") and Path("/data/flux-playground").is_dir():',
        (L, "-k", "default_ledger_is_under_data"),
    ),
    Mutation(
        "ledger-utc-day",
        "The day rolls at 00:00 UTC whatever the server's time zone",
        "spend/ledger.py",
        "return dt.datetime.now(dt.UTC).date().isoformat()",
        "return dt.date.today().isoformat()",
        (S, "-k", "utc_day_on_a_server_in_another_zone"),
    ),
    Mutation(
        "redact-window-8",
        "Any run of 8 or more of a key's characters is redacted",
        "backends/redact.py",
        "WINDOW = 8  #",
        "WINDOW = 12  #",
        (K, "-k", "cut_or_base64_echo and cut_"),
    ),
    Mutation(
        "redact-urlsafe",
        "URL-safe base64 forms of a key are redacted",
        "backends/redact.py",
        'forms |= {core, core.replace("+", "-").replace("/", "_")}',
        "forms |= {core}",
        (K, "-k", "cut_or_base64_echo and urlsafe"),
    ),
    Mutation(
        "app-installs-log-filter",
        "`python app.py` installs the redacting log filter",
        "app.py",
        "    redact.install_log_redaction()  # e.g. an image URL",
        "    pass  # e.g. an image URL",
        (f"{K}::test_python_app_py_redacts_the_key_in_its_log_lines",),
    ),
    Mutation(
        "library-ttl-days",
        "Anonymous images are kept LIBRARY_TTL_DAYS days (7), not hours",
        "library/store.py",
        "cutoff = time.time() - self.config.ttl_days * 86400",
        "cutoff = time.time() - self.config.ttl_days * 3600",
        (f"{LB}::test_anonymous_images_hours_or_days_old_survive_a_7_day_ttl",),
    ),
    Mutation(
        "library-fts5-fallback",
        "Without FTS5 the library stays on and searches with LIKE",
        "library/schema.py",
        'except sqlite3.OperationalError:  # "no such module: fts5"',
        'except sqlite3.IntegrityError:  # "no such module: fts5"',
        (f"{LB}::test_without_fts5_the_library_opens_and_searches_with_like",),
    ),
    Mutation(
        "library-wal",
        "The library's SQLite is in WAL mode",
        "library/store.py",
        'conn.execute("PRAGMA journal_mode = WAL")',
        'conn.execute("PRAGMA journal_mode = DELETE")',
        (f"{LB}::test_the_database_is_in_wal_mode",),
    ),
    Mutation(
        "library-delete-thumb",
        "Delete removes the PNG and its thumbnail from disk",
        "library/store.py",
        "                files.thumb_path(path).unlink(missing_ok=True)",
        "                pass",
        (f"{LB}::test_delete_removes_the_png_and_its_thumbnail_from_disk",),
    ),
    Mutation(
        "library-uncommitted-file-removed",
        "A row that cannot be committed after its file was written: the file is removed",
        "library/store.py",
        "                target.unlink(missing_ok=True)",
        "                pass",
        (f"{LB}::test_a_row_that_cannot_be_committed_leaves_no_file",),
    ),
    Mutation(
        "library-page-48",
        "/library returns 48 records by default (a page), then the next with offset",
        "ui/api/library.py",
        "        limit: int = 48,",
        "        limit: int = 50,",
        (f"{LB}::test_library_pages_are_48_newest_first_and_the_next_page_follows",),
    ),
    Mutation(
        "session-ttl-reaches-the-page",
        "SESSION_TTL_S and MAX_SESSIONS reach the page's live sessions",
        "config.py",
        'ttl_s=whole(env, "SESSION_TTL_S", SESSION_TTL_S, least=1, unit="seconds"),',
        "ttl_s=SESSION_TTL_S,",
        (f"{L}::test_session_limits_from_the_environment_reach_the_pages_sessions",),
    ),
    Mutation(
        "in-flight-256mb",
        "Replies in flight are bounded at 256 MB over every call",
        "backends/http.py",
        "MAX_IN_FLIGHT_BYTES = 256 * 1024 * 1024",
        "MAX_IN_FLIGHT_BYTES = 512 * 1024 * 1024",
        (f"{L}::test_the_shared_in_flight_bound_is_256_mb",),
    ),
    Mutation(
        "uploads-per-min-space",
        "UPLOADS_PER_MIN is 10 on a Space by default",
        "config.py",
        "SPACE_UPLOADS_PER_MIN = 10",
        "SPACE_UPLOADS_PER_MIN = 0",
        (f"{L}::test_uploads_per_min_is_10_on_a_space_and_off_elsewhere",),
    ),
    Mutation(
        "served-oom-503",
        "Out of GPU memory on the served route answers 503",
        "serving/openai_images.py",
        "    if isinstance(err, e.OutOfMemory):",
        "    if False:",
        (f"{K}::test_out_of_gpu_memory_is_answered_503",),
    ),
    Mutation(
        "served-unavailable-503",
        "An unavailable Local backend on the served route answers 503",
        "serving/openai_images.py",
        '    if isinstance(err, e.Unavailable) and run.backend == "local":',
        "    if False:",
        (f"{K}::test_an_unavailable_local_backend_is_answered_503",),
    ),
    Mutation(
        "history-96",
        "A session's history keeps the newest 96 images",
        "runs/history.py",
        "HISTORY_LIMIT = 96",
        "HISTORY_LIMIT = 100",
        (f"{L}::test_a_sessions_history_keeps_the_newest_96_images_and_deletes_the_rest",),
    ),
    # --- issue 29, second pass --------------------------------------------------------------------------
    Mutation(
        "png-crc-every-chunk",
        "A reply PNG whose PLTE or IEND chunk fails its CRC is refused",
        "backends/imaging.py",
        "        if zlib.crc32(view[pos + 4 : end - 4]) != crc:",
        '        if kind in (b"IHDR", b"IDAT") and zlib.crc32(view[pos + 4 : end - 4]) != crc:',
        ("tests/test_promises_png.py",),
    ),
    Mutation(
        "fp8-probe-numbers",
        "The row-wise FP8 probe checks the product's numbers, not only that _scaled_mm ran",
        "backends/local/loader.py",
        "        return bool(out[0, 0].item() == 32)",
        "        return True",
        ("tests/test_promises_fp8_probe.py",),
    ),
    Mutation(
        "sequential-no-compile",
        "Sequential offload means no compile (bf16 with FLUX_COMPILE=on, FLUX_FP8_MATMUL=on)",
        "backends/local/loader.py",
        '    compile = compile_wanted and offload != "sequential" and mode != "fp8-storage"',
        '    compile = compile_wanted and mode != "fp8-storage"',
        ("tests/test_promises_local_offload.py",),
    ),
    Mutation(
        "quantized-zero-fallback",
        "A model torchao quantizes none of runs FP8 storage and says 'quantized 0 of N linears'",
        "backends/local/loader.py",
        "        if quantized == 0:",
        "        if False:",
        ("tests/test_promises_local_odd.py",),
    ),
    Mutation(
        "mcp-login-every-route",
        "With APP_AUTH, MCP's SSE stream, messages/ and schema need the login, not only its root",
        "spend/gate.py",
        '        if self.auth and door.path.startswith("/gradio_api/mcp"):',
        '        if self.auth and door.path == "/gradio_api/mcp":',
        ("tests/test_settings.py::test_every_mcp_route_needs_the_login_not_only_its_root",),
    ),
    Mutation(
        "tab-close-malloc-trim",
        "Closing a tab hands its memory back to the system (malloc_trim)",
        "ui/sessions.py",
        "        _libc.malloc_trim(0)",
        "        pass",
        ("tests/test_promises_memory.py::test_closing_the_tab_trims_the_heap",),
    ),
    Mutation(
        "api-four-at-once",
        "The API's calls run at most 4 at once in the running app",
        "ui/api/endpoints.py",
        "API_CONCURRENCY = 4",
        "API_CONCURRENCY = 5",
        ("tests/test_promises_queue.py",),
    ),
    Mutation(
        "api-queue-quarter",
        "The API gets a quarter of the queue's waiting places in the running app",
        "app.py",
        "API_QUEUE_SHARE = 4",
        "API_QUEUE_SHARE = 2",
        ("tests/test_promises_queue.py",),
    ),
]


def git_dirty(path: Path) -> bool:
    out = subprocess.run(
        ["git", "status", "--porcelain", "--", str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return bool(out.stdout.strip())


def run_tests(args: tuple[str, ...], timeout_s: float) -> tuple[str, str]:
    """('passed' | 'failed' | 'timeout' | 'error', the output's tail)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return "timeout", out.decode(errors="replace")[-6000:]
    except BaseException:  # Ctrl-C: stop our pytest too, then let the caller restore the file
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    tail = out.decode(errors="replace")[-6000:]
    # pytest: 0 all passed, 1 some failed; 2-5 interrupted, internal, usage, no tests collected.
    return {0: "passed", 1: "failed"}.get(proc.returncode, "error"), tail


def check(m: Mutation, timeout_s: float, baseline: bool, show: bool) -> str:
    """Apply ``m``, run its tests, restore. Returns caught / NOT caught / stale / dirty / error."""
    path = ROOT / m.file
    if not path.exists():
        return "stale"
    text = path.read_text()
    found = text.count(m.original)
    if found != 1:
        return "stale" if found == 0 else "stale (snippet found more than once)"
    if git_dirty(path):
        return "dirty"
    if baseline:
        result, tail = run_tests(m.tests, timeout_s)
        if result != "passed":
            print(tail if show else tail[-800:])
            return f"error (the tests do not pass unmutated: {result})"
    try:
        path.write_text(text.replace(m.original, m.replacement))
        result, tail = run_tests(m.tests, timeout_s)
    finally:
        path.write_text(text)
    if show:
        print(tail)
    if result == "failed":
        return "caught"
    if result == "timeout":
        return "caught (timeout)"
    if result == "passed":
        return "NOT caught"
    print(tail[-800:])
    return "error (pytest did not run the tests)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="promises to check (default: all)")
    parser.add_argument("--list", action="store_true", help="list the promises and exit")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per pytest run")
    parser.add_argument("--baseline", action="store_true", help="first check the tests pass unmutated")
    parser.add_argument("--pending", action="store_true", help="also run the ones marked pending")
    parser.add_argument("--show", action="store_true", help="print pytest's output for each")
    args = parser.parse_args(argv)
    by_name = {m.name: m for m in MUTATIONS}
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:26} {m.file:28} {m.promise}" + (f"  [pending: {m.pending}]" if m.pending else ""))
        return 0
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        parser.error(f"unknown promise {unknown[0]!r}; see --list")
    chosen = [by_name[n] for n in args.names] if args.names else MUTATIONS
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # One run at a time per checkout: a second one would restore files under the first one's tests.
    lock = open(Path(tempfile.gettempdir()) / f"mutate-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        parser.error(f"another scripts/mutate.py is running in {ROOT}")
    results: dict[str, str] = {}
    for m in chosen:
        if m.pending and not args.pending and not args.names:
            results[m.name] = f"pending ({m.pending})"
            print(f"{'pending':12} {m.name}: {m.pending}", flush=True)
            continue
        started = time.monotonic()
        results[m.name] = outcome = check(m, args.timeout, args.baseline, args.show)
        print(f"{outcome:12} {m.name} ({time.monotonic() - started:.0f} s): {m.promise}", flush=True)
    counts: dict[str, int] = {}
    for outcome in results.values():
        key = outcome.split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    print("\n" + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    bad = [n for n, o in results.items() if not o.startswith(("caught", "pending"))]
    if bad:
        print("not caught, stale or in error: " + ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
