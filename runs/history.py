"""A session's bounded image history, kept as PNG files that carry their parameters.

Each image is one file on disk, where Gradio serves it from: ROOT is declared a static path
(``ui.sessions.serve_history``), so Gradio neither hashes nor copies history files when a gallery is
sent (it did, on the event loop, for every file of a 96-image history at every run). When the library
kept the image, the history's entry is a hard link to the library's file, not a second copy; evicting
it removes only the link.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from backends.imaging import EncodedImage, StoredImage
from images.pngmeta import save_png
from library.links import LINKS

log = logging.getLogger(__name__)
HISTORY_LIMIT = 96  # images per session; older ones are deleted from disk too
ROOT = Path(tempfile.gettempdir()) / "flux-playground"


@dataclass(frozen=True)
class HistoryEntry:
    path: Path
    caption: str
    params: dict  # the PNG chunk's fields, plus status for records
    width: int = 0
    height: int = 0

    @property
    def stored(self) -> StoredImage:
        """The image as a session keeps it: where it is and its size, no bytes."""
        return StoredImage(self.path, self.width, self.height)


class History:
    """Newest first, at most ``limit`` entries; evicted images are removed from disk."""

    def __init__(self, limit: int = HISTORY_LIMIT, root: Path = ROOT) -> None:
        self.limit = limit
        self.dir = root / uuid.uuid4().hex
        self.entries: deque[HistoryEntry] = deque()
        self.version = 0  # bumped at every change, so the page sends the gallery only when it changed

    def add(
        self,
        image: EncodedImage | StoredImage | Image.Image,
        caption: str,
        params: dict,
        source: Path | None = None,
    ) -> HistoryEntry:
        """List ``image`` first, as a link to ``source`` (the library's file of it, which carries the same
        chunks) or else written once (checked PNG bytes as they are, see save_png). Blocking."""
        self.dir.mkdir(parents=True, exist_ok=True)
        # A name that says what it is when downloaded: flux-fireworks-seed42-1a2b3c.png
        backend = "".join(ch for ch in str(params.get("backend", "image")) if ch.isalnum())[:20] or "image"
        seed = params.get("seed", 0)
        name = f"flux-{backend}-seed{seed if isinstance(seed, int) else 0}-{uuid.uuid4().hex[:6]}.png"
        path = self.dir / name
        if source is None or not _link(source, path):
            save_png(image, path, params)
        entry = HistoryEntry(path, caption, params, *image.size)
        self.entries.appendleft(entry)
        self.version += 1
        while len(self.entries) > self.limit:
            self.entries.pop().path.unlink(missing_ok=True)
        return entry

    def gallery(self) -> list[tuple[str, str]]:
        return [(str(e.path), e.caption) for e in self.entries]

    def clear(self) -> None:
        self.entries.clear()
        self.version += 1
        shutil.rmtree(self.dir, ignore_errors=True)


def _link(source: Path, path: Path) -> bool:
    """Make ``path`` name ``source``'s file: a hard link, or a copy where none can be made (another
    filesystem, a filesystem without links); False if neither worked (the caller writes the image)."""
    try:
        os.link(source, path)
        LINKS.add(source, path)  # deleting the library's image removes this link too
        return True
    except OSError:
        pass
    try:
        shutil.copyfile(source, path)
        LINKS.add(source, path)
        return True
    except OSError as err:
        log.warning("history: could not link or copy %s: %s", source.name, err)
        path.unlink(missing_ok=True)
        return False
