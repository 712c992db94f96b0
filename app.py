"""FLUX.1 [schnell] playground: read settings, build the backends, serve the UI."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sqlite3
from collections.abc import Mapping

if os.environ.get("SPACES_ZERO_GPU"):
    import spaces  # noqa: F401  # must come before torch touches CUDA on ZeroGPU

import gradio as gr

from backends import Backend, Settings, build_backends, cost, redact
from backends.http import make_client
from backends.local.zerogpu import on_zerogpu
from config import PageOptions
from library import Library, LibraryConfig
from runs.keeper import served_run_keeper
from serving import openai_images
from spend.gate import gate_app_kwargs
from ui import LAUNCH_OPTIONS, build_demo
from ui.api.endpoints import API_QUEUE_ID
from ui.api.queue import one_file_per_upload, share_queue

CONCURRENCY = 16  # runs at once; hosted calls are I/O, the local GPU serializes its own work
QUEUE_MAX_SIZE = 64  # runs waiting beyond those; more get "queue is full" instead of waiting for ever
API_QUEUE_SHARE = 4  # at most 1/4 of the waiting places go to /generate, /grid and MCP calls
SPACE_UPLOADS_PER_MIN = 10  # uploads a minute per visitor, on a public Space


def queue_max_size(env: Mapping[str, str] | None = None) -> int:
    """QUEUE_MAX_SIZE from the environment (default 64): how many runs may wait."""
    raw = (os.environ if env is None else env).get("QUEUE_MAX_SIZE") or ""
    if not raw:
        return QUEUE_MAX_SIZE
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"QUEUE_MAX_SIZE={raw!r}: use a whole number of waiting runs, 1 or more")
    return int(raw)


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """``user:pass`` (or several, comma-separated) → Gradio's auth list; None when unset."""
    if not value:
        return None
    pairs = []
    for item in value.split(","):
        user, sep, password = item.strip().partition(":")
        if not sep or not user or not password:
            raise SystemExit("APP_AUTH / --auth: use user:password (several separated by commas)")
        pairs.append((user, password))
    return pairs


