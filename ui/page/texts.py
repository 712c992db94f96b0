"""The page's words: its title and notes, each backend's status line and the guidance slider's info.

Plain text from the backends' state (no components), shared by the layout and the handlers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backends import Backend
from runs.messages import code_names

TITLE = "FLUX.1 [schnell] playground"
EXAMPLES = [
    "a tiny astronaut hatching from an egg on the moon",
    "a cat holding a sign that says hello world",
    "an anime illustration of a wiener schnitzel",
    "a red fox in fresh snow at golden hour, 35mm photo",
]
# Measured on an H100 with the full model: about 77 s to load, then compiling, 101 s to the first image.
FIRST_RUN = (
    " — **its first run loads and compiles the model: about 1–2 minutes on a GPU before the first image**; "
    "later runs take seconds"
)
INTRO = (
    "Results appear here: tick one or more backends and press **Generate**. "
    "With several backends ticked, each gets a column, filled in as soon as it finishes."
)
NOTHING_READY = (
    "**No backend is ready yet. To get going:** paste a key under *API keys* (left), or set `FIREWORKS_API_KEY` / "
    "`AIML_API_KEY` and restart. To try the page without any key, start the local fake APIs with "
    "`python -m tests.fakes` and run the app with the command it prints (README, *Try it without keys*)."
)


def guidance_info(backends: Mapping[str, Backend], selected: Sequence[str]) -> str:
    text = "Sent to Fireworks only; the AI/ML API has no guidance parameter."
    also = [b.label for b in backends.values() if b.honours_guidance and b.id != "fireworks"]  # configured ones
    if also:
        text = text.replace("Fireworks only", f"Fireworks and {', '.join(also)}")
    if "local" in (selected or []) and "local" in backends:
        text += f" {backends['local'].label}: no effect — FLUX.1 [schnell] is guidance-distilled."
    return text


def ready_ids(backends: Mapping[str, Backend], keys: Mapping[str, str] | None = None) -> list[str]:
    return [b.id for b in backends.values() if b.status(keys).ready]


def default_ticked(backends: Mapping[str, Backend]) -> list[str]:
    """Every backend that can run (a green dot means ticked); Local's status says what its first run costs."""
    return ready_ids(backends)


def backend_choices(backends: Mapping[str, Backend]) -> list[tuple[str, str]]:
    return [(b.label, b.id) for b in backends.values()]


def status_markdown(
    backends: Mapping[str, Backend], fw_key: str = "", aiml_key: str = "", more_keys: Mapping[str, str] | None = None
) -> str:
    """One line per backend: ready or not, and if not, how to fix it (``more_keys``: other pasted keys, by id)."""
    keys = {**(more_keys or {}), "fireworks": fw_key, "aiml": aiml_key}
    lines = []
    for b in backends.values():
        st = b.status(keys)
        mark = "ready" if st.ready else "off"
        first = FIRST_RUN if st.ready and getattr(b, "loaded", True) is None else ""
        lines.append(f'<span class="dot {mark}"></span> **{b.label}** — {code_names(st.message)}{first}')
    return "\n\n".join(lines)
