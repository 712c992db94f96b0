"""The page's left side: the prompt, the backends, size, steps and seed, keys, local settings, restore, copy as code.

The nine fields a run is made from are declared once, as `Form`; every handler that reads or writes them
takes `Form.inputs` in that order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from backends import Backend
from backends.sizes import MAX_SIDE, MIN_SIDE, SIDE_STEP
from backends.types import MAX_IMAGES, MAX_STEPS, MIN_STEPS
from config import PageOptions
from runs import form as form_values
from ui.page.copy_code import build_code_panel
from ui.page.texts import EXAMPLES, backend_choices, default_ticked, guidance_info, status_markdown


@dataclass(frozen=True)
class Form:
    """The fields of a run, in /generate's parameter order: what Generate, Copy as code, Reuse settings
    and Restore read or write."""

    prompt: gr.Textbox
    ticked: gr.CheckboxGroup
    ratio: gr.Dropdown
    width: gr.Slider
    height: gr.Slider
    steps: gr.Slider
    guidance: gr.Slider
    seed: gr.Number
    num_images: gr.Slider

    @property
    def inputs(self) -> list[gr.components.Component]:
        """The fields as a listener's inputs or outputs, in declaration order."""
        return [getattr(self, f.name) for f in fields(self)]


FORM_FIELDS = tuple(f.name for f in fields(Form))  # the order handlers take and return the values in
FORM_SIZE = len(FORM_FIELDS)


def build_run_box(backends: Mapping[str, Backend], ticked_now: Sequence[str], options: PageOptions) -> dict[str, Any]:
    """The prompt, Generate and Cancel, the backends to tick and their status lines."""
    prompt = gr.Textbox(
        label="Prompt",
        lines=3,
        max_lines=8,
        placeholder="a tiny astronaut hatching from an egg on the moon",
        info="Ctrl+Enter generates; Esc cancels a run (outside text fields). Click an image to see it full screen.",
        elem_id="prompt",
    )
    with gr.Row():
        generate_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn", scale=3)
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel-btn", scale=1, interactive=False)
    ticked = gr.CheckboxGroup(
        choices=backend_choices(backends),
        value=list(ticked_now),
        label="Backends",
        info="Ticked backends get the same request at once. Grey dot: cannot run yet (the line says why).",
        elem_id="backends",
    )
    status = gr.Markdown(status_markdown(backends), elem_id="backend-status")
    if options.sign_in:  # signed-in visitors are counted by account, with RATE_LIMIT_PER_MIN_SIGNED_IN
        gr.LoginButton(elem_id="login")
    return {
        "prompt": prompt,
        "generate_btn": generate_btn,
        "cancel_btn": cancel_btn,
        "ticked": ticked,
        "status": status,
    }


def build_size_settings(backends: Mapping[str, Backend], ticked_now: Sequence[str]) -> dict[str, Any]:
    """The "Size, steps and seed" accordion: ratio, same size, width, height, steps, guidance, seed, images."""
    with gr.Accordion("Size, steps and seed", open=True, elem_id="settings") as settings:
        with gr.Row():
            ratio = gr.Dropdown(
                form_values.RATIO_CHOICES, value=form_values.DEFAULT_RATIO, label="Aspect ratio", elem_id="ratio"
            )
            same_size = gr.Checkbox(
                label="Same size everywhere",
                info="Snap to the size Fireworks returns, so every column has the same pixels.",
                elem_id="same-size",
            )
        # buttons=[]: no per-slider reset button; the page's JS would otherwise face a dozen
        # identically named "Reset to default value" buttons.
        width = gr.Slider(MIN_SIDE, MAX_SIDE, value=1024, step=SIDE_STEP, label="Width", elem_id="width", buttons=[])
        height = gr.Slider(MIN_SIDE, MAX_SIDE, value=1024, step=SIDE_STEP, label="Height", elem_id="height", buttons=[])
        steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=4, step=1, label="Steps", elem_id="steps", buttons=[])
        guidance = gr.Slider(
            0,
            10,
            value=3.5,
            step=0.1,
            label="Guidance scale",
            info=guidance_info(backends, ticked_now),
            elem_id="guidance",
            buttons=[],
        )
        with gr.Row():
            # No minimum/maximum: Gradio would reject a bad seed with its own "Error" badge;
            # our handler names the value and the range instead.
            seed = gr.Number(value=0, label="Seed (0 = random)", elem_id="seed")
            num_images = gr.Slider(
                1, MAX_IMAGES, value=1, step=1, label="Images per backend", elem_id="num-images", buttons=[]
            )
    return {
        "settings": settings,
        "same_size": same_size,
        "ratio": ratio,
        "width": width,
        "height": height,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "num_images": num_images,
    }


