"""The library through the running app: /generate and /grid keep every image, /library finds them,
after a restart too, and a Space keeps each visitor's images to that visitor."""

from __future__ import annotations

import sqlite3

import httpx
from gradio_client import Client

from backends import Settings
from images.pngmeta import read_params
from library import Library, LibraryConfig
from tests.conftest import AIML_KEY, FW_KEY, app_config, free_port


def settings_for(fireworks, aiml) -> Settings:
    return Settings(
        fireworks_api_key=FW_KEY,
        aiml_api_key=AIML_KEY,
        fireworks_base_url=fireworks.base_url,
        aiml_base_url=aiml.base_url,
        http_read_timeout_s=6.0,
    )


def serve(fireworks, aiml, config: LibraryConfig, **launch):
    from app import create_app
    from config import PageOptions
    from ui import LAUNCH_OPTIONS

    demo = create_app(app_config(settings_for(fireworks, aiml), PageOptions(), library=config)).demo
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **LAUNCH_OPTIONS, **launch
    )
    return demo, f"http://127.0.0.1:{port}/"


def test_generate_then_library_after_a_restart(fireworks, aiml, tmp_path):
    config = LibraryConfig(dir=tmp_path / "lib")
    demo, url = serve(fireworks, aiml, config)
    try:
        gallery, records = Client(url, verbose=False).predict(
            prompt="a copper kettle on a stove", backends=["fireworks", "aiml"], seed=321, num_images=2,
            aspect_ratio="Custom", width=512, height=512, api_name="/generate",
        )  # fmt: skip
        assert len(gallery) == 4 and {r["status"] for r in records} == {"ok"}
    finally:
        demo.close()
    demo, url = serve(fireworks, aiml, config)  # a new app on the same folder: a restart
    try:
        client = Client(url, verbose=False)
        found, rows = client.predict(query="kettle", api_name="/library")
        assert len(rows) == 4 and len(found) == 4
        assert {(r["backend"], r["seed"]) for r in rows} == {(b, s) for b in ("fireworks", "aiml") for s in (321, 322)}
        keys = {"id", "created_at", "prompt", "backend", "seed", "width", "height", "num_inference_steps"}
        assert keys | {"status", "latency_s", "cost", "file"} <= set(rows[0])
        assert rows[0]["created_at"] >= rows[-1]["created_at"]  # newest first
        # Each file is a PNG with the download's chunks, in a dated folder, named as a download is.
        for row in rows:
            path = config.dir / row["file"]
            assert path.parent.name[:2] == "20" and path.name.startswith(f"flux-{row['backend']}-seed{row['seed']}-")
            assert read_params(path)["seed"] == row["seed"]
        only_aiml, _ = client.predict(query="kettle", backends=["aiml"], limit=1, api_name="/library")[1], None
        assert [r["backend"] for r in only_aiml] == ["aiml"]
        assert client.predict(query="teapot", api_name="/library")[1] == []
        # The library's own folder is never served: a guessed URL of a real file is refused.
        guessed = httpx.get(f"{url}gradio_api/file={config.dir / rows[0]['file']}")
        assert guessed.status_code in (403, 404)
    finally:
        demo.close()
    with sqlite3.connect(config.dir / "library.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_grid_cells_are_kept_as_one_grid_run(fireworks, aiml, tmp_path):
    config = LibraryConfig(dir=tmp_path / "lib")
    demo, url = serve(fireworks, aiml, config)
    try:
        Client(url, verbose=False).predict(
            prompt="a paper boat", x_axis="seed", x_values="5-7", backends=["fireworks"],
            aspect_ratio="Custom", width=256, height=256, api_name="/grid",
        )  # fmt: skip
    finally:
        demo.close()
    lib = Library(config.dir, config)
    rows = lib.search("local", query="boat")
    assert sorted(r.seed for r in rows) == [5, 6, 7] and len({r.run_id for r in rows}) == 1
    run, images = lib.get_run("local", rows[0].run_id)
    assert run.kind == "grid" and run.meta["grid"]["x_axis"] == "seed"
    assert sorted(i.cell["column"] for i in images) == ["seed=5", "seed=6", "seed=7"]


def test_disk_full_still_returns_the_images(fireworks, aiml, tmp_path, monkeypatch, caplog):
    from library import files as library_files

    def full(fd):
        raise OSError(28, "No space left on device")

    config = LibraryConfig(dir=tmp_path / "lib")
    demo, url = serve(fireworks, aiml, config)
    monkeypatch.setattr(library_files.os, "fsync", full)
    try:
        gallery, records = Client(url, verbose=False).predict(
            prompt="a full disk", backends=["fireworks"], seed=5, num_images=2,
            aspect_ratio="Custom", width=256, height=256, api_name="/generate",
        )  # fmt: skip
    finally:
        demo.close()
    assert len(gallery) == 2 and {r["status"] for r in records} == {"ok"}
    assert "images not saved: the disk is full" in caplog.text
    assert Library(config.dir, config).search("local", query="disk") == []


def test_sixteen_sessions_generating_at_once_keep_every_image(fireworks, aiml, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    config = LibraryConfig(dir=tmp_path / "lib")
    demo, url = serve(fireworks, aiml, config)

    def one(n: int):
        # Sixteen at once on a loaded machine: each client's calls get the deadline a queued run needs
        # (gradio_client's own default is 20 s), and the run is waited on until it has finished.
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 300})
        job = client.submit(
            prompt=f"crowd {n}", backends=["fireworks", "aiml"], seed=1000 + n * 10, num_images=2,
            aspect_ratio="Custom", width=128, height=128, api_name="/generate",
        )  # fmt: skip
        return job.result(timeout=300)

    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(16)))
    finally:
        demo.close()
    assert all(len(gallery) == 4 for gallery, _ in results)
    lib = Library(config.dir, config)
    assert lib.count("local", query="crowd") == 64
    assert len({(r.backend, r.seed) for r in lib.search("local", query="crowd", limit=100)}) == 64
    with sqlite3.connect(config.dir / "library.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_space_visitors_never_see_each_others_images(fireworks, aiml, tmp_path):
    config = LibraryConfig(dir=tmp_path / "lib", on_space=True)
    demo, url = serve(fireworks, aiml, config)
    try:
        alice, bob = Client(url, verbose=False), Client(url, verbose=False)
        alice.predict(
            prompt="alice's secret garden", backends=["fireworks"], seed=11, aspect_ratio="Custom",
            width=128, height=128, api_name="/generate",
        )  # fmt: skip
        gallery, rows = alice.predict(query="garden", api_name="/library")
        assert [r["seed"] for r in rows] == [11] and len(gallery) == 1
        assert list(bob.predict(query="garden", api_name="/library")) == [[], []]
        assert list(bob.predict(api_name="/library")) == [[], []]
        # Alice's served copy lives under a random folder; the library's own file is never served.
        lib_file = config.dir / rows[0]["file"]
        assert lib_file.exists()
        assert httpx.get(f"{url}gradio_api/file={lib_file}").status_code in (403, 404)
        assert httpx.get(f"{url}gradio_api/file={config.dir / 'library.sqlite3'}").status_code in (403, 404)
    finally:
        demo.close()


async def test_mcp_generate_then_the_library_tool(fireworks, aiml, tmp_path):
    import json

    from tests.helpers import call, images, texts

    demo, url = serve(fireworks, aiml, LibraryConfig(dir=tmp_path / "lib"), mcp_server=True)
    try:
        args = {"prompt": "an agent's owl", "backends": ["aiml"], "seed": 31, "width": 128, "height": 128}
        await call(url, "generate", aspect_ratio="Custom", **args)
        tools, result = await call(url, "library", query="owl")
    finally:
        demo.close()
    assert "library" in {t.name for t in tools}
    assert len(images(result)) == 1
    records = next(json.loads(t) for t in texts(result) if t.startswith("[{"))
    assert [(r["backend"], r["seed"], r["prompt"]) for r in records] == [("aiml", 31, "an agent's owl")]
