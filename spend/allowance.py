"""One allowance for every door that spends the server's keys: page runs, grid cells, /generate, /grid, MCP.

Who the visitor is: the Hugging Face account when signed in; otherwise the address the trusted proxy
saw, the entry ``proxy_hops`` places from the right of X-Forwarded-For (as werkzeug's
``ProxyFix(x_for=1)``). The first entries are whatever the client wrote, so they are never trusted.
A pasted key and the local GPU spend nothing, so they draw nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from backends import Backend, GenerationRequest
from backends.cost import Cost, image_cost
from config import PageOptions
from spend.ledger import Ledger, OverBudget, OverDailyImages, Reservation
from spend.ratelimit import RateLimiter
from spend.visitors import account_in_session, forwarded_address, gate_visitor

log = logging.getLogger(__name__)
PASTE_HINT = "A key pasted under 'API keys' spends nothing of this Space's allowance."


class Priced(Protocol):
    """A backend's run with its cost worked out (runs.result.BackendResult is one)."""

    backend: str

    @property
    def billed(self) -> int: ...

    @property
    def total(self) -> Cost: ...


class Refused(Exception):
    """Nothing was sent: the message says why and what to do; ``retry_after_s`` when waiting helps."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Spend:
    """What a request would spend on the server's keys: images, estimated USD, and on which backends."""

    images: int = 0
    usd: float = 0.0
    backends: frozenset[str] = frozenset()


def plan_spend(items: Iterable[tuple[Backend, int]], keys: Mapping[str, str]) -> Spend:
    """The spend of images given as (backend, steps), one item per image; pasted keys and the GPU spend none."""
    images, usd, used = 0, 0.0, set()
    for backend, steps in items:
        if not backend.key_env or (keys.get(backend.id) or "").strip():
            continue
        images += 1
        usd += image_cost(backend.id, steps).usd or 0.0  # an unpriced backend counts images only
        used.add(backend.id)
    return Spend(images, usd, frozenset(used))


def _forwarded(request: object) -> list[str]:
    headers = getattr(request, "headers", None) or {}
    getlist = getattr(headers, "getlist", None)
    values = getlist("x-forwarded-for") if getlist else [headers.get("x-forwarded-for") or ""]
    return [e.strip() for e in ",".join(values).split(",") if e.strip()]


def signed_in_account(request: object) -> str | None:
    """The Hugging Face account (or APP_AUTH user) behind ``request``, or None.

    gr.Request hands the session over as Gradio's ``Obj`` (not a dict): spend.visitors reads either."""
    if (visitor := gate_visitor(request)) is not None:
        return visitor.account
    name = getattr(request, "username", None)
    if name:
        return str(name)
    try:
        session = getattr(request, "session", None)  # only with Sign in with Hugging Face (SessionMiddleware)
    except Exception:  # Starlette asserts when SessionMiddleware is not installed
        return None
    return account_in_session(session)


def visitor_of(request: object, proxy_hops: int) -> tuple[str, bool]:
    """(who, signed in): as the gate worked it out for this request, else the account, else the address
    ``proxy_hops`` from the right of X-Forwarded-For."""
    if request is None:
        return "unknown", False
    if (visitor := gate_visitor(request)) is not None:
        return visitor.who, visitor.signed_in
    if account := signed_in_account(request):
        return f"account:{account}", True
    host = getattr(getattr(request, "client", None), "host", None)
    return f"addr:{forwarded_address(_forwarded(request), host, proxy_hops)}", False


@dataclass
class Ticket:
    """What one request took: settle it with the runs once they are over (or refund with none).

    ``sent`` is the run's sent signal (backends.RunContext.on_sent, by backend id): every image whose
    request reached the upstream is spent, whatever happens next (a cancel, the deadline, a disconnect).
    An image sent after the ticket was settled (a cancel that caught a write midway) is charged then.
    """

    spend: Spend
    reservation: Reservation | None = None
    settled: bool = field(default=False)
    ledger: Ledger | None = field(default=None, repr=False)
    #: backend id -> (images sent, their estimated USD), on the server's keys only.
    sent_images: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sent(self, backend: str, request: GenerationRequest, index: int) -> None:
        """Image ``index`` of ``request`` reached ``backend``'s upstream: it is spent (see RunContext.on_sent)."""
        if backend not in self.spend.backends:
            return  # a pasted key or the local GPU: nothing of the server's
        usd = image_cost(backend, request.num_inference_steps).usd or 0.0
        with self._lock:
            images, total = self.sent_images.get(backend, (0, 0.0))
            self.sent_images[backend] = (images + 1, total + usd)
            late = self.settled
        if late and self.reservation is not None and self.ledger is not None:
            self.ledger.charge(self.reservation, 1, usd)


