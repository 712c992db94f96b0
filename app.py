"""FLUX.1 [schnell] playground: read settings, build the backends, serve the UI."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import socket
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

if os.environ.get("SPACES_ZERO_GPU"):
    import spaces  # noqa: F401  # must come before torch touches CUDA on ZeroGPU

import gradio as gr

import config
from backends import Backend, build_backends, cost, redact
from backends.http import make_client
from backends.local import zerogpu
from config import AppSettings, PageOptions
from library import Library, LibraryConfig
from runs.keeper import served_run_keeper
from serving import openai_images
from spend.allowance import Allowance
from spend.gate import gate_app_kwargs
from spend.ledger import Ledger
from ui import LAUNCH_OPTIONS, build_demo
from ui.api.endpoints import API_QUEUE_ID
from ui.api.queue import one_file_per_upload, share_queue, slower_queue_poll
from ui.sessions import LiveSessions

CONCURRENCY = 16  # runs at once; hosted calls are I/O, the local GPU serializes its own work
DEFAULT_UPLOAD_MB = 10  # ui.theme.MAX_UPLOAD
API_QUEUE_SHARE = 4  # at most 1/4 of the waiting places go to /generate, /grid and MCP calls


@dataclass
class App:
    """What create_app builds: the page, what it serves, and the settings it was built from."""

    demo: gr.Blocks
    backends: dict[str, Backend]
    library: Library | None  # None: off, or its folder could not be used
    live_sessions: LiveSessions
    settings: AppSettings
    allowance: Allowance | None = None  # the one every door draws on (the page's, /generate's, the OpenAI route's)


def merge_launch_options(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """launch() keywords from several places, merged, never replaced: the lists in ``app_kwargs``
    (middleware, routes) are joined in order; any other key given twice with different values is an error."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key != "app_kwargs":
                if key in merged and merged[key] is not value and merged[key] != value:
                    raise ValueError(f"launch option {key!r} is set twice")
                merged[key] = value
                continue
            app_kwargs = merged.setdefault("app_kwargs", {})
            for name, entry in value.items():
                if name not in app_kwargs:
                    app_kwargs[name] = list(entry) if isinstance(entry, list) else entry
                elif isinstance(app_kwargs[name], list) and isinstance(entry, list):
                    app_kwargs[name] = [*app_kwargs[name], *entry]
                else:
                    raise ValueError(f"launch option app_kwargs[{name!r}] is set twice")
    return merged


def launch_options(app: App) -> dict[str, Any]:
    """launch() keywords: the look, the upload cap, the login, the gate (MCP behind the login, the upload rate)
    and, with OPENAI_SERVE_KEY, the OpenAI images routes, all merged."""
    launch = app.settings.launch
    look = dict(LAUNCH_OPTIONS)
    if launch.max_upload_mb:
        look["max_file_size"] = f"{launch.max_upload_mb}mb"
    if launch.auth:
        look["auth"] = list(launch.auth)
    gate = {"app_kwargs": gate_app_kwargs_for(app.settings)}
    # Every backend over the OpenAI API, drawing on the page's allowance; its images land in the library too.
    keep = served_run_keeper(app.library, app.backends)
    secrets = app.settings.backends.secrets()
    served = openai_images.launch_options(app.backends, app.settings.serving, keep, app.allowance, secrets)
    return merge_launch_options(look, gate, served)


