"""Library settings: LIBRARY_* from the environment, read once at start-up by config.load."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DIR = APP_DIR / "outputs"  # beside the app, the folder people know from other tools
SPACE_DATA = Path("/data")  # a Space's persistent storage, when it has some


@dataclass(frozen=True)
class LibraryConfig:
    """Where the library lives (None: off) and, on a public Space, how much each visitor keeps."""

    dir: Path | None = DEFAULT_DIR
    on_space: bool = False
    ttl_days: float = 7  # anonymous visitors' images expire after this
    max_per_visitor: int = 200
    max_bytes: int = 5 * 1024**3


def space_dir() -> Path:
    """/data/flux-library when the Space has persistent storage, else a temporary folder (lost on restart)."""
    if SPACE_DATA.is_dir() and os.access(SPACE_DATA, os.W_OK):
        return SPACE_DATA / "flux-library"
    return Path(tempfile.gettempdir()) / "flux-library"
