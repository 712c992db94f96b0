"""FLUX.1 [schnell] playground: read settings, build the backends, serve the UI."""

from __future__ import annotations

import argparse
import logging
import os

if os.environ.get("SPACES_ZERO_GPU"):
    import spaces  # noqa: F401  # must come before torch touches CUDA on ZeroGPU

import gradio as gr

from backends import Backend, Settings, build_backends
from backends.http import make_client
from backends.local.zerogpu import on_zerogpu
from ui import LAUNCH_OPTIONS, build_demo
from ui.options import PageOptions


def create_app(
    settings: Settings | None = None, options: PageOptions | None = None
) -> tuple[gr.Blocks, dict[str, Backend]]:
    """The Blocks app for ``settings`` and page ``options`` (by default the environment's), and its backends."""
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
    demo = build_demo(backends, secrets=settings.secrets(), options=options)
    demo.queue(default_concurrency_limit=16)
    return demo, backends


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        demo, backends = create_app()
    except ValueError as err:  # a bad setting, e.g. RATE_LIMIT_PER_MIN=abc: say which, no traceback
        raise SystemExit(f"Setting error: {err}") from None
    for backend in backends.values():
        print(f"  {backend.label}: {backend.status().message}", flush=True)
    try:
        demo.launch(
            server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True, **LAUNCH_OPTIONS
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