def launch_options(env: Mapping[str, str] | None = None, auth: str | None = None) -> dict:
    """launch() keywords: the look, the upload cap (MAX_UPLOAD_MB), and login (--auth or APP_AUTH)."""
    env = os.environ if env is None else env
    options = dict(LAUNCH_OPTIONS)
    raw = env.get("MAX_UPLOAD_MB") or ""
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise SystemExit(f"MAX_UPLOAD_MB={raw!r}: use a whole number of megabytes, 1 or more")
        options["max_file_size"] = f"{int(raw)}mb"
    pairs = parse_auth(auth or env.get("APP_AUTH"))
    if pairs:
        options["auth"] = pairs
    page = PageOptions.from_env(env)
    raw = (env.get("UPLOADS_PER_MIN") or "").strip()
    if raw and not raw.isdigit():
        raise SystemExit(f"UPLOADS_PER_MIN={raw!r}: use a whole number of uploads a minute, 0 = off")
    uploads = int(raw) if raw else (SPACE_UPLOADS_PER_MIN if env.get("SPACE_ID") else 0)
    # MCP behind APP_AUTH too, and the per-visitor upload rate.
    options["app_kwargs"] = gate_app_kwargs(page.trusted_proxy_hops, uploads, pairs)
    return options


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` now (checked before launch, which retries for seconds)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def busy_port_message(host: str, port: int) -> str:
    """One line naming the busy port and, where there is one nearby, a port that is free now."""
    free = next((p for p in range(port + 1, min(port + 50, 65536)) if port_is_free(host, p)), None)
    hint = f"start on a free one with --port {free}" if free else "start on another with --port N"
    return f"Port {port} is busy: stop what uses it, or {hint}."


def open_library(config: LibraryConfig) -> Library | None:
    """The library (LIBRARY_DIR), reconciled, with what was found said once; None when it is off."""
    try:
        library = Library.open(config)
    except (OSError, sqlite3.Error, RuntimeError) as err:  # e.g. a read-only folder: run without a library
        print(f"  Library: off, {config.dir} cannot be used ({err}); images will not be kept", flush=True)
        return None
    if library is not None:
        print(f"  Library: {library.root} ({library.report.message()})", flush=True)
    return library


def create_app(
    settings: Settings | None = None,
    options: PageOptions | None = None,
    max_queue: int | None = None,
    library: LibraryConfig | None = None,
) -> tuple[gr.Blocks, dict[str, Backend]]:
    """The Blocks app for ``settings``, page ``options`` and ``library`` (by default the environment's),
    queue on and bounded, and its backends."""
    settings = settings or Settings.from_env()
    options = options or PageOptions.from_env()
    client = make_client(settings.http_read_timeout_s)
    backends = build_backends(settings, client)
    if on_zerogpu():
        # ZeroGPU wants weights placed at start-up; the GPU itself is attached per call.
        try:
            backends["local"].ensure_loaded()
        except Exception as err:  # the hosted backends still work
            logging.getLogger(__name__).warning("local backend not loaded: %s", err)
    cost.configure(settings.pricing)
    redact.register(*settings.secrets())  # the server's keys: out of every message and log line
    kept = open_library(library or LibraryConfig.from_env())
    demo = build_demo(
        backends,
        secrets=settings.secrets(),
        options=options,
        grid_max_cells=settings.grid_max_cells,
        library=kept,
    )
    demo.library = kept  # for what main() adds beside the page (the OpenAI images routes)
    size = max_queue or queue_max_size()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=size)
    share_queue(demo, API_QUEUE_ID, max(1, size // API_QUEUE_SHARE))  # the API can never fill the page's queue
    one_file_per_upload()
    return demo, backends


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    parser.add_argument("--auth", help="require a login, user:password (also APP_AUTH)")
    parser.add_argument(
        "--no-mcp", action="store_true", help="don't serve /generate and /grid as MCP tools at /gradio_api/mcp/"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    redact.install_log_redaction()  # e.g. an image URL that carries a key, in httpx's request lines
    options = launch_options(auth=args.auth)
    if not port_is_free(args.host, args.port):  # before loading anything, and without Gradio's retries
        raise SystemExit(busy_port_message(args.host, args.port))
    try:
        demo, backends = create_app()
        serve = openai_images.ServeSettings.from_env(os.environ)
    except ValueError as err:  # a bad setting, e.g. RATE_LIMIT_PER_MIN=abc: say which, no traceback
        raise SystemExit(f"Setting error: {err}") from None
    for backend in backends.values():
        print(f"  {backend.label}: {backend.status().message}", flush=True)
    # Images served over the OpenAI API land in the library too.
    keep = served_run_keeper(getattr(demo, "library", None), backends["local"]) if "local" in backends else None
    options.update(openai_images.launch_options(backends, serve, on_served_run=keep))
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            mcp_server=not args.no_mcp,
            prevent_thread_lock=True,
            quiet=True,  # Gradio's own lines suggest `share=True` in launch(); this app's flag is --share
            **options,
        )
    except OSError as err:
        if "Cannot find empty port" not in str(err):
            raise
        raise SystemExit(busy_port_message(args.host, args.port)) from None
    print(f"FLUX.1 [schnell] playground: open {demo.local_url}", flush=True)
    if demo.share_url:
        print(f"  public link: {demo.share_url}", flush=True)
    else:
        print("  add --share for a public link", flush=True)
    if not args.no_mcp:
        print(f"  MCP tools: {demo.local_url.rstrip('/')}/gradio_api/mcp/", flush=True)
    if serve.key:
        base = demo.local_url.rstrip("/")
        print(f"  OpenAI images API (Local backend): {base}/v1, key in OPENAI_SERVE_KEY", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