def gate_app_kwargs_for(settings: AppSettings) -> dict[str, Any]:
    """The gate (spend/gate.py) for ``settings``: who the visitor is, body bounds, the upload rate, MCP's login."""
    launch = settings.launch
    return gate_app_kwargs(
        settings.page.trusted_proxy_hops,
        launch.uploads_per_min,
        launch.auth,
        upload_bytes=(launch.max_upload_mb or DEFAULT_UPLOAD_MB) * 1024 * 1024,
        body_timeout_s=launch.body_timeout_s,
    )


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` now (checked before launch, which retries for seconds)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As Uvicorn binds: without SO_REUSEADDR the TIME-WAIT sockets of a just-stopped app read as "busy".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def open_library(where: LibraryConfig) -> Library | None:
    """The library (LIBRARY_DIR), reconciled, with what was found said once; None when it is off."""
    try:
        library = Library.open(where)
    except (OSError, sqlite3.Error, RuntimeError) as err:  # e.g. a read-only folder: run without a library
        print(f"  Library: off, {where.dir} cannot be used ({err}); images will not be kept", flush=True)
        return None
    if library is not None:
        print(f"  Library: {library.root} ({library.report.message()})", flush=True)
    return library


def make_allowance(options: PageOptions) -> Allowance:
    """The one allowance every door draws on, with today's ledger on disk when a budget or daily cap is set."""
    if not options.needs_ledger:
        return Allowance(options)
    return Allowance(options, Ledger(options.ledger_path, options.daily_budget_usd, options.visitor_daily_images))


def create_app(settings: AppSettings) -> App:
    """The app for ``settings`` (main reads them with config.load): its backends, library and page,
    queue on and bounded."""
    zerogpu.configure(settings.zerogpu)  # before the backends: `spaces` wants GPU functions decorated early
    client = make_client(settings.backends.http_read_timeout_s)
    backends = build_backends(settings.backends, client)
    if settings.zerogpu:
        # ZeroGPU wants weights placed at start-up; the GPU itself is attached per call.
        try:
            backends["local"].ensure_loaded()
        except Exception as err:  # the hosted backends still work
            logging.getLogger(__name__).warning("local backend not loaded: %s", err)
    cost.configure(settings.backends.pricing)
    redact.register(*settings.backends.secrets())  # the server's keys: out of every message and log line
    library = open_library(settings.library)
    live = LiveSessions.from_limits(settings.sessions)
    allowance = make_allowance(settings.page)
    demo = build_demo(
        backends,
        secrets=settings.backends.secrets(),
        options=settings.page,
        grid_max_cells=settings.backends.grid_max_cells,
        library=library,
        sessions=live,
        allowance=allowance,
    )
    size = settings.launch.queue_max_size
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=size)
    share_queue(demo, API_QUEUE_ID, max(1, size // API_QUEUE_SHARE))  # the API can never fill the page's queue
    one_file_per_upload()
    slower_queue_poll(demo)  # 10 ms, not 1 ms, between idle queue checks: the app's own idle CPU
    return App(demo, backends, library, live, settings, allowance)


def read_settings(argv: list[str] | None = None) -> AppSettings:
    """The environment's settings (config.load), with the command line's flags on top."""
    try:
        settings = config.load(os.environ)
    except ValueError as err:  # a bad setting, e.g. RATE_LIMIT_PER_MIN=abc: say which, no traceback
        raise SystemExit(f"Setting error: {err}") from None
    launch = settings.launch
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=launch.host)
    parser.add_argument("--port", type=int, default=launch.port)
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    parser.add_argument("--auth", help="require a login, user:password (also APP_AUTH)")
    parser.add_argument(
        "--no-mcp", action="store_true", help="don't serve /generate and /grid as MCP tools at /gradio_api/mcp/"
    )
    parser.add_argument(
        "--log-requests", action="store_true", help="log every upstream HTTP request (keys redacted), as httpx does"
    )
    args = parser.parse_args(argv)
    try:
        auth = config.parse_auth(args.auth) if args.auth else launch.auth
    except ValueError as err:
        raise SystemExit(f"Setting error: {err}") from None
    launch = dataclasses.replace(
        launch,
        host=args.host,
        port=args.port,
        auth=auth,
        mcp=not args.no_mcp,
        share=args.share,
        log_requests=args.log_requests,
    )
    return dataclasses.replace(settings, launch=launch)


def main(argv: list[str] | None = None) -> None:
    settings = read_settings(argv)
    launch = settings.launch
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not launch.log_requests:  # not one line per upstream call, unless asked for
        logging.getLogger("httpx").setLevel(logging.WARNING)
    redact.install_log_redaction()  # e.g. an image URL that carries a key, in httpx's request lines
    if not port_is_free(launch.host, launch.port):  # before loading anything, and without Gradio's retries
        raise SystemExit(busy_port_message(launch.host, launch.port))
    app = create_app(settings)
    demo = app.demo
    for backend in app.backends.values():
        print(f"  {backend.label}: {backend.status().message}", flush=True)
    try:
        demo.launch(
            server_name=launch.host,
            server_port=launch.port,
            share=launch.share,
            mcp_server=launch.mcp,
            prevent_thread_lock=True,
            quiet=True,  # Gradio's own lines suggest `share=True` in launch(); this app's flag is --share
            **launch_options(app),
        )
    except OSError as err:
        if "Cannot find empty port" not in str(err):
            raise
        raise SystemExit(busy_port_message(launch.host, launch.port)) from None
    print(f"FLUX.1 [schnell] playground: open {demo.local_url}", flush=True)
    if demo.share_url:
        print(f"  public link: {demo.share_url}", flush=True)
    else:
        print("  add --share for a public link", flush=True)
    if launch.mcp:
        print(f"  MCP tools: {demo.local_url.rstrip('/')}/gradio_api/mcp/", flush=True)
    if settings.serving.key:
        base = demo.local_url.rstrip("/")
        print(f"  OpenAI images API (every backend, model=<id>): {base}/v1, key in OPENAI_SERVE_KEY", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
