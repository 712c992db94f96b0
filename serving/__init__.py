"""Serving this app's Local backend over other protocols (knows HTTP, not Gradio)."""
