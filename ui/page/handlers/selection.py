"""Picking an image: a thumbnail shows it large with its details; the A/B slider shows two of the latest run."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

import gradio as gr

from runs.history import HistoryEntry
from runs.session import RunState, Session
from ui.page.handlers.context import Context


def pick_ab_pair(state: RunState) -> tuple[str | None, str | None]:
    """By default, two backends at the same seed; else the first two images of one backend."""
    # In the page's backend order, not the order they finished in: the default must not depend on timing.
    order = [b for b in state.backends if b in state.entries] + [b for b in state.entries if b not in state.backends]
    by_backend = [state.entries[b] for b in order if state.entries[b]]
    for i, first in enumerate(by_backend):
        for other in by_backend[i + 1 :]:
            for a in first:
                match = next((b for b in other if b.params.get("seed") == a.params.get("seed")), None)
                if match is not None:
                    return a.caption, match.caption
    everything = state.all_entries()
    if len(everything) >= 2:
        return everything[0].caption, everything[1].caption
    return None, None


def entry_details(ctx: Context, entry: HistoryEntry) -> str:
    p = entry.params
    backend = ctx.backends.get(p.get("backend"))
    guidance_text = f"guidance {p.get('guidance_scale')}" if backend and backend.honours_guidance else "no guidance"
    steps = p.get("num_inference_steps")
    return (
        f"**{entry.caption}**\n\n"
        f"Prompt: {p.get('prompt')}\n\n"
        f"{backend.label if backend else p.get('backend')} · seed {p.get('seed')} · {p.get('width')}×{p.get('height')} "
        f"(ratio {p.get('aspect_ratio')}) · {steps} step{'s' if steps != 1 else ''} · {guidance_text}"
    )


def show_entry(ctx: Context, sess: Session, entry: HistoryEntry) -> dict:
    """The large viewer, its full caption and the details panel for one image; Reuse acts on it."""
    c = ctx.page
    sess.selected = entry.params
    return {
        c.viewer: gr.Image(value=str(entry.path), visible=True),  # hidden after a run that made no image
        c.viewer_caption: f"**{entry.caption}**",
        c.details: entry_details(ctx, entry),
        c.download_btn: gr.DownloadButton(value=str(entry.path)),
    }


def on_pick(ctx: Context, sess: Session | None, evt: gr.SelectData):
    """A click on a column's or the history's thumbnail shows that image large."""
    if sess is None:
        gr.Warning("The page is still loading.")
        return {ctx.page.details: gr.skip()}
    entry = None
    # By elem_id: the event's target may be the session's copy of the component, not ours.
    target = getattr(evt.target, "elem_id", None)
    backend = next((b for b, g in ctx.page.col_gallery.items() if g.elem_id == target), None)
    if backend is not None and sess.current is not None:
        entries = sess.current.entries.get(backend) or []
        entry = entries[evt.index] if 0 <= evt.index < len(entries) else None
    else:
        # Match by caption: a run may have added images since the gallery the user clicked was drawn.
        shown = evt.value.get("caption") if isinstance(evt.value, dict) else None
        entries = list(sess.history.entries)
        entry = next((e for e in entries if e.caption == shown), None)
        if entry is None and 0 <= evt.index < len(entries):
            entry = entries[evt.index]
    if entry is None:
        gr.Warning("That image is no longer available.")
        return {ctx.page.details: gr.skip()}
    return show_entry(ctx, sess, entry)


def ab_images(sess: Session, a: str | None, b: str | None):
    """The two images for the A/B slider, looked up by caption among the latest run's (never a client path)."""
    state = sess.current
    if state is None or not a or not b:
        return None
    by_caption = {e.caption: e for e in state.all_entries()}
    if a not in by_caption or b not in by_caption:
        return None
    return str(by_caption[a].path), str(by_caption[b].path)


def on_ab(sess: Session | None, a: str | None, b: str | None):
    if sess is None:
        return gr.skip()
    return ab_images(sess, a, b)


def lightbox_entry(sess: Session, pick: str | None) -> tuple[HistoryEntry | None, str]:
    """The image the lightbox shows (by its file's name, from the URL it was shown at) and what to do with it."""
    try:
        asked = json.loads((pick or "")[:4000])
        src, action = str(asked.get("src", "")), str(asked.get("action", "show"))
    except (ValueError, AttributeError):  # client input: anything else picks nothing
        return None, "show"
    name = PurePosixPath(unquote(urlparse(src).path)).name
    run = sess.current.all_entries() if sess.current is not None else []
    entry = next((e for e in (*run, *sess.history.entries) if e.path.name == name), None) if name else None
    return entry, action
