"""Backend status lines, ticking a backend, pasted keys and the shared Local model's settings."""

from __future__ import annotations

from collections.abc import Mapping

import gradio as gr

from runs.session import Session
from ui.page.handlers.context import Context
from ui.page.texts import NOTHING_READY, backend_choices, guidance_info, ready_ids, status_markdown


def status_text(ctx: Context, fw_key: str, aiml_key: str, keys: Mapping[str, str] | None = None) -> str:
    """Each backend's status line, and what is left of today's budget."""
    budget = ctx.allowance.budget_line()
    return status_markdown(ctx.backends, fw_key, aiml_key, keys) + (f"\n\n{budget}" if budget else "")


def on_status(ctx: Context, fw_key: str = "", aiml_key: str = "", sess: Session | None = None) -> tuple[str, dict]:
    """Each backend's status line, and the 'nothing is ready' note when none can run."""
    keys = ctx.keys(fw_key, aiml_key, sess)
    return status_text(ctx, fw_key, aiml_key, keys), gr.Markdown(
        NOTHING_READY, visible=not ready_ids(ctx.backends, keys)
    )


def on_ticked(ctx: Context, ticked: list[str], fw_key: str, aiml_key: str, sess: Session | None = None) -> dict:
    """Ticking a backend that cannot run says so at once, with the fix; guidance info follows the ticks."""
    keys = ctx.keys(fw_key, aiml_key, sess)
    blocked = [ctx.backends[b] for b in ticked or [] if b in ctx.backends and not ctx.backends[b].status(keys).ready]
    if blocked:
        gr.Warning(" ".join(f"{b.label} cannot run: {b.status(keys).message}." for b in blocked))
    return gr.Slider(info=guidance_info(ctx.backends, ticked))


def on_local_settings(ctx: Context, precision: str, offload: str, fw_key: str, aiml_key: str, ticked: list[str]):
    """Reconfigure the shared local model, where the operator allows it; labels follow the precision."""
    local = ctx.backends["local"]
    if not ctx.options.local_settings_editable:
        gr.Warning("Local settings are read-only on this public Space (the operator can set ALLOW_LOCAL_SETTINGS=1).")
        return local.settings.precision, local.settings.offload, *on_status(ctx, fw_key, aiml_key), gr.skip(), gr.skip()
    local.reconfigure(precision=precision, offload=offload)
    return (
        gr.skip(),
        gr.skip(),
        *on_status(ctx, fw_key, aiml_key),
        gr.CheckboxGroup(choices=backend_choices(ctx.backends)),
        gr.Slider(info=guidance_info(ctx.backends, ticked)),
    )


def on_endpoint_keys(ctx: Context, sess: Session | None, fw_key: str, aiml_key: str, *pasted: str):
    """Keys pasted for OPENAI_IMAGE_BACKENDS endpoints: kept in this visitor's Session only; status follows."""
    if sess is not None:
        ids = list(ctx.page.endpoint_keys)
        sess.endpoint_keys = {i: k.strip() for i, k in zip(ids, pasted, strict=False) if k and k.strip()}
    return on_status(ctx, fw_key, aiml_key, sess)


def on_load_local(ctx: Context):
    """Every visitor sees the settings the shared model runs with now, and labels that match them."""
    local = ctx.backends["local"]
    return local.settings.precision, local.settings.offload, gr.CheckboxGroup(choices=backend_choices(ctx.backends))
