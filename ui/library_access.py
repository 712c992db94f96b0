"""Whose library a visitor sees, and handing its files to the page without exposing the library folder.

Off a Space everything belongs to the one local user. On a Space (``SPACE_ID`` set) a visitor
signed in with Hugging Face owns "hf:<user>"; an anonymous one owns "anon:<token>", the token
kept in the browser (gr.BrowserState); a script without either owns only its own API session's.
Library files are never served from the library folder: each one handed out is linked (or
copied) into Gradio's cache under a random folder name, so no URL can be guessed.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import threading
from pathlib import Path

import gradio as gr
from gradio import utils as gradio_utils

from library import Library
from library.links import LINKS
from library.store import LOCAL_OWNER
from spend.allowance import signed_in_account
from spend.visitors import gate_visitor

log = logging.getLogger(__name__)

SECRET_FILE = ".visitor-secret"  # in the library folder, beside the rows its tokens open
SERVE_DIR = "flux-library"  # under Gradio's cache folder, swept by Blocks(delete_cache=...)
TOKEN_RE = re.compile(r"[0-9a-f]{32}")
_served: dict[tuple[str, int], Path] = {}
_served_lock = threading.Lock()


def new_token() -> str:
    return secrets.token_hex(16)


def owner_for(library: Library, request: gr.Request | None, token: str | None = None) -> str:
    """The owner whose images this request may see and adds to."""
    if not library.config.on_space:
        return LOCAL_OWNER
    if user := signed_in_account(request):  # APP_AUTH's user, or the Hugging Face account (Gradio's session)
        return f"hf:{user}"
    if token and TOKEN_RE.fullmatch(token):
        return f"anon:{token}"
    if (visitor := gate_visitor(request)) is not None and visitor.scope:  # MCP, or a caller with a token
        return f"anon:{visitor.scope}"
    session = getattr(request, "session_hash", None) or new_token()
    return f"anon:api-{session}"


def served(path: Path) -> str:
    """A copy of a library file that Gradio may serve: a hard link (or copy) under an unguessable name."""
    key = (str(path), path.stat().st_mtime_ns)
    with _served_lock:
        known = _served.get(key)
        if known is not None and known.exists():
            return str(known)
    dest = Path(gradio_utils.get_upload_folder()) / SERVE_DIR / secrets.token_hex(16) / path.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, dest)  # no copy of the bytes where the cache is on the same disk
    except OSError:
        shutil.copyfile(path, dest)
    with _served_lock:
        _served[key] = dest
    LINKS.add(path, dest)  # removed with the library's file (delete, eviction, expiry): its URL goes 404
    return str(dest)


def browser_secret(library: Library) -> str:
    """The key gr.BrowserState encrypts the visitor's token with, kept in the library (under /data on a
    Space) so that a restart does not make every anonymous visitor a stranger to their own images.

    Created once, readable by the app's user only (0600 from the first byte), and atomically: it is
    written under a temporary name and linked into place, so two processes starting at once agree on
    one secret and a crash never leaves half of one.
    """
    path = library.root / SECRET_FILE
    try:
        for _ in range(3):
            try:
                text, damaged = path.read_text().strip(), True  # there: replaced only if too short below
            except FileNotFoundError:
                text, damaged = "", False
            if len(text) >= 32:
                return text
            # Decided from what was read, not a second look: a secret another process linked in since the
            # read is never overwritten (path.exists() here let a late starter replace the first one).
            if _place_secret(path, secrets.token_hex(24), replace=damaged):
                continue  # read back what is there now: ours, or the one another process placed first
    except OSError as err:
        log.warning("library: the visitor secret cannot be kept (%s); tokens last until the restart", err)
    return secrets.token_hex(24)  # a read-only library


def _place_secret(path: Path, secret: str, replace: bool) -> bool:
    """Write ``secret`` beside ``path`` with mode 0600 and move it into place: linked (never over another
    process's secret), or over a damaged one when ``replace``. True when the caller should read again."""
    tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secret)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process was first: its secret is the one
        return True
    finally:
        tmp.unlink(missing_ok=True)
