"""Page options an operator sets in the environment: what visitors may change, and how much they may spend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_SPACE_RATE_LIMIT = 20  # images a minute per visitor, on a public Space


@dataclass(frozen=True)
class PageOptions:
    local_settings_editable: bool = True  # precision/offload of the shared local model
    rate_limit_per_min: int = 0  # images on the server's keys, per client a minute; 0 = off
    behind_proxy: bool = False  # on Spaces the client address comes from X-Forwarded-For

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PageOptions:
        """SPACE_ID marks a public Space: shared settings read-only and a rate limit, unless the operator says so."""
        env = os.environ if env is None else env
        on_space = bool(env.get("SPACE_ID"))
        raw = (env.get("RATE_LIMIT_PER_MIN") or "").strip()
        if raw:
            try:
                limit = int(raw)
            except ValueError:
                raise ValueError(f"RATE_LIMIT_PER_MIN must be a whole number (0 = off), got {raw!r}") from None
            if limit < 0:
                raise ValueError(f"RATE_LIMIT_PER_MIN must be 0 (off) or more, got {limit}")
        else:
            limit = DEFAULT_SPACE_RATE_LIMIT if on_space else 0
        allow_local = env.get("ALLOW_LOCAL_SETTINGS", "").strip() == "1"
        return cls(local_settings_editable=allow_local or not on_space, rate_limit_per_min=limit, behind_proxy=on_space)
