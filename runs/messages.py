"""Typed backend errors → one-line messages that name the backend and the fix."""

from __future__ import annotations

import re
from collections.abc import Iterable

from backends import errors as e
from backends.redact import scrub


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Remove any key that an upstream message might echo back, in any case, cut or base64 (backends.redact)."""
    return scrub(text, secrets)


ENV_NAME = re.compile(r"(?<![`\w])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![`\w])")


def code_names(text: str) -> str:
    """Environment variable names (`FIREWORKS_API_KEY`) in code font, for Markdown: they are to be typed."""
    return ENV_NAME.sub(r"`\1`", text)


def error_message(label: str, key_env: str | None, err: e.BackendError) -> str:
    """What to tell a person about ``err`` on backend ``label``."""
    detail = err.detail
    status = f"HTTP {err.status}: " if err.status else ""
    key_hint = f"check {key_env} or the key pasted under 'API keys'" if key_env else ""
    match err:
        case e.MissingKey():
            return f"{label}: no API key. Set {key_env} or paste a key under 'API keys'."
        case e.RejectedKey():
            return f"{label} refused the key or account ({status}{detail}). Fix: {key_hint}, or the account's billing."
        case e.BadRequest():
            return f"{label} rejected the request ({status}{detail}). Fix: change the setting it names."
        case e.RateLimited():
            return f"{label} is rate limiting this key ({status}{detail}). Fix: wait a minute, or use fewer images."
        case e.Timeout():
            return (
                f"{label} did not answer in time ({detail}). "
                "Fix: try again; raise HTTP_READ_TIMEOUT_S or HTTP_DEADLINE_S if it persists."
            )
        case e.ContentFiltered():
            return f"{label}: the image was withheld by its safety filter. Fix: rephrase the prompt."
        case e.NotAnImage():
            return (
                f"{label} sent something that is not an image ({detail}). Fix: try again; check the base URL setting."
            )
        case e.OutOfMemory():
            return f"{label}: out of GPU memory — {detail}."
        case e.Unavailable():
            return f"{label} is unavailable: {detail}."
        case e.Cancelled():
            return f"{label}: cancelled."
        case e.UpstreamError():
            return f"{label} failed upstream ({status}{detail}). Fix: try again shortly; check the service's status."
    return f"{label}: {detail}"
