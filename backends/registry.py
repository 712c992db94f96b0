"""The backends' settings (read from the environment by config.load), and the one place that builds the backends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from backends import aiml, fireworks
from backends.cost import Pricing
from backends.http import DEADLINE_S, READ_TIMEOUT_S
from backends.local import LocalBackend, LocalSettings
from backends.openai_backend import OpenAICompatBackend
from backends.openai_config import OpenAIEndpoint
from backends.types import Backend
from runs.grid.plan import MAX_CELLS


@dataclass(frozen=True)
class Settings:
    """Keys, base URLs, HTTP timeouts, prices, the local model, the grid limit and OpenAI endpoints (config.load)."""

    fireworks_api_key: str | None = field(default=None, repr=False)  # never in a repr, log or traceback
    aiml_api_key: str | None = field(default=None, repr=False)
    fireworks_base_url: str = fireworks.DEFAULT_BASE_URL
    aiml_base_url: str = aiml.DEFAULT_BASE_URL
    http_read_timeout_s: float = READ_TIMEOUT_S
    http_deadline_s: float = DEADLINE_S  # the whole call for one image, retries and download included
    aiml_safety_checker: bool = True
    local: LocalSettings = field(default_factory=LocalSettings)
    pricing: Pricing = field(default_factory=Pricing)
    grid_max_cells: int = MAX_CELLS
    #: OPENAI_IMAGE_BACKENDS: one backend per entry, after the built-in ones; and their keys, by id.
    openai_endpoints: tuple[OpenAIEndpoint, ...] = ()
    openai_keys: Mapping[str, str] = field(default_factory=dict, repr=False)

    def secrets(self) -> list[str]:
        """Values that must never be shown anywhere."""
        return [k for k in (self.fireworks_api_key, self.aiml_api_key, *self.openai_keys.values()) if k]


# One line per backend, in the order the UI shows them.
FACTORIES: dict[str, Callable[[Settings, httpx.AsyncClient], Backend]] = {
    "local": lambda s, client: LocalBackend(s.local),
    "fireworks": lambda s, client: fireworks.FireworksBackend(
        client, s.fireworks_base_url, s.fireworks_api_key, deadline_s=s.http_deadline_s
    ),
    "aiml": lambda s, client: aiml.AimlBackend(
        client, s.aiml_base_url, s.aiml_api_key, deadline_s=s.http_deadline_s, safety_checker=s.aiml_safety_checker
    ),
}


def build_backends(settings: Settings, client: httpx.AsyncClient) -> dict[str, Backend]:
    """Every backend, keyed by id: the built-in ones, then one per OPENAI_IMAGE_BACKENDS entry.

    Hosted ones share ``client``.
    """
    backends = {backend_id: make(settings, client) for backend_id, make in FACTORIES.items()}
    for ep in settings.openai_endpoints:
        key = settings.openai_keys.get(ep.id)
        backends[ep.id] = OpenAICompatBackend(ep, client, key, deadline_s=settings.http_deadline_s)
    return backends
