"""The shared HTTP client and the one retry policy every hosted backend uses."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from backends.errors import BackendError, BadRequest, RateLimited, RejectedKey, Timeout, UpstreamError

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # schnell takes ~1 s, but queues upstream can take much longer
WRITE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 30.0


# Failures before the request reached the server: safe to retry.
RETRYABLE_CONNECTION_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def make_client(read_timeout_s: float = READ_TIMEOUT_S) -> httpx.AsyncClient:
    """The one AsyncClient the hosted backends share, with explicit timeouts and no redirects."""
    timeout = httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=read_timeout_s, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_retries`` retries, exponential backoff with jitter, ``Retry-After`` honoured up to a cap."""

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 10.0


def is_retryable_status(status: int) -> bool:
    """408, 429 and 5xx may succeed later; every other 4xx will not."""
    return status in (408, 429) or status >= 500


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_s(attempt: int, policy: RetryPolicy, retry_after: float | None) -> float:
    """Delay before retry number ``attempt`` (0-based)."""
    if retry_after is not None:
        return min(retry_after, policy.max_delay_s)
    delay = policy.base_delay_s * 2**attempt
    return min(delay * (0.75 + random.random() / 2), policy.max_delay_s)


def api_message(response: httpx.Response) -> str:
    """The API's own error message, whichever of the known body shapes it uses."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        for key in ("message", "error_message", "detail"):
            if body.get(key):
                return str(body[key])[:300]
        fault = body.get("fault")
        if isinstance(fault, dict) and fault.get("faultstring"):
            return str(fault["faultstring"])
    return str(body)[:300]


def error_for_status(response: httpx.Response) -> BackendError:
    """The typed error for a non-2xx reply."""
    status = response.status_code
    message = api_message(response) or response.reason_phrase
    if status in (401, 402, 403, 412):
        return RejectedKey(message, status=status)
    if status == 429:
        return RateLimited(message, status=status)
    if status in (408, 504):
        return Timeout(message, status=status)
    if status >= 500:
        return UpstreamError(message, status=status)
    return BadRequest(message, status=status)


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    accept_redirects: bool = False,
) -> httpx.Response:
    """Call ``send`` until a 2xx (or 3xx, if asked) or a final failure; raise the typed error of the last attempt."""
    for attempt in range(policy.max_retries + 1):
        last = attempt == policy.max_retries
        try:
            response = await send()
        except RETRYABLE_CONNECTION_ERRORS as err:
            # The request never reached the server, so a retry cannot bill twice.
            if last:
                kind = Timeout if isinstance(err, httpx.TimeoutException) else UpstreamError
                raise kind(f"could not connect: {type(err).__name__}") from err
            await sleep(backoff_s(attempt, policy, None))
            continue
        except httpx.TimeoutException as err:
            # Sent but unanswered: the image may be made (and billed) anyway, so no retry.
            raise Timeout(f"no reply within the time limit ({type(err).__name__})") from err
        except httpx.HTTPError as err:
            raise UpstreamError(f"the connection failed: {type(err).__name__}") from err
        if response.is_success or (accept_redirects and response.is_redirect):
            return response
        if last or not is_retryable_status(response.status_code):
            raise error_for_status(response)
        await sleep(backoff_s(attempt, policy, retry_after_s(response.headers.get("retry-after"))))
    raise AssertionError("unreachable")  # the loop always returns or raises
