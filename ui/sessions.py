"""Live visitor sessions, bounded: freed when a tab closes, reaped without a heartbeat, capped in number.

Gradio keeps a closed tab's state for an hour, never expires one that never opened a heartbeat, and
evicts past its capacity without calling our cleanup (so history folders would stay on disk). Here:
- ``demo.unload`` frees the closing tab's Session (files and state) at once;
- the State's ``time_to_live`` reaps any session after SESSION_TTL_S, heartbeat or not;
- at most MAX_SESSIONS live sessions, and MAX_SESSIONS_PER_VISITOR per visitor: at either cap a new session
  closes the visitor's own oldest; a visitor with none open is refused while the app is full, so no visitor
  can ever close another's session;
- at most SESSIONS_PER_MIN new sessions (page loads) a minute per visitor.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from config import MAX_SESSIONS, SESSION_TTL_S, SessionLimits
from runs.history import ROOT as HISTORY_ROOT
from runs.session import Session
from spend.allowance import visitor_of
from spend.ratelimit import RateLimiter

log = logging.getLogger(__name__)


class TooManySessions(Exception):
    """No session was made: the message says why and when to retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LiveSessions:
    """Every visitor's Session, oldest first: at most ``cap`` in all and ``per_visitor`` (0: no own cap) each,
    at most ``per_min`` new ones a minute per visitor (0: off); each reaped after ``ttl_s`` (session_state)."""

    def __init__(
        self,
        cap: int = MAX_SESSIONS,
        ttl_s: int = SESSION_TTL_S,
        per_visitor: int = 0,
        per_min: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cap = cap
        self.ttl_s = ttl_s
        self.per_visitor = per_visitor
        self.loads = RateLimiter(per_min, clock)
        self._live: OrderedDict[int, Session] = OrderedDict()
        self._owner: dict[int, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_limits(cls, limits: SessionLimits) -> LiveSessions:
        """MAX_SESSIONS, SESSION_TTL_S, MAX_SESSIONS_PER_VISITOR and SESSIONS_PER_MIN, as config.load read them."""
        return cls(limits.max_sessions, limits.ttl_s, limits.per_visitor, limits.per_min)

    def __len__(self) -> int:
        return len(self._live)

    def held_by(self, visitor: str) -> int:
        """How many live sessions ``visitor`` holds."""
        with self._lock:
            return sum(1 for who in self._owner.values() if who == visitor)

    def new(self, visitor: str = "") -> Session:
        """A Session for ``visitor``'s new tab; at a cap that visitor's own oldest is closed (its files deleted).
        Raises TooManySessions past the visitor's page loads a minute, or when the app is full of others'."""
        wait = self.loads.take(visitor, 1)
        if wait:
            raise TooManySessions(
                f"Too many page loads: {self.loads.per_minute} a minute per visitor; reload in {math.ceil(wait)} s."
            )
        sess = Session()
        with self._lock:
            mine = [key for key, who in self._owner.items() if who == visitor]  # oldest first
            over_own = self.per_visitor and len(mine) >= self.per_visitor
            if (over_own or len(self._live) >= self.cap) and not mine:
                raise TooManySessions(f"This app is full ({self.cap} open sessions); reload in a few minutes.")
            evicted = []
            if over_own or len(self._live) >= self.cap:
                evicted.append(self._live.pop(mine[0]))
                del self._owner[mine[0]]
            self._live[id(sess)] = sess
            self._owner[id(sess)] = visitor
        for old in evicted:
            self._free(old)
        if evicted:
            log.info("closed a visitor's oldest session: at its cap of %d", self.per_visitor or self.cap)
        return sess

    def close(self, sess: Session | None) -> None:
        """Free ``sess`` (a State's delete_callback: tab closed, or its time to live is over)."""
        if sess is None:
            return
        with self._lock:
            self._live.pop(id(sess), None)
            self._owner.pop(id(sess), None)
        self._free(sess)

    @staticmethod
    def _free(sess: Session) -> None:
        sess.close()
        sess.current = None  # the last run's images
        release_memory()


def visitor_sessions(live: LiveSessions, proxy_hops: int) -> Callable[[gr.Request], Callable[[], Session]]:
    """For a load event: ``(request) -> make``, where make() is the visitor's new Session within its caps, or
    raises gr.Error saying why there is none (one log line, no traceback)."""

    def session_for(request: gr.Request) -> Callable[[], Session]:
        def make() -> Session:
            try:
                return live.new(visitor_of(request, proxy_hops)[0])
            except TooManySessions as err:
                log.info("refused a page load: %s", err.message)
                raise gr.Error(err.message, print_exception=False) from None

        return make

    return session_for


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
