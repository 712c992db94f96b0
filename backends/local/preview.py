"""Previews of a run's intermediate steps, and the hook that hands them out.

A preview is the step's latents projected to RGB with FLUX's fixed 16×3 "latent RGB factors" (the
ones ComfyUI uses for its FLUX previews), at latent resolution (1/8 of each side): a matrix product
per step instead of a VAE decode, so watching a run costs it almost nothing.

Subscribing is by context: ``with listen_steps(fn): await ...run...``. The listener is read by
``LocalBackend.generate`` in the caller's task (``run_backends`` copies the context into its tasks),
so concurrent runs each reach their own listener. ``fn`` is called on the GPU thread after each step:
keep it cheap (hand the update to the event loop), and call ``update.previews()`` only for the steps
you show.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from PIL import Image

# ComfyUI's comfy/latent_formats.py, class Flux: rows are the 16 latent channels, columns R, G, B.
FLUX_LATENT_RGB_FACTORS = (
    (-0.0346, 0.0244, 0.0681),
    (0.0034, 0.0210, 0.0687),
    (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329),
    (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915),
    (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421),
    (-0.0515, 0.0201, 0.0011),
    (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749),
    (-0.1264, -0.0522, -0.1103),
    (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_LATENT_RGB_BIAS = (-0.0329, -0.0718, -0.0851)


def latents_to_rgb(latents: Any) -> list[Image.Image]:
    """Unpacked latents (batch, channels, h, w) → one RGB image each, at latent resolution.

    16 channels (FLUX's VAE) use the factors; other widths (the tests' tiny random VAE) show their
    first three channels, each stretched to its own range, so a preview is still an image.
    """
    import torch

    x = latents.detach().float()
    if x.shape[1] == len(FLUX_LATENT_RGB_FACTORS):
        factors = torch.tensor(FLUX_LATENT_RGB_FACTORS, device=x.device)
        bias = torch.tensor(FLUX_LATENT_RGB_BIAS, device=x.device)
        rgb = torch.einsum("bchw,cr->brhw", x, factors) + bias[None, :, None, None]
        rgb = (rgb + 1.0) / 2.0
    else:
        rgb = x[:, [i % x.shape[1] for i in range(3)]]
        low = rgb.amin(dim=(2, 3), keepdim=True)
        high = rgb.amax(dim=(2, 3), keepdim=True)
        rgb = (rgb - low) / (high - low).clamp_min(1e-6)
    pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(p, "RGB") for p in pixels]


@dataclass(frozen=True)
class StepUpdate:
    """One finished denoising step of a run: ``step`` of ``total`` (1-based), and its latents (packed)."""

    step: int
    total: int
    latents: Any = None  # FLUX's packed (batch, h/16 · w/16, 64) tensor, as diffusers' callback gives it
    height: int = 0
    width: int = 0
    vae_scale_factor: int = 8

    def previews(self) -> list[Image.Image]:
        """One preview per image of the batch (cheap: a projection, no VAE)."""
        from diffusers import FluxPipeline

        unpacked = FluxPipeline._unpack_latents(self.latents, self.height, self.width, self.vae_scale_factor)
        return latents_to_rgb(unpacked)


StepListener = Callable[[StepUpdate], None]
_listener: ContextVar[StepListener | None] = ContextVar("flux_step_listener", default=None)


@contextlib.contextmanager
def listen_steps(listener: StepListener) -> Iterator[None]:
    """Hand every step of the Local runs started inside this block (this task and tasks it starts) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def step_listener() -> StepListener | None:
    """The listener of the run being started here, if any (read on the event loop, before the GPU thread)."""
    return _listener.get()
