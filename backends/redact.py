"""Keys never leave in any shape: whole, cut, in another case, or inside base64.

Upstream text is redacted BEFORE it is cut, wherever it goes (errors, notes, logs). The keys known
here are the server's (``register``) and the one a call is using (``using``, a context variable,
so a pasted key is covered inside that call's tasks and threads). Besides the whole key, every
run of ``WINDOW`` or more of its characters is removed, case-insensitively, so a key cut anywhere
(by us or by the upstream) leaves at most a few characters; so are its base64 forms (standard and
URL-safe, at each of the three byte offsets a key can have inside a longer base64 blob), its base32
forms (five offsets), hex, percent-encoded forms, and the key split by HTML markup.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import logging
import re
import urllib.parse
from collections.abc import Iterable, Iterator

MASK = "•••"
MIN_SECRET = 4  # shorter values (e.g. "" or "abc") are not secrets we can find safely
WINDOW = 8  # runs of this many of a key's characters are removed
B64_WINDOW = 12  # and of its base64 forms

_server: set[str] = set()
_in_use: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("flux_keys_in_use", default=())


def register(*secrets: str | None) -> None:
    """The server's keys: redacted everywhere, in every log line, from now on."""
    _server.update(s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET)


@contextlib.contextmanager
def using(*secrets: str | None) -> Iterator[None]:
    """Within this block (and tasks/threads started from it), also redact ``secrets``."""
    token = _in_use.set(tuple(s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET))
    try:
        yield
    finally:
        _in_use.reset(token)


def known() -> tuple[str, ...]:
    return (*_server, *_in_use.get())


def base64_forms(secret: str) -> set[str]:
    """The base64 characters fixed by ``secret`` alone, at byte offsets 0, 1 and 2, standard and URL-safe."""
    raw, forms = secret.encode("utf-8"), set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        start, end = (offset * 8 + 5) // 6, (offset + len(raw)) * 8 // 6
        core = encoded[start:end]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return {f for f in forms if len(f) >= MIN_SECRET}


def base32_forms(secret: str) -> set[str]:
    """The base32 characters fixed by ``secret`` alone, at each of the five byte offsets inside a longer blob."""
    raw, forms = secret.encode("utf-8"), set()
    for offset in range(5):
        encoded = base64.b32encode(b"\0" * offset + raw).decode("ascii")
        forms.add(encoded[(offset * 8 + 4) // 5 : (offset + len(raw)) * 8 // 5])
    return {f for f in forms if len(f) >= MIN_SECRET}


def other_forms(secret: str) -> set[str]:
    """Hex (either case: matching ignores case) and percent-encoded forms (%2B, %2F, and + for space)."""
    raw = secret.encode("utf-8")
    return {raw.hex(), urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret), urllib.parse.quote_plus(secret)}


def _windows(text: str, size: int) -> set[str]:
    if len(text) <= size:
        return {text}
    return {text[i : i + size] for i in range(len(text) - size + 1)}


@functools.lru_cache(maxsize=64)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    parts: set[str] = set()
    for secret in secrets:
        parts |= _windows(secret, WINDOW)
        for form in base64_forms(secret) | base32_forms(secret):
            parts |= _windows(form, B64_WINDOW)
        parts |= _windows(secret.encode("utf-8").hex(), 2 * WINDOW)  # a hex pair per byte
        for form in other_forms(secret) - {secret}:
            parts |= _windows(form, WINDOW + 4)  # room for a %XX or two
    if not parts:
        return None
    # A lookahead finds every start, overlapping ones included; the spans are merged below.
    alternatives = "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
    return re.compile(f"(?=({alternatives}))", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the known keys and ``secrets``, in any of the shapes above."""
    wanted = frozenset(s.strip() for s in (*known(), *secrets) if s and len(s.strip()) >= MIN_SECRET)
    if not wanted or not text:
        return text
    pattern = _pattern(wanted)
    if pattern is None:
        return text
    found = [(m.start(1), m.end(1)) for m in pattern.finditer(text)]
    if "<" in text:  # an HTML error page may split a key with markup: fw-Pas<b>ted</b>-5c1e…
        found += _through_markup(pattern, text)
    spans: list[list[int]] = []
    for start, end in sorted(found):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    if not spans:
        return text
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], MASK]
        last = end
    out.append(text[last:])
    return "".join(out)


_TAG = re.compile(r"<[^<>]{0,200}>")


def _through_markup(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Matches in ``text`` read without its tags, as spans of ``text`` (the tags between included)."""
    kept: list[int] = []  # position in text of each character kept
    last = 0
    for tag in _TAG.finditer(text):
        kept += range(last, tag.start())
        last = tag.end()
    kept += range(last, len(text))
    if len(kept) == len(text):
        return []
    plain = "".join(text[i] for i in kept)
    return [(kept[m.start(1)], kept[m.end(1) - 1] + 1) for m in pattern.finditer(plain) if m.end(1) > m.start(1)]


def shown(value: object, limit: int) -> str:
    """``repr``-free text for a message: redacted first, then cut to ``limit`` characters ("..." if cut)."""
    text = scrub(value if isinstance(value, str) else repr(value))
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


class RedactingFilter(logging.Filter):
    """Redacts every log record (message and arguments, tracebacks included) before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not known():
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = scrub(message), ()
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (default: the root logger), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
