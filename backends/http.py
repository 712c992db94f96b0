"""The shared HTTP client, size-capped reading of every reply, and the one retry policy.

Everything upstream is untrusted: bodies are streamed and stopped at a cap, error text is
cut where errors are made (``backends.errors``), and a request is retried only when it
provably never reached the server whole, so a retry can never make (and bill) an image twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import threading
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpcore
import httpx

from backends.errors import BackendError, BadRequest, Busy, RateLimited, RejectedKey, Timeout, TooLarge, UpstreamError

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # schnell takes ~1 s, but queues upstream can take much longer
WRITE_TIMEOUT_S = 30.0
POOL_TIMEOUT_S = 30.0
DEADLINE_S = 180.0  # the whole call for one image: retries, waits and download included
# Idle keep-alive connections are dropped well before common server idle timeouts (Node and
# uvicorn close at 5 s, httpx's default is also 5 s): reusing a connection the server is
# closing at that moment loses the request after it was written, which we may not retry.
KEEPALIVE_EXPIRY_S = 2.0

MAX_REPLY_BYTES = 40 * 1024 * 1024  # an API reply: a 1024² PNG is ~2 MB, its JSON/base64 form ~3 MB
MAX_ERROR_BYTES = 256 * 1024  # an error reply: only its message is wanted, and that is cut to 300 characters
READ_CHUNK = 64 * 1024
MAX_IN_FLIGHT_BYTES = 256 * 1024 * 1024  # all replies being read at once, over every call and visitor


class InFlight:
    """A global bound on reply bytes held while reading: past it, a read stops with Busy."""

    def __init__(self, limit: int = MAX_IN_FLIGHT_BYTES) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            self.peak = max(self.peak, self.used)
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


IN_FLIGHT = InFlight()

Sleep = Callable[[float], Awaitable[None]]


def make_client(
    read_timeout_s: float = READ_TIMEOUT_S, network_backend: httpcore.AsyncNetworkBackend | None = None
) -> httpx.AsyncClient:
    """An AsyncClient with explicit timeouts, no redirects and no proxies from the environment.

    ``network_backend`` replaces how connections are opened (the image fetcher checks the
    resolved address there; tests inject faults there).
    """
    timeout = httpx.Timeout(connect=CONNECT_TIMEOUT_S, read=read_timeout_s, write=WRITE_TIMEOUT_S, pool=POOL_TIMEOUT_S)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_EXPIRY_S)
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    if network_backend is not None:
        transport._pool = httpcore.AsyncConnectionPool(  # httpx has no argument for this
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend,
        )
    return httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False, trust_env=False)


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_retries`` retries, exponential backoff with jitter, ``Retry-After`` honoured up to a cap.

    A 429 without ``Retry-After`` waits at least ``rate_limited_delay_s``: an API that is
    rate limiting us gains nothing from a retry half a second later.
    """

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 10.0
    rate_limited_delay_s: float = 2.0


def is_retryable_status(status: int) -> bool:
    """408, 429 and 5xx may succeed later; every other 4xx will not."""
    return status in (408, 429) or status >= 500


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_s(attempt: int, policy: RetryPolicy, retry_after: float | None, status: int | None = None) -> float:
    """Delay before retry number ``attempt`` (0-based)."""
    if retry_after is not None:
        return min(retry_after, policy.max_delay_s)
    delay = policy.base_delay_s * 2**attempt
    if status == 429:
        delay = max(delay, policy.rate_limited_delay_s * 2**attempt)
    return min(delay * (0.75 + random.random() / 2), policy.max_delay_s)


# --- replies ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    """A whole reply, read within its cap."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str
    reason_phrase: str = ""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308) and "location" in self.headers

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> object:
        import json

        return json.loads(self.content)