class Allowance:
    """Per-visitor images a minute (larger when signed in) and a day, and the daily budget over everyone."""

    def __init__(
        self, options: PageOptions, ledger: Ledger | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.options = options
        self.anonymous = RateLimiter(options.rate_limit_per_min, clock)
        self.signed_in = RateLimiter(options.signed_in_limit, clock)
        self.ledger = ledger

    def take(self, request: object, spend: Spend, what: str = "this run") -> Ticket:
        """Take ``spend`` from the visitor's allowance and the budget, or raise Refused and take nothing."""
        ticket = Ticket(spend, ledger=self.ledger)
        if spend.images <= 0:
            return ticket
        who, signed = visitor_of(request, self.options.trusted_proxy_hops)
        limiter = self.signed_in if signed else self.anonymous
        wait = limiter.take(who, spend.images)
        if wait:
            raise self._minute_refusal(limiter.per_minute, wait, spend.images, what, signed)
        if self.ledger is not None:
            try:
                ticket.reservation = self.ledger.reserve(who, spend.images, spend.usd)
            except OverDailyImages as err:
                limiter.give_back(who, spend.images)
                raise Refused(
                    f"Nothing was sent: this Space allows {err.limit} images a day per visitor on its keys "
                    f"and {err.used} are used; come back after 00:00 UTC. {PASTE_HINT}",
                    seconds_to_midnight(),
                ) from None
            except OverBudget as err:
                limiter.give_back(who, spend.images)
                raise Refused(
                    f"Nothing was sent: this Space's daily budget on its keys ({err.budget_usd:g} USD) is spent "
                    f"(${err.left_usd:.4f} left, {what} needs ${spend.usd:.4f}). Paste your own key under "
                    "'API keys', or come back after 00:00 UTC.",
                    seconds_to_midnight(),
                ) from None
        return ticket

    def _minute_refusal(self, limit: int, wait: float, images: int, what: str, signed: bool) -> Refused:
        more = self.options.signed_in_limit > self.options.rate_limit_per_min and not signed
        sign = f" Sign in with Hugging Face for {self.options.signed_in_limit} a minute." if more else ""
        if wait == float("inf"):
            why = f"{what} asks for {images} images on the server's keys and the limit is {limit} a minute"
            return Refused(f"Nothing was sent: {why}.{sign} {PASTE_HINT}")
        why = f"this Space allows {limit} images a minute per visitor on its keys; try again in {math.ceil(wait)} s"
        return Refused(f"Nothing was sent: {why}.{sign} {PASTE_HINT}", wait)

    def settle(self, ticket: Ticket, runs: Sequence[Priced] = ()) -> None:
        """Give back what was provably never sent: keep every image the ticket was told was sent, and every
        image billed in ``runs`` (the runs' results, runs.result.BackendResult, which worked out their cost
        once); with neither, everything goes back.
        """
        if ticket.reservation is None or self.ledger is None:
            return
        billed: dict[str, tuple[int, float]] = {}
        for run in runs:
            if run.backend in ticket.spend.backends:
                images, usd = billed.get(run.backend, (0, 0.0))
                billed[run.backend] = (images + run.billed, usd + (run.total.usd or 0.0))
        with ticket._lock:  # a sent signal now either counts here or is charged late, never both or neither
            if ticket.settled:
                return
            ticket.settled = True
            sent = dict(ticket.sent_images)
        images, usd = 0, 0.0
        for backend in set(billed) | set(sent):
            b_images, b_usd = billed.get(backend, (0, 0.0))
            s_images, s_usd = sent.get(backend, (0, 0.0))
            images += max(b_images, s_images)
            usd += max(b_usd, s_usd)
        self.ledger.settle(ticket.reservation, images, usd)

    def budget_line(self) -> str:
        """The status line's budget sentence, or "" without a budget."""
        left = self.ledger.left_usd() if self.ledger is not None else None
        if left is None:
            return ""
        return (
            f"Today's budget on this Space's keys: **${left:.4f}** of ${self.ledger.budget_usd:g} left "
            "(it resets at 00:00 UTC; a pasted key spends none of it)."
        )


def seconds_to_midnight(now: float | None = None) -> float:
    now = time.time() if now is None else now
    return 86400 - now % 86400
