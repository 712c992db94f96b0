"""Settings for the local backend: the FLUX_* environment variables, read by config.load."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "black-forest-labs/FLUX.1-schnell"
PRECISIONS = ("fp8", "bf16")
OFFLOADS = ("auto", "none", "model", "sequential")
DEVICES = ("auto", "cuda", "cpu")
SWITCHES = ("auto", "on", "off")
COMPILES = (*SWITCHES, "aot")
MAX_SEQUENCE_LENGTH = 256  # schnell was trained with 256 T5 tokens; diffusers defaults to 512


@dataclass(frozen=True)
class LocalSettings:
    """How the local pipeline is loaded.

    ``fp8_matmul``: ``auto`` runs torchao FP8 matmuls where the capability table
    and a row-wise ``_scaled_mm`` probe say they run (loader.fp8_matmul_support) and the
    transformer is compiled (eager FP8 matmuls are slower than bf16), ``on`` forces them (even
    on the CPU, as the tests do), ``off`` keeps FP8 as storage only. ``compile``: ``auto``
    compiles wherever FP8 matmuls run; on ZeroGPU compiling means ahead-of-time (AOTInductor),
    and ``aot`` asks for that anywhere.
    """

    model: str = DEFAULT_MODEL
    precision: str = "fp8"
    offload: str = "auto"
    compile: str = "auto"
    device: str = "auto"
    fp8_matmul: str = "auto"
    compile_cache: str = ""  # FLUX_COMPILE_CACHE: a folder, "" for the default, "off" (compile_cache.py)

    def __post_init__(self) -> None:
        for name, allowed in (
            ("precision", PRECISIONS),
            ("offload", OFFLOADS),
            ("device", DEVICES),
            ("compile", COMPILES),
            ("fp8_matmul", SWITCHES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"FLUX_{name.upper()}={getattr(self, name)!r}: use one of {', '.join(allowed)}")