class _Decoder:
    """Content-Encoding undone chunk by chunk, never producing more than asked for (no zip bombs)."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._z = zlib.decompressobj(47)  # gzip or zlib header, detected
        else:
            raise UpstreamError(f"the reply uses an unsupported encoding ({encoding[:20]})")

    def feed(self, chunk: bytes, room: int) -> bytes:
        """Decoded bytes for ``chunk``, at most ``room`` + 1 of them (one more says "over the cap")."""
        if self._z is None:
            return chunk
        try:
            out = self._z.decompress(chunk, room + 1)
        except zlib.error as err:
            raise UpstreamError("the reply's compressed body is damaged") from err
        return out


async def _read_held(response: httpx.Response, limit: int, what: str, keep_start: bool) -> tuple[bytes, int]:
    """The whole body, stopping as soon as it passes ``limit`` bytes (declared or actual).

    Past the cap: TooLarge, or with ``keep_start`` the first ``limit`` bytes (for error text).
    Past the global bound on bytes in flight (IN_FLIGHT): Busy. The body's bytes stay counted
    in IN_FLIGHT (the count is returned) until the caller gives them back.
    """
    declared = response.headers.get("content-length", "")
    encoding = response.headers.get("content-encoding", "")
    if declared.isdigit() and int(declared) > limit and not encoding and not keep_start:
        raise TooLarge(f"reply too large: {what} declares {int(declared) >> 20} MB, over the {limit >> 20} MB cap")
    decoder = _Decoder(encoding)
    chunks: list[bytes] = []
    size = held = 0
    try:
        async for raw in response.aiter_raw(READ_CHUNK):
            chunk = decoder.feed(raw, limit - size)
            if not IN_FLIGHT.take(len(chunk)):
                mb = IN_FLIGHT.limit >> 20
                raise Busy(f"the server is busy reading other replies ({mb} MB at once); try again in a moment")
            held += len(chunk)
            size += len(chunk)
            if size > limit and keep_start:
                chunks.append(chunk[: len(chunk) - (size - limit)])
                break
            if size > limit:
                raise TooLarge(f"reply too large: {what} is over the {limit >> 20} MB cap; reading stopped there")
            chunks.append(chunk)
        return b"".join(chunks), held
    except BaseException:
        IN_FLIGHT.give(held)
        raise


@dataclass
class SendTrace:
    """What httpcore reports while sending one request (its ``trace`` extension).

    httpx's exception types do not say whether the request reached the server: httpcore
    swallows a failed write and goes on to read, so a request that was never written whole
    surfaces as ReadError or RemoteProtocolError. The trace says what was actually written.
    """

    events: list[str] = field(default_factory=list)
    #: Called the moment the whole request has been written (the upstream may now make, and bill, it).
    on_written: Callable[[], None] | None = None
    write_failed: bool = False  # a write raised an error: the server never got the whole request

    async def __call__(self, name: str, info: dict) -> None:
        self.events.append(name)
        if name.endswith(("send_request_headers.failed", "send_request_body.failed")):
            # An error from the socket proves the write did not finish; a cancel (BaseException) proves nothing.
            self.write_failed = self.write_failed or isinstance(info.get("exception"), Exception)
        if name.endswith("send_request_body.complete") and self.on_written is not None:
            self.on_written()

    @property
    def request_written(self) -> bool:
        """True once the whole request (headers and body) was handed to the connection."""
        return any(e.endswith("send_request_body.complete") for e in self.events)

    @property
    def may_have_arrived(self) -> bool:
        """False only when the request provably never reached the server whole: never started, or a write failed."""
        started = any(e.endswith("send_request_headers.started") for e in self.events)
        return self.request_written or (started and not self.write_failed)


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    limit: int = MAX_REPLY_BYTES,
    what: str = "the reply",
    json: object = None,
    headers: dict[str, str] | None = None,
    trace: SendTrace | None = None,
) -> Reply:
    """One request; the reply read whole within ``limit`` (error replies within MAX_ERROR_BYTES)."""
    headers = {**(headers or {}), "Accept-Encoding": "identity"}
    extensions = {"trace": trace} if trace is not None else None
    async with client.stream(method, url, json=json, headers=headers, extensions=extensions) as response:
        if response.is_success:
            content, held = await _read_held(response, limit, what, keep_start=False)
        elif response.is_redirect:
            content, held = b"", 0
        else:
            content, held = await _read_held(response, MAX_ERROR_BYTES, "the error reply", keep_start=True)
        reply = Reply(response.status_code, response.headers, content, str(response.url), response.reason_phrase)
        # The body stays counted until the reply is dropped (decoded or failed), so held replies count too.
        weakref.finalize(reply, IN_FLIGHT.give, held)
        return reply


# --- errors ---------------------------------------------------------------------------------
_MESSAGE_FIELD = re.compile(r'"(?:message|error_message|detail|faultstring)"\s*:\s*"((?:[^"\\]|\\.){1,1000})')


def api_message(response: Reply | httpx.Response) -> str:
    """The API's own error message, whichever of the known body shapes it uses (cut by the error)."""
    try:
        body = response.json()
    except ValueError:
        # Not JSON, or JSON cut at the error-body cap: the start of a message field still helps.
        found = _MESSAGE_FIELD.search(response.text[:4096])
        return found.group(1) if found else response.text.strip()[:1000]
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:1000]
        if isinstance(err, str):
            return err[:1000]
        for key in ("message", "error_message", "detail"):
            if body.get(key):
                return str(body[key])[:1000]
        fault = body.get("fault")
        if isinstance(fault, dict) and fault.get("faultstring"):
            return str(fault["faultstring"])[:1000]
    return str(body)[:1000]


