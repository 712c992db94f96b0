"""FLUX.1 [schnell] playground: read settings, build the backends, serve the UI."""

from __future__ import annotations

import argparse
import logging
import os

if os.environ.get("SPACES_ZERO_GPU"):
    import spaces  # noqa: F401  # must come before torch touches CUDA on ZeroGPU

import gradio as gr

from backends import Backend, Settings, build_backends, cost
from backends.http import make_client
from backends.local.zerogpu import on_zerogpu
from ui import LAUNCH_OPTIONS, build_demo


def create_app(settings: Settings | None = None) -> tuple[gr.Blocks, dict[str, Backend]]:
    """The Blocks app for ``settings`` (the environment's by default), queue on, and its backends."""
    settings = settings or Settings.from_env()
    client = make_client(settings.http_read_timeout_s)
    backends = build_backends(settings, client)
    if on_zerogpu():
        # ZeroGPU wants weights placed at start-up; the GPU itself is attached per call.
        try:
            backends["local"].ensure_loaded()
        except Exception as err:  # the hosted backends still work
            logging.getLogger(__name__).warning("local backend not loaded: %s", err)
    cost.configure(settings.pricing)
    demo = build_demo(backends, secrets=settings.secrets(), grid_max_cells=settings.grid_max_cells)
    demo.queue(default_concurrency_limit=16)
    return demo, backends


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    parser.add_argument(
        "--no-mcp", action="store_true", help="don't serve /generate and /grid as MCP tools at /gradio_api/mcp/"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    demo = create_app()[0]
    demo.launch(
        server_name=args.host, server_port=args.port, share=args.share, mcp_server=not args.no_mcp, **LAUNCH_OPTIONS
    )


if __name__ == "__main__":
    main()
