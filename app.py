"""FLUX.1 [schnell] playground: read settings, build the backends, serve the UI."""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
from collections.abc import Mapping

if os.environ.get("SPACES_ZERO_GPU"):
    import spaces  # noqa: F401  # must come before torch touches CUDA on ZeroGPU

import gradio as gr

from backends import Backend, Settings, build_backends, cost
from backends.http import make_client
from backends.local.zerogpu import on_zerogpu
from library import Library, LibraryConfig
from ui import LAUNCH_OPTIONS, build_demo
from ui.options import PageOptions

CONCURRENCY = 16  # runs at once; hosted calls are I/O, the local GPU serializes its own work
QUEUE_MAX_SIZE = 64  # runs waiting beyond those; more get "queue is full" instead of waiting for ever


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
    return options


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
    kept = open_library(library or LibraryConfig.from_env())
    demo = build_demo(
        backends,
        secrets=settings.secrets(),
        options=options,
        grid_max_cells=settings.grid_max_cells,
        library=kept,
    )
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=max_queue or queue_max_size())
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
    options = launch_options(auth=args.auth)
    try:
        demo, backends = create_app()
    except ValueError as err:  # a bad setting, e.g. RATE_LIMIT_PER_MIN=abc: say which, no traceback
        raise SystemExit(f"Setting error: {err}") from None
    for backend in backends.values():
        print(f"  {backend.label}: {backend.status().message}", flush=True)
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            mcp_server=not args.no_mcp,
            prevent_thread_lock=True,
            **options,
        )
    except OSError as err:
        if "Cannot find empty port" not in str(err):
            raise
        raise SystemExit(
            f"Port {args.port} is busy: stop what uses it, or start on another with --port {args.port + 1}."
        ) from None
    print(f"FLUX.1 [schnell] playground: open {demo.local_url}", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
