"""The one request type, the result types and the Backend interface."""

from __future__ import annotations

import abc
import dataclasses
import math
import random
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from PIL import Image

from backends.errors import BackendError
from backends.imaging import EncodedImage, StoredImage
from backends.sizes import CUSTOM, MAX_SIDE, MIN_SIDE, RATIO_SIZES, SIDE_STEP

MAX_SEED = 2**31 - 1
MIN_STEPS, MAX_STEPS = 1, 12
MAX_IMAGES = 4
MAX_PROMPT_CHARS = 2000  # FLUX's T5 reads 256 tokens (~1,000 characters); the AI/ML API takes 4,000


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
        # Whole floats (1024.0 from a slider) are stored as ints, so bodies and records say 1024.
        for name in ("width", "height", "num_inference_steps", "seed", "num_images"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "guidance_scale", float(self.guidance_scale))

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


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _whole_problem(name: str, v: object) -> str | None:
    """Why ``v`` is not a whole number, naming the field; None if it is one."""
    if isinstance(v, int) and not isinstance(v, bool):
        return None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        return None  # 1024.0 from a slider is 1024; __post_init__ stores it as int
    if _is_number(v) and not math.isfinite(v):
        return f"{name} must be a finite whole number, got {v!r}"
    if _is_number(v):
        return f"{name} must be a whole number, got {v!r}"
    return f"{name} must be a whole number, got {type(v).__name__} {_short(v)}"


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def has_visible_text(prompt: str) -> bool:
    """Whether the prompt has anything but whitespace and control/format characters (e.g. "\\x00")."""
    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in prompt)


def validation_problems(r: GenerationRequest) -> list[str]:
    """Every problem with a request, in words a person can act on; each names its field.

    Types are checked too, since /generate callers send whatever JSON they like: strings,
    NaN, infinities and fractions (1024.5, 2.5 images) are refused, never rounded.
    """
    problems = []
    if not isinstance(r.prompt, str):
        problems.append(f"prompt must be text, got {type(r.prompt).__name__}")
    elif not has_visible_text(r.prompt):
        problems.append("the prompt is empty" if not r.prompt.strip() else "the prompt has no visible characters")
    elif len(r.prompt) > MAX_PROMPT_CHARS:
        problems.append(f"the prompt is {len(r.prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    for name in ("width", "height"):
        v = getattr(r, name)
        if (p := _whole_problem(name, v)) is not None:
            problems.append(p)
        elif not MIN_SIDE <= v <= MAX_SIDE or v % SIDE_STEP:
            problems.append(f"{name} {v} is off the grid: use {MIN_SIDE}–{MAX_SIDE} in steps of {SIDE_STEP}")
    if (p := _whole_problem("steps (num_inference_steps)", r.num_inference_steps)) is not None:
        problems.append(p)
    elif not MIN_STEPS <= r.num_inference_steps <= MAX_STEPS:
        problems.append(f"steps {r.num_inference_steps!r} is out of range: use {MIN_STEPS}–{MAX_STEPS}")
    g = r.guidance_scale
    if not _is_number(g):
        problems.append(f"guidance scale (guidance_scale) must be a number, got {type(g).__name__} {_short(g)}")
    elif not math.isfinite(g):
        problems.append(f"guidance scale (guidance_scale) must be a finite number, got {g!r}")
    elif not 0 <= g <= 20:
        problems.append(f"guidance scale {g!r} is out of range: use 0–20")
    n_problem = _whole_problem("images per backend (num_images)", r.num_images)
    if n_problem is not None:
        problems.append(n_problem)
    elif not 1 <= r.num_images <= MAX_IMAGES:
        problems.append(f"images per backend {r.num_images!r} is out of range: use 1–{MAX_IMAGES}")
    if (p := _whole_problem("seed", r.seed)) is not None:
        problems.append(p)
    elif n_problem is None and 1 <= r.num_images <= MAX_IMAGES and not 0 <= r.seed <= MAX_SEED - (r.num_images - 1):
        problems.append(f"seed {r.seed!r} is out of range: use 0 (random) to {MAX_SEED - (r.num_images - 1)}")
    if not isinstance(r.aspect_ratio, str) or (r.aspect_ratio != CUSTOM and r.aspect_ratio not in RATIO_SIZES):
        problems.append(
            f"aspect ratio {_short(r.aspect_ratio)} is unknown: use one of {', '.join(RATIO_SIZES)} or Custom"
        )
    return problems


@dataclass(frozen=True)
class ImageOutcome:
    """One image asked for: the image (checked PNG bytes, never decoded pixels), or why there is none.

    A PIL image given as ``image`` (the local GPU's, a test's) is encoded as PNG once, here:
    construct it in a worker thread.
    """

    index: int
    seed: int
    image: EncodedImage | StoredImage | None = None
    error: BackendError | None = None
    latency_s: float | None = None  # this image's own call, client-measured
    #: What the API said the seed was, when that is a valid seed (0..2**64-1); None if it said
    #: nothing usable. ``seed`` is then the one we sent, and ``note`` says why.
    reported_seed: int | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.image, Image.Image):
            object.__setattr__(self, "image", EncodedImage.from_pil(self.image))

    @property
    def encoded(self) -> bytes | None:
        """The PNG bytes to save: the upstream's critical chunks as they came (or ours); once stored, the saved file."""
        return self.image.data if self.image is not None else None

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
    """Per-call extras a backend may use: the session's key, progress and cancel hooks, and the sent signal.

    ``on_sent(request, index)`` is called at most once per image, the moment its request may have reached
    the upstream (written whole, or cut off mid-write by a cancel or the deadline): from then on the
    upstream may be making that image whatever happens here. It is never called for an image whose request
    provably never arrived (no connection, a failed write). Backends report; what it costs is not theirs.
    """

    api_key: str | None = field(default=None, repr=False)
    on_progress: Callable[[str, float | None], None] = lambda message, fraction: None
    is_cancelled: Callable[[], bool] = lambda: False
    on_sent: Callable[[GenerationRequest, int], None] = lambda request, index: None


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
