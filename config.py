"""The one settings module: every environment variable the app knows is read here, once, by ``load(env)``.

``load`` returns an AppSettings of typed parts (the backends, the local model, the page's spending rules, the
library, live sessions, the OpenAI images route, launch). Nothing else in the product reads the environment:
app.py calls ``load(os.environ)`` at start-up and hands each part to the code that uses it; tests pass their
own mapping. A bad value raises ValueError naming the variable, the value and what to use instead.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from backends import aiml, fireworks
from backends.cost import FIREWORKS_PRICE_PER_STEP, Pricing
from backends.http import DEADLINE_S, READ_TIMEOUT_S
from backends.local.compile_cache import default_root
from backends.local.settings import DEFAULT_MODEL, LocalSettings
from backends.openai_config import ENV as OPENAI_ENV
from backends.openai_config import parse_endpoints
from backends.registry import Settings
from library.config import DEFAULT_DIR, LibraryConfig, space_dir
from runs.grid.plan import MAX_CELLS
from serving.openai_images import ServeSettings

DEFAULT_SPACE_RATE_LIMIT = 20  # images a minute per visitor, on a public Space
DEFAULT_SPACE_DAILY_IMAGES = 200  # images a day per visitor, on a public Space
SPACE_UPLOADS_PER_MIN = 10  # uploads a minute per visitor, on a public Space
QUEUE_MAX_SIZE = 64  # runs waiting beyond those running; more get "queue is full" instead of waiting for ever
SESSION_TTL_S = 6 * 3600  # a tab open longer than this is asked to reload
MAX_SESSIONS = 2000
SPACE_SESSIONS_PER_MIN = 20  # page loads a minute per visitor, on a public Space
SPACE_SESSIONS_PER_VISITOR = 8  # live sessions per visitor on a public Space (tabs, phones behind one address)
BODY_TIMEOUT_S = 30.0  # a request body still arriving after this is refused (408)
APP_DIR = Path(__file__).resolve().parent

# --- the parsers: one per kind of value, each naming the variable, its value and what to use -------------
_WHOLE = re.compile(r"[0-9]+")
_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _raw(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def whole(env: Mapping[str, str], name: str, default: int, least: int = 0, unit: str = "") -> int:
    """A whole number of ``least`` or more (``unit``: what it counts, for the message); ``default`` when unset."""
    raw = _raw(env, name)
    if not raw:
        return default
    if not _WHOLE.fullmatch(raw) or int(raw) < least:
        what = f"a whole number{' of ' + unit if unit else ''}, {least} or more{' (0 = off)' if least == 0 else ''}"
        raise ValueError(f"{name} must be {what}; got {raw!r}")
    return int(raw)


def _float(raw: str) -> float:
    """``raw`` as a float; NaN (refused by every caller's check) when it is not a number."""
    try:
        return float(raw)
    except ValueError:
        return math.nan


def number(env: Mapping[str, str], name: str, default: float, unit: str) -> float:
    """A finite number, 0 or more, e.g. ``default`` (of ``unit``)."""
    raw = _raw(env, name)
    if not raw:
        return default
    value = _float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of {unit}, 0 or more, e.g. {default:g}; got {raw!r}")
    return value


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds above 0 and under a day."""
    raw = _raw(env, name)
    if not raw:
        return default
    value = _float(raw)
    if not 0 < value < 86400:  # nan fails this too
        raise ValueError(f"{name} must be a number of seconds above 0 (under a day), e.g. {default:g}; got {raw!r}")
    return value


def money(env: Mapping[str, str], name: str, default: float | None, example: str) -> float | None:
    """An amount in USD, 0 or more; ``default`` (None: not set) when unset."""
    raw = _raw(env, name)
    if not raw:
        return default
    value = _float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be an amount in USD, 0 or more, e.g. {example}; got {raw!r}")
    return value


def switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """1/true/yes/on or 0/false/no/off, any case."""
    raw = _raw(env, name).lower()
    if not raw:
        return default
    if raw not in _ON + _OFF:
        raise ValueError(f"{name} must be 1, true or on (or 0, false, off); got {raw!r}")
    return raw in _ON


def mode(env: Mapping[str, str], name: str, default: str) -> str:
    """A word, lower-cased, with the switch words read as on/off (LocalSettings checks the word)."""
    raw = _raw(env, name).lower() or default
    return "on" if raw in _ON else "off" if raw in _OFF else raw


def items(raw: str | None) -> list[str]:
    """A comma-separated list, each entry stripped; [] when unset."""
    return [item.strip() for item in raw.split(",")] if raw and raw.strip() else []


def parse_auth(value: str | None) -> tuple[tuple[str, str], ...] | None:
    """``user:pass`` (or several, comma-separated: APP_AUTH or --auth) → login pairs; None when unset."""
    pairs = []
    for item in items(value):
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise ValueError("APP_AUTH / --auth: use user:password (several separated by commas)")
        pairs.append((user, password))
    return tuple(pairs) or None


# --- the parts -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PageOptions:
    """What visitors may change, and how much they may spend."""

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


@dataclass(frozen=True)
class SessionLimits:
    """Live browser sessions: at most ``max_sessions``, each freed after ``ttl_s`` at the latest."""

    max_sessions: int = MAX_SESSIONS
    ttl_s: int = SESSION_TTL_S
    per_visitor: int = 0  # live sessions per visitor; 0: only max_sessions bounds them
    per_min: int = 0  # new sessions (page loads) a minute per visitor; 0 = off


@dataclass(frozen=True)
class LaunchSettings:
    """How the server is started: address, queue, upload cap and rate, login, MCP."""

    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False  # --share: a public gradio.live link too
    log_requests: bool = False  # --log-requests: httpx's line per upstream call (keys redacted)
    queue_max_size: int = QUEUE_MAX_SIZE
    max_upload_mb: int | None = None  # None: the look's default (ui.theme.MAX_UPLOAD, 10 MB)
    auth: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    uploads_per_min: int = 0  # per visitor; 0 = off
    body_timeout_s: float = BODY_TIMEOUT_S  # a request body must be in by then (408)
    mcp: bool = True  # serve /generate and /grid as MCP tools (--no-mcp turns it off)


@dataclass(frozen=True)
class AppSettings:
    """Everything the app is configured with. Each part's defaults are a local, single-user setup."""

    backends: Settings = field(default_factory=Settings)  # keys, URLs, timeouts, prices, the local model, grid
    page: PageOptions = field(default_factory=PageOptions)  # what visitors may change and spend
    library: LibraryConfig = field(default_factory=LibraryConfig)
    sessions: SessionLimits = field(default_factory=SessionLimits)
    serving: ServeSettings = field(default_factory=ServeSettings)  # the OpenAI images route serving Local
    launch: LaunchSettings = field(default_factory=LaunchSettings)
    zerogpu: bool = False  # SPACES_ZERO_GPU: a Hugging Face ZeroGPU Space


def load(env: Mapping[str, str]) -> AppSettings:
    """Every setting from ``env`` (os.environ in app.py). SPACE_ID marks a public Space: shared settings
    read-only, rate limits and persistent storage under /data, unless the operator says otherwise."""
    on_space = bool(env.get("SPACE_ID"))
    page = page_options(env, on_space)
    return AppSettings(
        backends=backend_settings(env),
        page=page,
        library=library_config(env, on_space),
        sessions=SessionLimits(
            max_sessions=whole(env, "MAX_SESSIONS", MAX_SESSIONS, least=1),
            ttl_s=whole(env, "SESSION_TTL_S", SESSION_TTL_S, least=1, unit="seconds"),
            per_visitor=whole(
                env, "MAX_SESSIONS_PER_VISITOR", SPACE_SESSIONS_PER_VISITOR if on_space else 0, unit="sessions"
            ),
            per_min=whole(env, "SESSIONS_PER_MIN", SPACE_SESSIONS_PER_MIN if on_space else 0, unit="page loads"),
        ),
        serving=serve_settings(env, on_space),
        launch=LaunchSettings(
            host=env.get("GRADIO_SERVER_NAME") or "127.0.0.1",
            port=whole(env, "GRADIO_SERVER_PORT", 7860, least=1),
            queue_max_size=whole(env, "QUEUE_MAX_SIZE", QUEUE_MAX_SIZE, least=1, unit="waiting runs"),
            max_upload_mb=whole(env, "MAX_UPLOAD_MB", 0, least=1, unit="megabytes") or None,
            auth=parse_auth(env.get("APP_AUTH")),
            uploads_per_min=whole(
                env, "UPLOADS_PER_MIN", SPACE_UPLOADS_PER_MIN if on_space else 0, unit="uploads a minute"
            ),
            body_timeout_s=seconds(env, "BODY_TIMEOUT_S", BODY_TIMEOUT_S),
        ),
        zerogpu=bool(env.get("SPACES_ZERO_GPU")),
    )


def page_options(env: Mapping[str, str], on_space: bool) -> PageOptions:
    """The page's rules: a Space gets a rate limit, daily images and proxy hops by default."""
    limit = whole(env, "RATE_LIMIT_PER_MIN", DEFAULT_SPACE_RATE_LIMIT if on_space else 0)
    signed_in = whole(env, "RATE_LIMIT_PER_MIN_SIGNED_IN", limit) if _raw(env, "RATE_LIMIT_PER_MIN_SIGNED_IN") else None
    return PageOptions(
        local_settings_editable=switch(env, "ALLOW_LOCAL_SETTINGS", False) or not on_space,
        rate_limit_per_min=limit,
        behind_proxy=on_space,
        proxy_hops=whole(env, "TRUSTED_PROXY_HOPS", 1 if on_space else 0),
        rate_limit_signed_in=signed_in,
        visitor_daily_images=whole(env, "VISITOR_DAILY_IMAGES", DEFAULT_SPACE_DAILY_IMAGES if on_space else 0),
        daily_budget_usd=money(env, "DAILY_BUDGET_USD", None, "5"),
        ledger_path=default_ledger_path(env),
        # Only where the Space really has OAuth (hf_oauth: true sets OAUTH_CLIENT_ID): elsewhere Gradio's
        # button falls back to a local token and stops the app when there is none.
        sign_in=on_space and bool(env.get("OAUTH_CLIENT_ID")) and importlib.util.find_spec("authlib") is not None,
    )


def default_ledger_path(env: Mapping[str, str]) -> str:
    """SPEND_LEDGER_PATH, else /data (a Space's persistent storage) when mounted, else data/ beside the app."""
    if raw := _raw(env, "SPEND_LEDGER_PATH"):
        return raw
    if env.get("SPACE_ID") and Path("/data").is_dir():
        return "/data/flux-playground/spend.sqlite3"
    return str(APP_DIR / "data" / "spend.sqlite3")


def backend_settings(env: Mapping[str, str]) -> Settings:
    """Keys, base URLs, HTTP timeouts, prices, the local model, the grid limit, OPENAI_IMAGE_BACKENDS."""
    endpoints = parse_endpoints(env.get(OPENAI_ENV))
    prices = {ep.id: ep.price_per_image for ep in endpoints if ep.price_per_image is not None}
    pricing = Pricing(
        fireworks_per_step=money(env, "FIREWORKS_PRICE_PER_STEP", FIREWORKS_PRICE_PER_STEP, "0.00035"),
        aiml_per_image=money(env, "AIML_PRICE_PER_IMAGE", None, "0.003"),
    )
    return Settings(
        fireworks_api_key=env.get("FIREWORKS_API_KEY") or None,
        aiml_api_key=env.get("AIML_API_KEY") or None,
        fireworks_base_url=env.get("FIREWORKS_BASE_URL") or fireworks.DEFAULT_BASE_URL,
        aiml_base_url=env.get("AIML_BASE_URL") or aiml.DEFAULT_BASE_URL,
        http_read_timeout_s=seconds(env, "HTTP_READ_TIMEOUT_S", READ_TIMEOUT_S),
        http_deadline_s=seconds(env, "HTTP_DEADLINE_S", DEADLINE_S),
        aiml_safety_checker=switch(env, "AIML_SAFETY_CHECKER", True),
        local=local_settings(env),
        pricing=dataclasses.replace(pricing, per_image=prices),
        grid_max_cells=whole(env, "GRID_MAX_CELLS", MAX_CELLS, unit="cells"),
        openai_endpoints=endpoints,
        openai_keys={ep.id: env[ep.key_env] for ep in endpoints if ep.key_env and env.get(ep.key_env)},
    )


def local_settings(env: Mapping[str, str]) -> LocalSettings:
    """FLUX_*: how the local pipeline is loaded (LocalSettings checks each word)."""
    cache = env.get("FLUX_COMPILE_CACHE") or ""
    if not cache and env.get("XDG_CACHE_HOME"):  # the default folder, under the user's cache home
        cache = str(default_root(env["XDG_CACHE_HOME"]))
    return LocalSettings(
        model=env.get("FLUX_MODEL") or DEFAULT_MODEL,
        precision=(env.get("FLUX_PRECISION") or "fp8").lower(),
        offload=(env.get("FLUX_OFFLOAD") or "auto").lower(),
        compile=mode(env, "FLUX_COMPILE", "auto"),
        device=(env.get("FLUX_DEVICE") or "auto").lower(),
        fp8_matmul=mode(env, "FLUX_FP8_MATMUL", "auto"),
        compile_cache=cache,
    )


def library_config(env: Mapping[str, str], on_space: bool) -> LibraryConfig:
    """LIBRARY_DIR (default outputs/ beside the app; on a Space /data or a temp folder; "off" turns it off),
    LIBRARY_TTL_DAYS, LIBRARY_MAX_IMAGES_PER_VISITOR and LIBRARY_MAX_GB (the last three only on a Space)."""
    raw = _raw(env, "LIBRARY_DIR")
    if raw.lower() in ("off", "0", "false", "none"):
        where: Path | None = None
    elif raw:
        where = Path(raw).expanduser()
    else:
        where = space_dir() if on_space else DEFAULT_DIR
    return LibraryConfig(
        dir=where,
        on_space=on_space,
        ttl_days=number(env, "LIBRARY_TTL_DAYS", 7, "days"),
        max_per_visitor=whole(env, "LIBRARY_MAX_IMAGES_PER_VISITOR", 200, unit="images"),
        max_bytes=int(number(env, "LIBRARY_MAX_GB", 5, "GB") * 1024**3),
    )


def serve_settings(env: Mapping[str, str], on_space: bool) -> ServeSettings:
    """OPENAI_SERVE_KEY: off unless set, refused on a Space unless ALLOW_OPENAI_SERVE=1, 16 characters or more."""
    key = _raw(env, "OPENAI_SERVE_KEY") or None
    if key and on_space and not switch(env, "ALLOW_OPENAI_SERVE", False):
        raise ValueError(
            "OPENAI_SERVE_KEY is set on a Space (SPACE_ID): serving its GPU to API clients is off there; "
            "unset it, or set ALLOW_OPENAI_SERVE=1 to serve anyway"
        )
    if key and len(key) < 16:
        raise ValueError("OPENAI_SERVE_KEY is shorter than 16 characters; use a long random key")
    return ServeSettings(key=key)