def build_keys(backends: Mapping[str, Backend]) -> dict[str, Any]:
    """The "API keys" accordion: Fireworks, AI/ML, and one more per OPENAI_IMAGE_BACKENDS entry that takes a key."""
    with gr.Accordion("API keys (this browser session only)", open=False, elem_id="keys"):
        fw_key = gr.Textbox(label="Fireworks API key", type="password", placeholder="fw_…")
        aiml_key = gr.Textbox(label="AI/ML API key", type="password")
        endpoint_keys = {
            b.id: gr.Textbox(label=f"{b.label} API key", type="password", placeholder=b.key_env)
            for b in backends.values()
            if b.key_env and b.id not in ("fireworks", "aiml")
        }
        gr.Markdown("Keys pasted here override the server's and are never stored, logged or shown.")
    return {"fw_key": fw_key, "aiml_key": aiml_key, "endpoint_keys": endpoint_keys}


def build_local_settings(backends: Mapping[str, Backend], options: PageOptions) -> dict[str, Any]:
    """The "Local settings" accordion (precision, offload), only with a Local backend; None for each otherwise."""
    if "local" not in backends:
        return {"precision": None, "offload": None}
    local = backends["local"]
    editable = options.local_settings_editable
    with gr.Accordion("Local settings", open=False, elem_id="local-settings"):
        if not editable:
            gr.Markdown(
                "Read-only on this public Space: the model is shared by every visitor. "
                "The operator can allow changes with `ALLOW_LOCAL_SETTINGS=1`.",
                elem_id="local-readonly",
            )
        precision = gr.Radio(
            ["fp8", "bf16"],
            value=local.settings.precision,
            label="Precision",
            info="fp8: FP8 matmuls on compute capability 8.9+ (Ada, Hopper, Blackwell), "
            "FP8 storage elsewhere. bf16: the reference. Changing it reloads the model.",
            interactive=editable,
            elem_id="precision",
        )
        offload = gr.Dropdown(
            ["auto", "none", "model", "sequential"],
            value=local.settings.offload,
            label="CPU offload",
            info="auto picks from free VRAM: none on 24 GB+, model on 16 GB, sequential on 12 GB.",
            interactive=editable,
            elem_id="offload",
        )
    return {"precision": precision, "offload": offload}


def build_controls(backends: Mapping[str, Backend], options: PageOptions) -> dict[str, Any]:
    """Create the left column's components; return them by their Page field names (the nine as `form`)."""
    ticked_now = default_ticked(backends)
    with gr.Column(scale=2, min_width=320, elem_id="controls"):
        parts = build_run_box(backends, ticked_now, options)
        parts.update(build_size_settings(backends, ticked_now))
        parts.update(build_keys(backends))
        parts.update(build_local_settings(backends, options))
        with gr.Accordion("Restore settings from a PNG", open=False, elem_id="restore-box"):
            parts["restore"] = gr.File(
                label="Drop a PNG made here", file_types=[".png"], type="filepath", elem_id="restore"
            )
        gr.Examples(EXAMPLES, inputs=[parts["prompt"]], label="Try")
        parts["code"] = build_code_panel()
        parts["client_note"] = gr.Textbox(visible=False)
    parts["form"] = Form(**{name: parts.pop(name) for name in FORM_FIELDS})
    return parts
