"""Page options an operator sets in the environment: what visitors may change, and how much they may spend."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SPACE_RATE_LIMIT = 20  # images a minute per visitor, on a public Space
DEFAULT_SPACE_DAILY_IMAGES = 200  # images a day per visitor, on a public Space
APP_DIR = Path(__file__).resolve().parent


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number, 0 or more (0 = off), got {raw!r}")
    return int(raw)


def _budget(env: Mapping[str, str]) -> float | None:
    raw = (env.get("DAILY_BUDGET_USD") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"DAILY_BUDGET_USD must be an amount in USD, 0 or more, e.g. 5; got {raw!r}")
    return value


def default_ledger_path(env: Mapping[str, str]) -> str:
    """SPEND_LEDGER_PATH, else /data (a Space's persistent storage) when mounted, else data/ beside the app."""
    if raw := (env.get("SPEND_LEDGER_PATH") or "").strip():
        return raw
    if env.get("SPACE_ID") and Path("/data").is_dir():
        return "/data/flux-playground/spend.sqlite3"
    return str(APP_DIR / "data" / "spend.sqlite3")


@dataclass(frozen=True)
class PageOptions:
    local_settings_editable: bool = True  # precision/offload of the shared local model
    rate_limit_per_min: int = 0  # images on the server's keys, per client a minute; 0 = off
    behind_proxy: bool = False  # on Spaces the client address comes from X-Forwarded-For
    proxy_hops: int | None = None  # X-Forwarded-For entries from the right; None: 1 behind a proxy, else 0
    rate_limit_signed_in: int | None = None  # for visitors signed in with Hugging Face; None: as rate_limit_per_min
    visitor_daily_images: int = 0  # images on the server's keys per visitor a UTC day; 0 = off
    daily_budget_usd: float | None = None  # estimated USD on the server's keys a UTC day, all visitors; None = off
    ledger_path: str = ""  # the SQLite file that keeps today's spend across restarts
    sign_in: bool = False  # show "Sign in with Hugging Face" (a Space with hf_oauth and gradio[oauth])

    @property
    def trusted_proxy_hops(self) -> int:
        return self.proxy_hops if self.proxy_hops is not None else int(self.behind_proxy)

    @property
    def signed_in_limit(self) -> int:
        return self.rate_limit_per_min if self.rate_limit_signed_in is None else self.rate_limit_signed_in

    @property
    def needs_ledger(self) -> bool:
        return self.daily_budget_usd is not None or self.visitor_daily_images > 0

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
        signed_raw = (env.get("RATE_LIMIT_PER_MIN_SIGNED_IN") or "").strip()
        return cls(
            local_settings_editable=allow_local or not on_space,
            rate_limit_per_min=limit,
            behind_proxy=on_space,
            proxy_hops=_whole(env, "TRUSTED_PROXY_HOPS", 1 if on_space else 0),
            rate_limit_signed_in=_whole(env, "RATE_LIMIT_PER_MIN_SIGNED_IN", limit) if signed_raw else None,
            visitor_daily_images=_whole(env, "VISITOR_DAILY_IMAGES", DEFAULT_SPACE_DAILY_IMAGES if on_space else 0),
            daily_budget_usd=_budget(env),
            ledger_path=default_ledger_path(env),
            # Only where the Space really has OAuth (hf_oauth: true sets OAUTH_CLIENT_ID): elsewhere Gradio's
            # button falls back to a local token and stops the app when there is none.
            sign_in=on_space and bool(env.get("OAUTH_CLIENT_ID")) and importlib.util.find_spec("authlib") is not None,
        )
