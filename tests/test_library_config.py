"""LIBRARY_* settings, whose library a request sees, and what the app says at start-up."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from config import load
from library import Library, LibraryConfig
from library import config as library_config
from library.store import LOCAL_OWNER
from ui.library_access import owner_for


def test_default_is_outputs_beside_the_app_and_off_turns_it_off():
    assert load({}).library.dir == Path(library_config.__file__).resolve().parent.parent / "outputs"
    assert load({"LIBRARY_DIR": "off"}).library.dir is None
    assert load({"LIBRARY_DIR": "/srv/flux"}).library.dir == Path("/srv/flux")


def test_on_a_space_data_when_there_is_persistent_storage_else_a_temp_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(library_config, "SPACE_DATA", tmp_path)
    config = load({"SPACE_ID": "me/flux", "LIBRARY_MAX_GB": "0.5", "LIBRARY_TTL_DAYS": "2"}).library
    assert config.on_space and config.dir == tmp_path / "flux-library"
    assert (config.ttl_days, config.max_bytes, config.max_per_visitor) == (2, 512 * 1024**2, 200)
    monkeypatch.setattr(library_config, "SPACE_DATA", tmp_path / "absent")
    assert load({"SPACE_ID": "me/flux"}).library.dir == Path(tempfile.gettempdir()) / "flux-library"


def test_a_bad_number_names_its_variable():
    with pytest.raises(ValueError, match="LIBRARY_MAX_IMAGES_PER_VISITOR"):
        load({"LIBRARY_MAX_IMAGES_PER_VISITOR": "lots"})


def test_owner_signed_in_anonymous_and_script(tmp_path):
    local = Library(tmp_path / "a")
    space = Library(tmp_path / "b", LibraryConfig(dir=tmp_path / "b", on_space=True))
    token = "0123456789abcdef0123456789abcdef"
    signed_in = SimpleNamespace(username="bea", session_hash="s1")
    anonymous = SimpleNamespace(username=None, session_hash="s2")
    assert owner_for(local, anonymous, token) == LOCAL_OWNER
    assert owner_for(space, signed_in, token) == "hf:bea"  # the account, whatever the browser
    assert owner_for(space, anonymous, token) == f"anon:{token}"
    assert owner_for(space, anonymous, "../../etc") == "anon:api-s2"  # a forged token is not used
    assert owner_for(space, anonymous) == "anon:api-s2"


def test_start_up_says_what_the_reconcile_did(tmp_path, capsys):
    from app import open_library

    lib = Library(tmp_path)
    folder = tmp_path / "2026-01-02"
    folder.mkdir()
    (folder / "flux-aiml-seed1-x.png.tmp-abcd").write_bytes(b"half a file")
    lib.close()
    assert open_library(LibraryConfig(dir=tmp_path)) is not None
    assert "1 leftover temporary files were removed" in capsys.readouterr().out
    assert open_library(LibraryConfig(dir=None)) is None


def test_a_library_that_cannot_be_opened_leaves_the_app_running_without_one(tmp_path, capsys):
    from app import open_library

    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("x")
    assert open_library(LibraryConfig(dir=blocked)) is None
    assert "images will not be kept" in capsys.readouterr().out
