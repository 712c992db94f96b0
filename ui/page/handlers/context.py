"""What every page handler gets first: the page's components, the backends, the server's keys and the allowance.

Listeners get it bound with `bind` (`types.MethodType`, not functools.partial): Gradio reads a bound
method's type hints, which it needs to pass `gr.Request` and `gr.SelectData`.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import gradio as gr

from backends import Backend, GenerationRequest
from config import PageOptions
from runs.grid.plan import MAX_CELLS
from runs.session import Session
from spend.allowance import Allowance, Refused, Ticket, plan_spend
from ui.page.layout import Page
from ui.page.previews import StepPreviews

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What handlers need besides the values of components."""

    page: Page
    backends: Mapping[str, Backend]
    secrets: Sequence[str] = ()
    options: PageOptions = field(default_factory=PageOptions)
    allowance: Allowance = field(default_factory=lambda: Allowance(PageOptions()))
    max_cells: int = MAX_CELLS  # the most cells an X/Y grid from the page may have
    previews: StepPreviews = field(default_factory=StepPreviews)  # Local's newest step, per session

    @property
    def order(self) -> list[str]:
        return list(self.backends)

    def session_secrets(self, fw_key: str, aiml_key: str, sess: Session | None = None) -> list[str]:
        # Stripped, as the backends use them: a pasted key with a trailing newline must still be redacted.
        pasted = list(sess.endpoint_keys.values()) if sess is not None else []
        return [*self.secrets, (fw_key or "").strip(), (aiml_key or "").strip(), *pasted]

    def keys(self, fw_key: str, aiml_key: str, sess: Session | None = None) -> dict[str, str]:
        """Every key pasted in this browser session, by backend id."""
        return {**(sess.endpoint_keys if sess is not None else {}), "fireworks": fw_key, "aiml": aiml_key}


def bind(fn: Callable, ctx: object) -> Callable:
    """``fn`` with ``ctx`` as its first argument, as a listener Gradio can read the type hints of."""
    return types.MethodType(fn, ctx)


@dataclass
class Launch:
    """A run that passed every check: the request, who runs it, who cannot (and why), and what it holds."""

    req: GenerationRequest
    runnable: list[Backend]
    blocked: dict[str, str]  # backend id → why it cannot run
    keys: dict[str, str]
    ticket: Ticket


def take_allowance(
    ctx: Context, request: gr.Request | None, items: list[tuple[Backend, int]], keys: Mapping[str, str], what: str
) -> Ticket:
    """Take the images ``items`` (backend, steps) spend on the server's keys, or raise Refused (logged once)."""
    try:
        return ctx.allowance.take(request, plan_spend(items, keys), what)
    except Refused as refusal:
        log.info("refused %s: %s", what, refusal.message)
        raise
