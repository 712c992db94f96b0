"""The one request type, the result types and the Backend interface."""

from __future__ import annotations

import abc
import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from PIL import Image

from backends.errors import BackendError
from backends.sizes import CUSTOM, MAX_SIDE, MIN_SIDE, RATIO_SIZES, SIDE_STEP

MAX_SEED = 2**31 - 1
MIN_STEPS, MAX_STEPS = 1, 12
MAX_IMAGES = 4
MAX_PROMPT_CHARS = 4000  # the AI/ML API's limit; Fireworks documents none


class InvalidRequest(ValueError):
    """A request that must not be sent; the message says which value and what is allowed."""


@dataclass(frozen=True)
class GenerationRequest:
    """What the user asked for, validated once. ``seed`` 0 means "draw one" (see ``with_seed``)."""

    prompt: str
    width: int = 1024
    height: int = 1024
    num_inference_steps: int = 4
    guidance_scale: float = 3.5
    seed: int = 0
    num_images: int = 1
    aspect_ratio: str = "1:1"

    def __post_init__(self) -> None:
        problems = validation_problems(self)
        if problems:
            raise InvalidRequest("; ".join(problems))

    def with_seed(self, rng: random.Random | None = None) -> GenerationRequest:
        """A copy whose seed is fixed: the given one, or a fresh one drawn so seed+i stays in range."""
        if self.seed:
            return self
        rng = rng or random.SystemRandom()
        return dataclasses.replace(self, seed=rng.randint(1, MAX_SEED - (self.num_images - 1)))

    def image_seed(self, index: int) -> int:
        """Image i of a run uses seed+i, so every image can be remade on its own."""
        return self.seed + index

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def validation_problems(r: GenerationRequest) -> list[str]:
    """Every problem with a request, in words a person can act on."""
    problems = []
    if not isinstance(r.prompt, str) or not r.prompt.strip():
        problems.append("the prompt is empty")
    elif len(r.prompt) > MAX_PROMPT_CHARS:
        problems.append(f"the prompt is {len(r.prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    for name in ("width", "height"):
        v = getattr(r, name)
        if not isinstance(v, int) or isinstance(v, bool):
            problems.append(f"{name} must be a whole number, got {v!r}")
        elif not MIN_SIDE <= v <= MAX_SIDE or v % SIDE_STEP:
            problems.append(f"{name} {v} is off the grid: use {MIN_SIDE}–{MAX_SIDE} in steps of {SIDE_STEP}")
    if not isinstance(r.num_inference_steps, int) or not MIN_STEPS <= r.num_inference_steps <= MAX_STEPS:
        problems.append(f"steps {r.num_inference_steps!r} is out of range: use {MIN_STEPS}–{MAX_STEPS}")
    if not isinstance(r.guidance_scale, int | float) or not 0 <= r.guidance_scale <= 20:
        problems.append(f"guidance scale {r.guidance_scale!r} is out of range: use 0–20")
    if not isinstance(r.num_images, int) or not 1 <= r.num_images <= MAX_IMAGES:
        problems.append(f"images per backend {r.num_images!r} is out of range: use 1–{MAX_IMAGES}")
    elif not isinstance(r.seed, int) or not 0 <= r.seed <= MAX_SEED - (r.num_images - 1):
        problems.append(f"seed {r.seed!r} is out of range: use 0 (random) to {MAX_SEED - (r.num_images - 1)}")
    if r.aspect_ratio != CUSTOM and r.aspect_ratio not in RATIO_SIZES:
        problems.append(f"aspect ratio {r.aspect_ratio!r} is unknown: use one of {', '.join(RATIO_SIZES)} or Custom")
    return problems


@dataclass(frozen=True)
class ImageOutcome:
    """One image asked for: the image, or why there is none."""

    index: int
    seed: int
    image: Image.Image | None = None
    error: BackendError | None = None
    latency_s: float | None = None  # this image's own call, client-measured

    @property
    def status(self) -> str:
        if self.image is not None:
            return "ok"
        return self.error.kind if self.error else "error"


@dataclass
class BackendRun:
    """One backend's part of a run, as the runner reports it."""

    backend: str
    label: str
    outcomes: list[ImageOutcome] = field(default_factory=list)
    wall_s: float = 0.0  # client-measured, whole backend
    server_s: float | None = None  # server-reported inference time, where the API gives one
    received: dict = field(default_factory=dict)  # the parameters the backend actually got
    notes: list[str] = field(default_factory=list)  # those, in words


@dataclass(frozen=True)
class Progress:
    """A progress report from inside a backend (e.g. a diffusion step)."""

    backend: str
    message: str
    fraction: float | None = None


@dataclass
class RunContext:
    """Per-call extras a backend may use: the session's key, progress and cancel hooks."""

    api_key: str | None = field(default=None, repr=False)
    on_progress: Callable[[str, float | None], None] = lambda message, fraction: None
    is_cancelled: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class BackendStatus:
    ready: bool
    message: str


class Backend(abc.ABC):
    """A way to turn a request into images.

    Subclasses set the class attributes and implement ``generate``; the runner measures
    time, catches failures and fans out, so a backend only has to make images.
    """

    id: ClassVar[str]  # "fireworks"; used in the API and records
    label: ClassVar[str]  # "Fireworks"; shown to people
    key_env: ClassVar[str | None] = None  # env var for the API key, if one is needed
    honours_guidance: ClassVar[bool] = False

    @abc.abstractmethod
    async def generate(self, request: GenerationRequest, ctx: RunContext) -> BackendRun:
        """Make ``request.num_images`` images (seed+i each). Raise BackendError if none can be made."""

    @abc.abstractmethod
    def describe(self, request: GenerationRequest) -> tuple[dict, list[str]]:
        """What this backend will actually receive for the request, as data and as short notes."""

    def status(self, keys: Mapping[str, str] | None = None) -> BackendStatus:
        """Whether the backend can run now, and if not, what to do about it."""
        return BackendStatus(True, "ready")
