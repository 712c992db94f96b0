"""What the two hosted backends share: keys, one call per image under a deadline, and fan-out."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from backends.errors import BackendError, MissingKey, Timeout, UpstreamError
from backends.http import DEADLINE_S, MAX_REPLY_BYTES, RetryPolicy, SendTrace, Sleep, fetch, send_with_retries
from backends.imaging import EncodedImage
from backends.redact import shown, using
from backends.types import Backend, BackendRun, BackendStatus, GenerationRequest, ImageOutcome, RunContext

log = logging.getLogger(__name__)

MAX_REPORTED_SEED = 2**64 - 1
#: The image whose call is in progress, told when its request reaches the upstream (see RunContext.on_sent).
#: A context variable, so every image's call (its own task) reports for itself through the shared ``post``.
_SENT: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("image_sent", default=None)


def once(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn``, called at most once however often the result is (retries reach the upstream again)."""
    done = False

    def call() -> None:
        nonlocal done
        if not done:
            done = True
            fn()

    return call


@dataclass(frozen=True)
class Upstream:
    """What one call returned: the checked image, the seed the API reported (raw, unchecked), its inference time."""

    image: EncodedImage
    seed: object = None
    server_s: float | None = None


def reported_seed(value: object) -> int | None:
    """The API's seed if it is one (an integer in 0..2**64-1, as a number or digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isdigit() and text.isascii() and len(text) <= 20 else None
    if isinstance(value, int) and 0 <= value <= MAX_REPORTED_SEED:
        return value
    return None


def reply_json(reply: httpx.Response, who: str) -> object:
    """The reply's JSON, or UpstreamError naming ``who`` sent something else."""
    try:
        return reply.json()
    except ValueError as err:
        raise UpstreamError(f"{who} sent a reply that is not JSON") from err


def detached(err: BackendError) -> BackendError:
    """``err`` without its traceback and chain: a stored error must not keep the call's frames (and the
    reply bytes and images in them) alive, nor hold their bytes in flight."""
    err.__traceback__ = err.__context__ = err.__cause__ = None
    return err


class HostedBackend(Backend):
    """A backend behind an HTTP API that makes one image per call.

    Each image is its own call with seed+i, so every image's tag is a seed that remakes
    exactly that image. The calls run at once, each under ``deadline_s`` (retries, waits and
    download included).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        retry: RetryPolicy | None = None,
        deadline_s: float = DEADLINE_S,
        sleep: Sleep | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self._env_key = api_key or None
        self.retry = retry or RetryPolicy()
        self.deadline_s = deadline_s
        self.sleep: Sleep = sleep or asyncio.sleep  # tests pass a recorder to see the waits

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.base_url!r})"

    def resolve_key(self, session_key: str | None) -> str:
        """The key to use: one pasted for this session wins over the environment's."""
        key = (session_key or "").strip() or self._env_key
        if not key:
            raise MissingKey(f"no API key: set {self.key_env} or paste a key under 'API keys'")
        return key

    def status(self, keys: Mapping[str, str] | None = None) -> BackendStatus:
        if ((keys or {}).get(self.id) or "").strip():
            return BackendStatus(True, "ready (key pasted for this session)")
        if self._env_key:
            return BackendStatus(True, f"ready (key from {self.key_env})")
        return BackendStatus(False, f"needs a key: set {self.key_env} or paste one under 'API keys'")

    async def generate_one(self, request: GenerationRequest, index: int, api_key: str) -> Upstream:
        """One image for ``request.image_seed(index)``, as the API returned it."""
        raise NotImplementedError

    async def post(self, path: str, body: dict, headers: Mapping[str, str]) -> httpx.Response:
        """POST ``body`` as JSON to ``path`` on the API: the reply capped while it streams, retried by the policy."""

        async def send(trace: SendTrace):
            url = self.base_url + path
            return await fetch(self.client, "POST", url, json=body, headers=headers, trace=trace, limit=MAX_REPLY_BYTES)

        return await send_with_retries(send, self.retry, self.sleep, on_sent=_SENT.get())

    async def _one(
        self, request: GenerationRequest, index: int, key: str, ctx: RunContext
    ) -> tuple[ImageOutcome, float | None]:
        sent = request.image_seed(index)
        started = time.perf_counter()
        _SENT.set(once(lambda: ctx.on_sent(request, index)))  # this task's own context (gather made it)
        try:
            with using(key):  # everything made from upstream text in this call is redacted of the key
                async with asyncio.timeout(self.deadline_s):
                    got = await self.generate_one(request, index, key)
        except TimeoutError:
            err = Timeout(f"did not finish in {self.deadline_s:g} s (HTTP_DEADLINE_S), retries and download included")
            return ImageOutcome(index, sent, error=err), None
        except BackendError as err:
            return ImageOutcome(index, sent, error=detached(err)), None
        except Exception as err:  # an odd reply must not take this run's other images with it
            log.warning("%s: unexpected %s for image %d", self.label, type(err).__name__, index)
            error = UpstreamError(f"unreadable reply ({type(err).__name__})")
            return ImageOutcome(index, sent, error=error), None
        latency = time.perf_counter() - started
        seed, note = reported_seed(got.seed), None
        if got.seed is not None and seed is None:
            with using(key):  # redacted before it is cut
                value = shown(repr(got.seed), 30)
            note = f"image {index + 1}: {self.label} reported seed {value}, not a valid seed; tagged with the seed sent"
        outcome = ImageOutcome(
            index, seed if seed is not None else sent, image=got.image, latency_s=latency, reported_seed=seed, note=note
        )
        return outcome, got.server_s

    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        key = self.resolve_key(ctx.api_key)
        received, notes = self.describe(request)
        # All at once: one slow image must not delay the others (the APIs make one per call).
        results = await asyncio.gather(*(self._one(request, i, key, ctx) for i in range(request.num_images)))
        server_times = [s for _, s in results if s is not None]
        notes = notes + [o.note for o, _ in results if o.note]
        return BackendRun(
            backend=self.id,
            label=self.label,
            outcomes=[o for o, _ in results],
            server_s=max(server_times) if server_times else None,
            received=received,
            notes=notes,
        )
