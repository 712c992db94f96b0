"""The size controls: the ratio sets width and height, the size sets the ratio, "Same size everywhere" snaps."""

from __future__ import annotations

import gradio as gr

from backends.sizes import MAX_SIDE, MIN_SIDE
from runs import form as form_values


def on_ratio(ratio: str, width: float, height: float) -> tuple[int, int]:
    return form_values.size_for_ratio(ratio, width, height)


def on_size_change(width: float, height: float, same_size: bool):
    """The ratio follows the size (after a clamp too). Width and height are written back only when
    `Same size everywhere` snaps them, so a late reply can't undo a value typed meanwhile.

    Called unpreprocessed: a typed 5000 can arrive before its box clamps it, and Gradio's slider would
    refuse it (no ratio at all); the ratio is the one for the value the box will show."""
    width, height = (min(max(v, MIN_SIDE), MAX_SIDE) if isinstance(v, int | float) else v for v in (width, height))
    ratio, w, h = form_values.ratio_after_resize(width, height, bool(same_size))
    if not same_size:
        return ratio, gr.skip(), gr.skip()
    return (
        ratio,
        (w if w != form_values.whole(width) else gr.skip()),
        (h if h != form_values.whole(height) else gr.skip()),
    )


def on_same_size(same: bool, width: float, height: float):
    if not same:
        return gr.Dropdown(choices=form_values.RATIO_CHOICES), gr.skip(), gr.skip()
    ratio, w, h = form_values.ratio_after_resize(width, height, True)
    return gr.Dropdown(value=ratio, choices=form_values.RATIO_CHOICES[:-1]), w, h