def error_for_status(response: Reply | httpx.Response) -> BackendError:
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
    send: Callable[[SendTrace], Awaitable[Reply]],
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    accept_redirects: bool = False,
    on_sent: Callable[[], None] | None = None,
) -> Reply:
    """Call ``send`` until a 2xx (or 3xx, if asked) or a final failure; raise the typed error of the last attempt.

    Retried: 408, 429 and 5xx replies, and transport failures before the request was written
    whole (no connection, a connect error, a write that failed on a reused keep-alive
    connection). Never retried: a failure after the request was written, since the API may
    be making (and billing) the image.

    ``on_sent`` is called when an attempt's request is written whole, and when a cancel or the
    deadline stops an attempt whose request may have arrived (a write cut off midway): the caller
    counts those as spent. It may be called once per attempt.
    """
    for attempt in range(policy.max_retries + 1):
        last = attempt == policy.max_retries
        trace = SendTrace(on_written=on_sent)
        try:
            reply = await send(trace)
        except (asyncio.CancelledError, TimeoutError):
            # Cancelled or out of time mid-attempt: unless the write provably failed, the upstream may have it.
            if on_sent is not None and trace.may_have_arrived and not trace.request_written:
                on_sent()
            raise
        except httpx.TransportError as err:
            name = type(err).__name__
            if not trace.request_written:
                # The server never got a whole request, so it cannot have made an image.
                if last:
                    kind = Timeout if isinstance(err, httpx.TimeoutException) else UpstreamError
                    raise kind(f"could not reach the API ({name}), {attempt + 1} attempts") from err
                await sleep(backoff_s(attempt, policy, None))
                continue
            if isinstance(err, httpx.TimeoutException):
                raise Timeout(f"no reply within the time limit ({name}); not retried: it may be billed") from err
            raise UpstreamError(f"the connection failed after the request was sent ({name}); not retried") from err
        except httpx.HTTPError as err:
            raise UpstreamError(f"unreadable reply ({type(err).__name__})") from err
        if reply.is_success or (accept_redirects and reply.is_redirect):
            return reply
        if last or not is_retryable_status(reply.status_code):
            raise error_for_status(reply)
        wait = backoff_s(attempt, policy, retry_after_s(reply.headers.get("retry-after")), reply.status_code)
        await sleep(wait)
    raise AssertionError("unreachable")  # the loop always returns or raises
