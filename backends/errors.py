"""Typed backend failures.

Backends raise these; only the UI turns them into words for people, so each carries
the facts a message needs (which backend, the HTTP status, the API's own message)
and nothing secret.
"""

from __future__ import annotations


class BackendError(Exception):
    """Base class: something went wrong producing an image on one backend."""

    #: Short machine-readable kind, used in JSON records.
    kind = "error"
    #: Whether retrying the same request later could succeed.
    retryable = False

    def __init__(self, detail: str = "", *, status: int | None = None, sticky: bool = False) -> None:
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
    retryable = True


class Timeout(BackendError):
    """No answer in time, after the retries ran out."""

    kind = "timeout"
    retryable = True


class UpstreamError(BackendError):
    """5xx, connection failure or an unreadable reply, after the retries ran out."""

    kind = "upstream"
    retryable = True


class ContentFiltered(BackendError):
    """The provider's safety check withheld the image. Never retried."""

    kind = "filtered"


class NotAnImage(BackendError):
    """The reply claimed to carry an image but the bytes are not one."""

    kind = "not_an_image"


class OutOfMemory(BackendError):
    """The GPU ran out of memory; memory has been released again."""

    kind = "out_of_memory"


class Unavailable(BackendError):
    """The backend cannot run here at all (no GPU, no model, missing package)."""

    kind = "unavailable"


class Cancelled(BackendError):
    """The user cancelled the run."""

    kind = "cancelled"
