"""Live visitor sessions, bounded: freed when a tab closes, reaped without a heartbeat, capped in number.

Gradio keeps a closed tab's state for an hour, never expires one that never opened a heartbeat, and
evicts past its capacity without calling our cleanup (so history folders would stay on disk). Here:
- ``demo.unload`` frees the closing tab's Session (files and state) at once;
- the State's ``time_to_live`` reaps any session after SESSION_TTL_S, heartbeat or not;
- at most MAX_SESSIONS live sessions: a new one closes the oldest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr

from config import MAX_SESSIONS, SESSION_TTL_S, SessionLimits
from runs.history import ROOT as HISTORY_ROOT
from runs.session import Session

log = logging.getLogger(__name__)


class LiveSessions:
    """Every visitor's Session, oldest first, at most ``cap``; each reaped after ``ttl_s`` (session_state)."""

    def __init__(self, cap: int = MAX_SESSIONS, ttl_s: int = SESSION_TTL_S) -> None:
        self.cap = cap
        self.ttl_s = ttl_s
        self._live: OrderedDict[int, Session] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_limits(cls, limits: SessionLimits) -> LiveSessions:
        """MAX_SESSIONS and SESSION_TTL_S, as config.load read them."""
        return cls(limits.max_sessions, limits.ttl_s)

    def __len__(self) -> int:
        return len(self._live)

    def new(self) -> Session:
        """A Session for a new tab; past the cap the oldest is closed (its files deleted)."""
        sess = Session()
        with self._lock:
            self._live[id(sess)] = sess
            evicted = [self._live.popitem(last=False)[1] for _ in range(max(0, len(self._live) - self.cap))]
        for old in evicted:
            self._free(old)
        if evicted:
            log.info("closed %d oldest session(s): more than MAX_SESSIONS=%d open", len(evicted), self.cap)
        return sess

    def close(self, sess: Session | None) -> None:
        """Free ``sess`` (a State's delete_callback: tab closed, or its time to live is over)."""
        if sess is None:
            return
        with self._lock:
            self._live.pop(id(sess), None)
        self._free(sess)

    @staticmethod
    def _free(sess: Session) -> None:
        sess.close()
        sess.current = None  # the last run's images
        release_memory()


def release_memory() -> None:
    """Collect, then hand freed heap pages back to the system (glibc keeps them otherwise)."""
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_libc = _load_libc()


def session_state(live: LiveSessions) -> gr.State:
    """The State that holds a visitor's Session: freed by ``live`` when deleted, reaped after ``live.ttl_s``."""
    return gr.State(time_to_live=live.ttl_s, delete_callback=live.close)


def free_on_unload(demo: gr.Blocks) -> None:
    """When a tab closes, delete its state now (our delete_callback frees the Session), not an hour later."""

    def on_unload(request: gr.Request) -> None:
        holder = getattr(demo, "state_holder", None)
        session_hash = getattr(request, "session_hash", None)
        if holder is None or not session_hash:
            return
        holder.delete_state(session_hash)
        with holder.lock:
            holder.session_data.pop(session_hash, None)
            holder.time_last_used.pop(session_hash, None)

    demo.unload(on_unload)


def serve_history(root: Path = HISTORY_ROOT) -> None:
    """Let Gradio serve files under ``root`` where they are (once per process; the list is global)."""
    from gradio.data_classes import _StaticFiles

    root.mkdir(parents=True, exist_ok=True)
    if root.resolve() not in _StaticFiles.all_paths:
        gr.set_static_paths([root])  # appends to a process-wide list
