"""The Gradio UI. Knows nothing of HTTP or torch: it talks to backends through their interface."""

from ui.demo import build_demo
from ui.theme import LAUNCH_OPTIONS

__all__ = ["LAUNCH_OPTIONS", "build_demo"]
