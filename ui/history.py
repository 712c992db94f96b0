"""A session's bounded image history, kept as PNG files that carry their parameters."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ui.pngmeta import save_png

HISTORY_LIMIT = 96  # images per session; older ones are deleted from disk too
ROOT = Path(tempfile.gettempdir()) / "flux-playground"


@dataclass(frozen=True)
class HistoryEntry:
    path: Path
    caption: str
    params: dict  # the PNG chunk's fields, plus status for records


class History:
    """Newest first, at most ``limit`` entries; evicted images are removed from disk."""

    def __init__(self, limit: int = HISTORY_LIMIT, root: Path = ROOT) -> None:
        self.limit = limit
        self.dir = root / uuid.uuid4().hex
        self.entries: deque[HistoryEntry] = deque()

    def add(self, image: Image.Image, caption: str, params: dict, encoded: bytes | None = None) -> HistoryEntry:
        """Save ``image`` (as the upstream's own PNG bytes where there are some, see save_png) and list it first."""
        self.dir.mkdir(parents=True, exist_ok=True)
        # A name that says what it is when downloaded: flux-fireworks-seed42-1a2b3c.png
        backend = "".join(ch for ch in str(params.get("backend", "image")) if ch.isalnum())[:20] or "image"
        seed = params.get("seed", 0)
        name = f"flux-{backend}-seed{seed if isinstance(seed, int) else 0}-{uuid.uuid4().hex[:6]}.png"
        path = save_png(image, self.dir / name, params, encoded=encoded)
        entry = HistoryEntry(path, caption, params)
        self.entries.appendleft(entry)
        while len(self.entries) > self.limit:
            self.entries.pop().path.unlink(missing_ok=True)
        return entry

    def gallery(self) -> list[tuple[str, str]]:
        return [(str(e.path), e.caption) for e in self.entries]

    def clear(self) -> None:
        self.entries.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
