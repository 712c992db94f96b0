"""Control values ↔ requests: size presets, the request built from the form, restoring settings."""

from __future__ import annotations

import math
from typing import Any

from backends import GenerationRequest
from backends.sizes import CUSTOM, RATIO_SIZES, ratio_for_size, snap_to_preset

DEFAULT_RATIO = "1:1"


def ratio_value(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


# Natural order: square, then landscape from least to most wide, then portrait likewise; Custom last.
RATIO_CHOICES = sorted(RATIO_SIZES, key=lambda r: (ratio_value(r) < 1, abs(math.log(ratio_value(r))))) + [CUSTOM]


def whole(value: Any) -> Any:
    """Sliders and number boxes may send 1024.0; keep non-integral values as they are for validation to name."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def size_for_ratio(ratio: str, width: int, height: int) -> tuple[int, int]:
    """Choosing a preset sets its ~1 MP size; `Custom` keeps the current size."""
    return RATIO_SIZES.get(ratio, (width, height))


def ratio_after_resize(width: int, height: int, same_size: bool) -> tuple[str, int, int]:
    """After the user moves a size slider: the ratio to show, and the size (snapped if `Same size everywhere`)."""
    width, height = whole(width), whole(height)
    if same_size:
        width, height = snap_to_preset(width, height)
    return ratio_for_size(width, height), width, height


def build_request(
    prompt: str,
    aspect_ratio: str,
    width: Any,
    height: Any,
    steps: Any,
    guidance: Any,
    seed: Any,
    num_images: Any,
    same_size: bool = False,
) -> GenerationRequest:
    """The validated request for the form's values (raises InvalidRequest)."""
    width, height = whole(width), whole(height)
    if same_size and isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        width, height = snap_to_preset(width, height)
        aspect_ratio = ratio_for_size(width, height)
    return GenerationRequest(
        prompt=(prompt or "").strip(),
        width=width,
        height=height,
        num_inference_steps=whole(steps),
        guidance_scale=float(guidance) if isinstance(guidance, int | float) else guidance,
        seed=whole(seed) if seed is not None else 0,
        num_images=whole(num_images),
        aspect_ratio=aspect_ratio or CUSTOM,
    )


def api_size(aspect_ratio: str, width: Any, height: Any) -> tuple[Any, Any]:
    """For /generate: a preset ratio fixes the size; `Custom` uses width and height as given."""
    if aspect_ratio in RATIO_SIZES:
        return RATIO_SIZES[aspect_ratio]
    return whole(width), whole(height)


FORM_LABELS = (
    "prompt",
    "backends",
    "aspect ratio",
    "width",
    "height",
    "steps",
    "guidance",
    "seed",
    "images per backend",
)


def changed_settings(before: tuple, after: tuple) -> list[str]:
    """The form settings (FORM_LABELS order) that ``after`` changes; a setting left as is is not named."""
    changed = []
    for label, old, new in zip(FORM_LABELS, before, after, strict=True):
        if isinstance(new, dict):  # gr.skip(): not written
            continue
        if isinstance(old, list | tuple) or isinstance(new, list | tuple):
            same = sorted(old or []) == sorted(new or [])
        else:
            same = whole(old) == whole(new) or str(old) == str(new)
        if not same:
            changed.append(f"{label} {new}" if label in ("seed", "steps", "aspect ratio") else label)
    return changed
