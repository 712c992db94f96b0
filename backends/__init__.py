"""Image backends for the FLUX.1 [schnell] playground. Knows nothing of Gradio."""

from backends.errors import BackendError
from backends.registry import Settings, build_backends
from backends.runner import run_backends
from backends.types import Backend, BackendRun, GenerationRequest, ImageOutcome, InvalidRequest, Progress, RunContext

__all__ = [
    "Backend",
    "BackendError",
    "BackendRun",
    "GenerationRequest",
    "ImageOutcome",
    "InvalidRequest",
    "Progress",
    "RunContext",
    "Settings",
    "build_backends",
    "run_backends",
]
