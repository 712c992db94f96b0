""" "Copy as code": the form's current settings as a ready `gradio_client` call and a `curl` to /generate.

Pure text functions, plus the panel and its wiring. The snippets call the typed /generate endpoint
(ui/api/endpoints.py), which runs on the server's own keys: a key pasted into the page is never put in them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from backends.sizes import CUSTOM
from runs import form as controls

# /generate's parameters, in its order: curl posts them as a positional list.
PARAMS = (
    "prompt",
    "backends",
    "aspect_ratio",
    "width",
    "height",
    "num_inference_steps",
    "guidance_scale",
    "seed",
    "num_images",
)
FALLBACK_URL = "http://127.0.0.1:7860/"


def api_args(
    prompt: str,
    ticked: Sequence[str] | None,
    ratio: str,
    width: Any,
    height: Any,
    steps: Any,
    guidance: Any,
    seed: Any,
    num_images: Any,
) -> dict[str, Any]:
    """The form's values as /generate's arguments (as typed: the endpoint names what is wrong)."""
    return {
        "prompt": (prompt or "").strip() or "a tiny astronaut hatching from an egg on the moon",
        "backends": list(ticked or []),
        "aspect_ratio": ratio or CUSTOM,
        "width": controls.whole(width),
        "height": controls.whole(height),
        "num_inference_steps": controls.whole(steps),
        "guidance_scale": float(guidance) if isinstance(guidance, int | float) else guidance,
        "seed": controls.whole(seed) if seed is not None else 0,
        "num_images": controls.whole(num_images),
    }


def python_snippet(url: str, args: dict[str, Any]) -> str:
    """A `gradio_client` call of /generate with these arguments, printing each image's record."""
    lines = [f"    {name}={args[name]!r}," for name in PARAMS]
    seed_note = "  # 0: a random seed for the call" if args["seed"] == 0 else ""
    return "\n".join(
        [
            "from gradio_client import Client",
            "",
            f"client = Client({url!r})",
            "images, records = client.predict(",
            *(line + (seed_note if line.startswith("    seed=") else "") for line in lines),
            '    api_name="/generate",',
            ")",
            "for record in records:",
            '    print(record["backend"], record["seed"], record["status"], record["latency_s"])',
        ]
    )


def curl_snippet(url: str, args: dict[str, Any]) -> str:
    """Gradio's two steps: POST the arguments to /gradio_api/call/generate, then GET its event's result."""
    base = url.rstrip("/")
    body = json.dumps({"data": [args[name] for name in PARAMS]}, ensure_ascii=False)
    return "\n".join(
        [
            f"EVENT_ID=$(curl -s -X POST {shlex.quote(base + '/gradio_api/call/generate')} \\",
            "  -H 'Content-Type: application/json' \\",
            f"  -d {shlex.quote(body)} | awk -F'\"' '{{ print $4 }}')",
            f"curl -s -N {shlex.quote(base + '/gradio_api/call/generate')}/$EVENT_ID",
        ]
    )


def page_url(request: gr.Request | None) -> str:
    """The address the visitor's browser used (behind a proxy, the forwarded one)."""
    if request is None:
        return FALLBACK_URL
    headers = request.headers
    host = headers.get("x-forwarded-host") or headers.get("host")
    if not host:
        return FALLBACK_URL
    scheme = (headers.get("x-forwarded-proto") or getattr(request.request.url, "scheme", "http")).split(",")[0]
    return f"{scheme.strip()}://{host.split(',')[0].strip()}/"


@dataclass
class CodePanel:
    python: gr.Code
    curl: gr.Code


def build_code_panel() -> CodePanel:
    """An accordion with both snippets; each box has Gradio's copy button."""
    with gr.Accordion("Copy as code: these settings as an API call", open=False, elem_id="copy-code"):
        gr.Markdown(
            "The same request from a script, through the `/generate` endpoint. It runs on the server's keys "
            "(a key pasted here is not included). `pip install gradio_client` for the first."
        )
        # Wrapped: the left column is narrow, and a copy takes the lines as they are.
        python = gr.Code(
            language="python", label="Python (gradio_client)", elem_id="code-python", buttons=["copy"], wrap_lines=True
        )
        curl = gr.Code(language="shell", label="curl", elem_id="code-curl", buttons=["copy"], wrap_lines=True)
    return CodePanel(python, curl)


def on_code(
    prompt: str,
    ticked: list[str],
    ratio: str,
    width: float,
    height: float,
    steps: float,
    guidance: float,
    seed: float | None,
    num_images: float,
    request: gr.Request = None,
) -> tuple[str, str]:
    """Both snippets for the form's values, with the address this page was opened at."""
    args = api_args(prompt, ticked, ratio, width, height, steps, guidance, seed, num_images)
    url = page_url(request)
    return python_snippet(url, args), curl_snippet(url, args)


def wire_code(panel: CodePanel, form: Sequence[gr.components.Component]) -> None:
    """Fill the snippets on load and whenever a setting changes (not queued: it is instant text)."""
    gr.on(None, on_code, list(form), [panel.python, panel.curl], queue=False, api_visibility="private")
