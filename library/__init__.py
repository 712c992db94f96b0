"""The library: every image made, kept on disk with a SQLite index. Knows nothing of Gradio or HTTP."""

from library.config import LibraryConfig
from library.store import ImageRow, Library, OpenReport, RunRow

__all__ = ["ImageRow", "Library", "LibraryConfig", "OpenReport", "RunRow"]
