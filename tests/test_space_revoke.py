"""Delete and eviction revoke, through the running app: every URL a visitor was shown for a library image
(the served copy /library hands out, its thumbnail, the /generate result's link) stops answering as soon as the
image is deleted or evicted, instead of living on for a day as a hard link in Gradio's cache."""

from __future__ import annotations

import httpx
from gradio_client import Client

from config import PageOptions
from library import LibraryConfig
from tests.conftest import app_config, app_settings, free_port

KW = dict(backends=["fireworks"], seed=11, aspect_ratio="Custom", width=128, height=128, api_name="/generate")


def file_url(base: str, item: dict) -> str:
    """The URL a caller is given for a gallery item (gradio_client without downloading)."""
    image = item["image"]
    return image.get("url") or f"{base}gradio_api/file={image['path']}"


def status(url: str) -> int:
    return httpx.get(url, timeout=30).status_code


def test_delete_and_eviction_make_every_url_a_visitor_was_shown_404(fireworks, aiml, tiny_model, tmp_path):
    from app import create_app
    from ui import LAUNCH_OPTIONS
    from ui.library_access import served

    config = LibraryConfig(dir=tmp_path / "lib", on_space=True, max_per_visitor=2)
    app = create_app(app_config(app_settings(fireworks, aiml, tiny_model), PageOptions(), library=config))
    port = free_port()
    app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS)
    base = f"http://127.0.0.1:{port}/"
    try:
        visitor = Client(base, verbose=False, download_files=False)
        made, _ = visitor.predict(prompt="first lighthouse", **KW)
        generated = file_url(base, made[0])  # the /generate result: a link to the library's file
        gallery, rows = visitor.predict(query="first", api_name="/library")
        shown = file_url(base, gallery[0])  # the served copy /library hands out
        first = app.library.get(None, rows[0]["id"])
        thumb = app.library.thumb(first)
        thumb_url = f"{base}gradio_api/file={served(thumb)}"  # as the Library tab shows it
        before = [status(u) for u in (generated, shown, thumb_url)]
        assert before == [200, 200, 200], before

        app.library.delete(first.owner, first.id)  # what the Library tab's Delete does
        after = {u: status(u) for u in (generated, shown, thumb_url)}
        # Gradio answers 403 or 404 for a file that is gone; either way nothing is served.
        assert set(after.values()) <= {403, 404}, f"after Delete the URLs answered {after}"

        # Eviction: the visitor keeps 2 images, so the third save evicts the oldest, and its URLs go too.
        visitor.predict(prompt="second lighthouse", **{**KW, "seed": 12})
        gallery, _ = visitor.predict(query="second", api_name="/library")
        oldest = file_url(base, gallery[0])
        assert status(oldest) == 200
        for seed in (13, 14):
            visitor.predict(prompt="more lighthouses", **{**KW, "seed": seed})
        assert status(oldest) in (403, 404), "an evicted image's served URL still answers"
    finally:
        app.demo.close()
