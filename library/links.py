"""Every other name a library file is reachable by: the served links in Gradio's cache and the
session histories' links. Deleting, evicting or expiring an image removes them with it, so a URL a
visitor was shown answers 404 at once instead of living on in a hard link for a day.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from pathlib import Path

PRUNE_AT = 32  # links to one file before those already gone are forgotten


class Links:
    """Links made to library files, by the file they name (thread-safe; forgets what it removed)."""

    def __init__(self) -> None:
        self._by_source: dict[str, set[Path]] = defaultdict(set)
        self._lock = threading.Lock()

    @staticmethod
    def _key(source: Path) -> str:
        return os.path.abspath(source)

    def add(self, source: Path, link: Path) -> None:
        """Remember that ``link`` (a hard link or copy) shows ``source``."""
        with self._lock:
            links = self._by_source[self._key(source)]
            if len(links) >= PRUNE_AT:  # links the cache sweep or a closed session removed
                links.difference_update([p for p in links if not p.exists()])
            links.add(Path(link))

    def revoke(self, source: Path) -> int:
        """Remove every link made to ``source``; how many were still there."""
        with self._lock:
            links = self._by_source.pop(self._key(source), set())
        gone = 0
        for link in links:
            try:
                link.unlink()
                gone += 1
            except OSError:
                pass  # already gone, or not ours to remove: Gradio's cache sweep takes it later
        return gone

    def sources(self) -> list[str]:
        with self._lock:
            return list(self._by_source)


#: The process's one registry: library.store revokes from it; ui.library_access and runs.history add to it.
LINKS = Links()
