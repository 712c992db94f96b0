"""Library settings from the environment, read once at start-up."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DIR = APP_DIR / "outputs"  # beside the app, the folder people know from other tools
SPACE_DATA = Path("/data")  # a Space's persistent storage, when it has some


def _number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError as err:
        raise ValueError(f"{name} must be a number, e.g. {default}; got {raw!r}") from err
    if value < 0:
        raise ValueError(f"{name} must be 0 or more; got {raw!r}")
    return value


@dataclass(frozen=True)
class LibraryConfig:
    """Where the library lives (None: off) and, on a public Space, how much each visitor keeps."""

    dir: Path | None = DEFAULT_DIR
    on_space: bool = False
    ttl_days: float = 7  # anonymous visitors' images expire after this
    max_per_visitor: int = 200
    max_bytes: int = 5 * 1024**3

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LibraryConfig:
        """LIBRARY_DIR (default outputs/ beside the app; on a Space /data or a temp folder; "off" turns it off),
        LIBRARY_TTL_DAYS, LIBRARY_MAX_IMAGES_PER_VISITOR and LIBRARY_MAX_GB (the last three only on a Space)."""
        env = os.environ if env is None else env
        on_space = bool(env.get("SPACE_ID"))
        raw = (env.get("LIBRARY_DIR") or "").strip()
        if raw.lower() in ("off", "0", "false", "none"):
            where: Path | None = None
        elif raw:
            where = Path(raw).expanduser()
        elif on_space:
            where = space_dir()
        else:
            where = DEFAULT_DIR
        return cls(
            dir=where,
            on_space=on_space,
            ttl_days=_number(env, "LIBRARY_TTL_DAYS", 7, float),
            max_per_visitor=int(_number(env, "LIBRARY_MAX_IMAGES_PER_VISITOR", 200)),
            max_bytes=int(_number(env, "LIBRARY_MAX_GB", 5, float) * 1024**3),
        )


def space_dir() -> Path:
    """/data/flux-library when the Space has persistent storage, else a temporary folder (lost on restart)."""
    if SPACE_DATA.is_dir() and os.access(SPACE_DATA, os.W_OK):
        return SPACE_DATA / "flux-library"
    return Path(tempfile.gettempdir()) / "flux-library"
