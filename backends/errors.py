"""Typed backend failures.

Backends raise these; only the UI turns them into words for people, so each carries
the facts a message needs (which backend, the HTTP status, the API's own message)
and nothing secret.
"""

from __future__ import annotations

import re

from backends.redact import scrub

#: Upstream text is cut to this many characters where an error is made, so pages, records,
#: logs and exports all get the short form (a hostile API once sent a 5 MB message).
MAX_DETAIL_CHARS = 300
#: Longest key we expect; a cut never leaves the first part of a token this long behind.
MAX_SECRET_CHARS = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def cut_text(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """``text`` on one line and at most about ``limit`` characters, ending "…" if cut.

    The cut never ends inside a word: a key echoed across the cut would otherwise leave its
    first part behind, which redaction (matching whole keys, in the UI) could not find. So a
    partial last word is dropped, and if there is no space in the last ``MAX_SECRET_CHARS``
    characters those are dropped too.
    """
    text = _CONTROL.sub(" ", str(text))
    if len(text) <= limit:
        return text.strip()
    head = text[:limit]
    if not text[limit].isspace():
        tail_start = head.rfind(" ")
        if tail_start >= limit - MAX_SECRET_CHARS:
            head = head[:tail_start]
        else:
            head = head[: max(0, limit - MAX_SECRET_CHARS)]
    return head.rstrip() + " …"


class BackendError(Exception):
    """Base class: something went wrong producing an image on one backend."""

    #: Short machine-readable kind, used in JSON records.
    kind = "error"

    def __init__(self, detail: str = "", *, status: int | None = None, sticky: bool = False) -> None:
        detail = cut_text(scrub(str(detail)))  # redacted before it is cut, so no part of a key stays
        super().__init__(detail)
        self.detail = detail
        self.status = status
        #: For the local backend's load errors: don't retry the (expensive) load until settings change.
        self.sticky = sticky


class MissingKey(BackendError):
    """No API key is configured for a hosted backend."""

    kind = "missing_key"


class RejectedKey(BackendError):
    """The API refused the key or the account (401, 402, 403, 412)."""

    kind = "rejected_key"


class BadRequest(BackendError):
    """The API rejected the request itself (other 4xx); carries the API's own message."""

    kind = "bad_request"


class RateLimited(BackendError):
    """429 after the retries ran out."""

    kind = "rate_limited"


class Timeout(BackendError):
    """No answer in time, after the retries ran out, or the whole call passed HTTP_DEADLINE_S."""

    kind = "timeout"


class UpstreamError(BackendError):
    """5xx, connection failure or an unreadable reply, after the retries ran out."""

    kind = "upstream"


class TooLarge(UpstreamError):
    """A reply (image or JSON) over the size cap; reading stopped at the cap. Not retried."""

    kind = "too_large"


class Busy(UpstreamError):
    """This server already holds its global bound of reply bytes in flight; reading stopped. Not retried
    (the request was sent), but trying again in a moment can succeed."""

    kind = "busy"


class ContentFiltered(BackendError):
    """The provider's safety check withheld the image. Never retried."""

    kind = "filtered"


class NotAnImage(BackendError):
    """The reply claimed to carry an image but the bytes are not one."""

    kind = "not_an_image"


class RefusedUrl(NotAnImage):
    """An image URL we will not fetch: not https off the API's origin, or not a public address."""

    kind = "refused_url"


class OutOfMemory(BackendError):
    """The GPU ran out of memory; memory has been released again."""

    kind = "out_of_memory"


class Unavailable(BackendError):
    """The backend cannot run here at all (no GPU, no model, missing package)."""

    kind = "unavailable"


class Cancelled(BackendError):
    """The user cancelled the run."""

    kind = "cancelled"
