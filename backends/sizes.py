"""Aspect ratios and the sizes that go with them.

Fireworks takes an aspect ratio, not a size, so every preset here is the ~1 MP size
Fireworks returns for that ratio (the common FLUX table; Fireworks does not document
its own). The same table drives the UI's presets, so `Same size everywhere` is simply
"stay on a preset".
"""

from __future__ import annotations

import math

CUSTOM = "Custom"

# Ratio -> (width, height). Order is the order Fireworks lists them in.
RATIO_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "21:9": (1536, 640),
    "16:9": (1344, 768),
    "3:2": (1216, 832),
    "5:4": (1088, 896),
    "4:5": (896, 1088),
    "2:3": (832, 1216),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
}
RATIOS: tuple[str, ...] = tuple(RATIO_SIZES)

MIN_SIDE = 64
MAX_SIDE = 1536
SIDE_STEP = 32


def _ratio_value(ratio: str) -> float:
    w, h = ratio.split(":")
    return int(w) / int(h)


def nearest_ratio(width: int, height: int) -> str:
    """The preset ratio for width×height: its own if it is a preset size, else the closest on a log scale.

    Preset sizes are not exact ratios (1152×896 is "4:3" but nearer 5:4), hence the exact match first.
    """
    exact = ratio_for_size(width, height)
    if exact != CUSTOM:
        return exact
    target = math.log(width / height)
    return min(RATIOS, key=lambda r: abs(math.log(_ratio_value(r)) - target))


def ratio_for_size(width: int, height: int) -> str:
    """The preset whose size is exactly width×height, else `Custom`."""
    for ratio, size in RATIO_SIZES.items():
        if size == (width, height):
            return ratio
    return CUSTOM


def snap_to_preset(width: int, height: int) -> tuple[int, int]:
    """The preset size of the ratio nearest to width×height (what Fireworks would return)."""
    return RATIO_SIZES[nearest_ratio(width, height)]
