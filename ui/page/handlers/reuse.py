"""The form from an image: Reuse seed, Reuse settings (a picked image) and Restore (a dropped PNG)."""

from __future__ import annotations

import logging

import gradio as gr

from backends import InvalidRequest
from backends.sizes import CUSTOM
from images.pngmeta import read_params
from runs import form as form_values
from runs.session import Session
from ui.page.controls import FORM_FIELDS, FORM_SIZE
from ui.page.handlers.context import Context
from ui.page.handlers.selection import lightbox_entry, show_entry

log = logging.getLogger(__name__)


def on_reuse_seed(ctx: Context, sess: Session | None):
    """The selected image's seed into the form, saying so (the form may be off-screen)."""
    if not sess or not sess.selected:
        gr.Warning("Select an image first (click a thumbnail).")
        return gr.skip()
    p = sess.selected
    backend = ctx.backends.get(p.get("backend"))
    gr.Info(f"Seed set to {p['seed']}: it remakes that image on {backend.label if backend else p.get('backend')}.")
    return p["seed"]


def apply_params(ctx: Context, p: dict, ticked_now: list[str] | None, num_images: float = 1) -> tuple:
    """An image's parameters ``p`` as the form's values, in `Form` order."""
    # Keep what is ticked and add the image's backend: its seed remakes the image only there.
    keep = [b for b in ctx.order if b in (ticked_now or []) or b == p.get("backend")]
    values = {
        "prompt": p.get("prompt", ""),
        "ticked": keep or gr.skip(),
        "ratio": p.get("aspect_ratio") if p.get("aspect_ratio") in form_values.RATIO_CHOICES else CUSTOM,
        "width": p.get("width", 1024),
        "height": p.get("height", 1024),
        "steps": p.get("num_inference_steps", 4),
        "guidance": p.get("guidance_scale", 3.5),
        "seed": p.get("seed", 0),
        "num_images": num_images,  # a setting of the form, not of the image: Reuse keeps it
    }
    return tuple(values[name] for name in FORM_FIELDS)


def on_reuse_settings(ctx: Context, sess: Session | None, *form: object):
    """The selected image's settings into the form (keeping Images per backend), naming what changed."""
    if not sess or not sess.selected:
        gr.Warning("Select an image first (click a thumbnail).")
        return (gr.skip(),) * FORM_SIZE
    now = dict(zip(FORM_FIELDS, form, strict=True))
    after = apply_params(ctx, sess.selected, now["ticked"], now["num_images"])
    changed = form_values.changed_settings(form, after)
    gr.Info(f"Settings reused: {', '.join(changed)}." if changed else "The form already has this image's settings.")
    return after


def on_restore(ctx: Context, path: str | None, ticked_now: list[str]):
    """A dropped PNG fills the form with its settings; anything else gets exactly one warning."""
    if not path:
        return (gr.skip(),) * FORM_SIZE
    try:
        params = read_params(path)
        if params:
            # The same validation as a run: a crafted chunk must not fill the form with junk.
            form_values.build_request(
                params.get("prompt", ""),
                params.get("aspect_ratio", CUSTOM),
                params.get("width", 1024),
                params.get("height", 1024),
                params.get("num_inference_steps", 4),
                params.get("guidance_scale", 3.5),
                params.get("seed", 0),
                1,
            )
    except InvalidRequest as err:
        gr.Warning(f"That PNG's settings are not valid here ({err}); nothing was changed.")
        return (gr.skip(),) * FORM_SIZE
    except Exception as err:  # a crafted file may break the parser in any way: one warning, not a crash
        log.info("restore: unreadable PNG: %s", type(err).__name__)
        gr.Warning("That file could not be read as a PNG made here; nothing was changed.")
        return (gr.skip(),) * FORM_SIZE
    if not params:
        gr.Warning("That PNG carries no playground settings; nothing was changed.")
        return (gr.skip(),) * FORM_SIZE
    made_by = ctx.backends[params["backend"]].label if params.get("backend") in ctx.backends else "unknown backend"
    gr.Info(f"Restored settings: {made_by} · seed {params.get('seed')}")
    return apply_params(ctx, params, ticked_now)


def on_lightbox(ctx: Context, sess: Session | None, pick: str, *form: object) -> dict:
    """The lightbox's image in the viewer (Reuse and Download act on it), and its Reuse seed / Reuse settings."""
    c = ctx.page
    entry, action = lightbox_entry(sess, pick) if sess is not None else (None, "show")
    if entry is None:  # e.g. the grid's sheet, which is no one image
        if action != "show":
            gr.Warning("That image has no settings to reuse.")
        return {c.details: gr.skip()}
    update = show_entry(ctx, sess, entry)
    if action == "seed":
        update[c.form.seed] = on_reuse_seed(ctx, sess)
    elif action == "settings":
        update.update(zip(c.form.inputs, on_reuse_settings(ctx, sess, *form), strict=True))
    return update
