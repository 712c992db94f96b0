"""Settings for the local backend, read from FLUX_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MODEL = "black-forest-labs/FLUX.1-schnell"
PRECISIONS = ("fp8", "bf16")
OFFLOADS = ("auto", "none", "model", "sequential")
DEVICES = ("auto", "cuda", "cpu")
MAX_SEQUENCE_LENGTH = 256  # schnell was trained with 256 T5 tokens; diffusers defaults to 512


@dataclass(frozen=True)
class LocalSettings:
    model: str = DEFAULT_MODEL
    precision: str = "fp8"
    offload: str = "auto"
    compile: bool = False
    device: str = "auto"

    def __post_init__(self) -> None:
        for name, allowed in (("precision", PRECISIONS), ("offload", OFFLOADS), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"FLUX_{name.upper()}={getattr(self, name)!r}: use one of {', '.join(allowed)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if env is None else env
        return cls(
            model=env.get("FLUX_MODEL") or DEFAULT_MODEL,
            precision=(env.get("FLUX_PRECISION") or "fp8").lower(),
            offload=(env.get("FLUX_OFFLOAD") or "auto").lower(),
            compile=(env.get("FLUX_COMPILE") or "0").lower() in ("1", "true", "yes", "on"),
            device=(env.get("FLUX_DEVICE") or "auto").lower(),
        )
