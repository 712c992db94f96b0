"""An anonymous visitor's library survives a restart: the secret gr.BrowserState encrypts the visitor's
token with is kept in the library folder (under /data on a Space), created once, readable by the app only."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor

from config import PageOptions
from library import Library, LibraryConfig
from library.store import ImageRow
from tests.conftest import app_config, app_settings
from ui.library_access import SECRET_FILE, browser_secret, new_token, owner_for


def browser_state_secret(app) -> str:
    """The secret the page hands the browser (its /config), which the browser encrypts the token with."""
    found = [c["props"]["secret"] for c in app.demo.config["components"] if c.get("type") == "browserstate"]
    assert len(found) == 1, found
    return found[0]


def test_a_token_from_before_a_restart_still_opens_the_visitors_rows(fireworks, aiml, tiny_model, tmp_path):
    from app import create_app

    config = LibraryConfig(dir=tmp_path / "lib", on_space=True)
    settings = app_config(app_settings(fireworks, aiml, tiny_model), PageOptions(), library=config)
    first = create_app(settings)
    secret, token = browser_state_secret(first), new_token()
    owner = owner_for(first.library, None, token)
    run = first.library.start_run("run", "a lighthouse", {}, owner=owner)
    row = ImageRow("a lighthouse", "fireworks", 5, 256, 256, 4, 3.5, "error", owner=owner, run_id=run)
    first.library.save_image(row, None)
    first.demo.close()
    first.library.close()

    again = create_app(settings)  # a restart over the same LIBRARY_DIR
    try:
        assert browser_state_secret(again) == secret, "a restart drew a new secret: every stored token is lost"
        rows = again.library.search(owner_for(again.library, None, token))  # the token the browser kept
        assert [r.prompt for r in rows] == ["a lighthouse"]
        mode = stat.S_IMODE((config.dir / SECRET_FILE).stat().st_mode)
        assert mode == 0o600, oct(mode)
    finally:
        again.demo.close()


def test_processes_starting_at_once_agree_on_one_secret(tmp_path):
    libraries = [Library(tmp_path / "lib", LibraryConfig(dir=tmp_path / "lib", on_space=True)) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(browser_secret, libraries))
    assert len(secrets) == 1 and len(secrets.pop()) >= 32
    assert [p.name for p in (tmp_path / "lib").iterdir() if p.name.startswith(SECRET_FILE)] == [SECRET_FILE]
