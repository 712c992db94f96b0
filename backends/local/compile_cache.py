"""Keeping compiled code across restarts: inductor's caches in a folder the app owns.

torch.compile already caches compiled graphs on disk (the FX graph cache and AOTAutograd's
cache, plus Triton's kernels on a GPU), but in `/tmp/torchinductor_<user>`, which many
machines wipe on reboot and containers lose on restart. The app points
`TORCHINDUCTOR_CACHE_DIR` at `FLUX_COMPILE_CACHE` (default `~/.cache/flux-schnell-playground/
compile`), one subfolder per torch version and device, so a stale entry is one folder to delete
and a restart finds the graphs the last start compiled: dynamo still traces (seconds), inductor
does not compile again (the minutes). `FLUX_COMPILE_CACHE=off` leaves torch's defaults alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

OFF = ("off", "0", "false", "no", "none")


def default_root(cache_home: str | None = None) -> Path:
    """The default folder, under ``cache_home`` (XDG_CACHE_HOME, read by config.load) or ~/.cache."""
    base = Path(cache_home) if cache_home else Path("~/.cache").expanduser()
    return base / "flux-schnell-playground" / "compile"


def cache_folder(setting: str, device_name: str, capability: tuple[int, int] | None) -> Path | None:
    """Where this torch on this device keeps its compiled code; None when FLUX_COMPILE_CACHE=off."""
    import torch

    if setting.strip().lower() in OFF:
        return None
    root = Path(setting).expanduser() if setting.strip() else default_root()
    device = re.sub(r"[^A-Za-z0-9.]+", "-", device_name).strip("-").lower() or "device"
    cc = f"-sm{capability[0]}{capability[1]}" if capability else ""
    return root / f"torch-{torch.__version__}-{device}{cc}"


def use_cache_folder(folder: Path | None) -> bool:
    """Point inductor (and Triton, which lives under it) at ``folder``; returns whether it held entries."""
    if folder is None:
        return False
    inductor = folder / "inductor"
    had_entries = inductor.is_dir() and any(inductor.iterdir())
    inductor.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(inductor)  # read by inductor at each use, not only at import
    return had_entries


def cache_hits() -> dict[str, int]:
    """Inductor's and AOTAutograd's on-disk cache hits and misses in this process (dynamo counters)."""
    from torch._dynamo.utils import counters

    return {
        "fxgraph_hit": counters["inductor"]["fxgraph_cache_hit"],
        "fxgraph_miss": counters["inductor"]["fxgraph_cache_miss"],
        "autograd_hit": counters["aot_autograd"]["autograd_cache_hit"],
        "autograd_miss": counters["aot_autograd"]["autograd_cache_miss"],
    }
