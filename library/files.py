"""The library's files: crash-safe writes, names, dated folders and thumbnails."""

from __future__ import annotations

import io
import os
import secrets
from datetime import datetime
from pathlib import Path

from PIL import Image

THUMB_SIDE = 256  # px, the long side: a phone scrolls 48 of these, not 48 PNGs of 2 MB
THUMB_SUFFIX = ".webp"
TMP_MARK = ".tmp-"


def image_name(backend: str, seed: int, when: datetime) -> str:
    """The download's name, plus a random part that makes it unguessable: flux-fireworks-seed42-…png."""
    safe = "".join(ch for ch in backend if ch.isalnum())[:20] or "image"
    return f"flux-{safe}-seed{int(seed)}-{when:%H%M%S}-{secrets.token_hex(8)}.png"


def dated_folder(root: Path, when: datetime) -> Path:
    return root / f"{when:%Y-%m-%d}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write under a temporary name, fsync, then rename: a crash leaves the old state or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename itself is durable only once the folder is synced (POSIX; not possible on Windows).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def thumb_path(path: Path) -> Path:
    return path.with_suffix(THUMB_SUFFIX)


def make_thumb(path: Path) -> Path | None:
    """The WebP thumbnail beside ``path``, made once; None if the image cannot be read or written."""
    out = thumb_path(path)
    if out.exists():
        return out
    try:
        with Image.open(path) as img:
            img.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
            img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="WEBP", quality=80, method=2)
        write_atomic(out, buf.getvalue())
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return out


def png_params(path: Path) -> dict | None:
    """Our JSON chunk of a library PNG (read without decoding pixels), to adopt a file that has no row."""
    import json

    try:
        with Image.open(path) as img:
            raw = img.info.get("flux-playground")
        data = json.loads(raw) if isinstance(raw, str) else None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return data if isinstance(data, dict) else None
