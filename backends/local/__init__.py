"""The Local FP8 backend: FLUX.1 [schnell] through diffusers on this machine's GPU."""

from backends.local.backend import LocalBackend
from backends.local.settings import LocalSettings

__all__ = ["LocalBackend", "LocalSettings"]
