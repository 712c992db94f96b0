"""The Gradio UI. Knows nothing of HTTP or torch: it talks to backends through their interface."""

from ui.layout import LAUNCH_OPTIONS, build_demo

__all__ = ["LAUNCH_OPTIONS", "build_demo"]
