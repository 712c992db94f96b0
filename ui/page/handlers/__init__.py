"""What the page does: one top-level function per handler, over an explicit Context, and the wiring.

Each handler takes the Context first and the component values after, so a test can call it alone.
By concern: context.py (the Context, the allowance), status.py (status lines, keys, Local settings),
sizes.py (ratio and size), run.py (Generate, Cancel, progress), export.py (a run's end and exports),
selection.py (picking an image, A/B), reuse.py (Reuse and Restore), wire.py (the listeners).
"""

from ui.page.controls import FORM_SIZE
from ui.page.handlers.context import Context, Launch, bind, take_allowance
from ui.page.handlers.export import finish_update
from ui.page.handlers.reuse import apply_params, on_restore, on_reuse_seed, on_reuse_settings
from ui.page.handlers.run import clamp_warning, on_cancel, on_generate, on_run_end, on_tick, refuse
from ui.page.handlers.selection import ab_images, entry_details, on_ab, on_pick, pick_ab_pair, show_entry
from ui.page.handlers.sizes import on_ratio, on_same_size, on_size_change
from ui.page.handlers.status import (
    on_endpoint_keys,
    on_load_local,
    on_local_settings,
    on_status,
    on_ticked,
    status_text,
)
from ui.page.handlers.wire import GENERATE_JS, wire

__all__ = [
    "FORM_SIZE",
    "GENERATE_JS",
    "Context",
    "Launch",
    "ab_images",
    "apply_params",
    "bind",
    "clamp_warning",
    "entry_details",
    "finish_update",
    "on_ab",
    "on_cancel",
    "on_endpoint_keys",
    "on_generate",
    "on_load_local",
    "on_local_settings",
    "on_pick",
    "on_ratio",
    "on_restore",
    "on_reuse_seed",
    "on_reuse_settings",
    "on_run_end",
    "on_same_size",
    "on_size_change",
    "on_status",
    "on_tick",
    "on_ticked",
    "pick_ab_pair",
    "refuse",
    "show_entry",
    "status_text",
    "take_allowance",
    "wire",
]
