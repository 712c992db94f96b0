"""/library's query language and /library_mark through the running app (gradio_client over HTTP), after a
restart too; bad arguments get their reason back, one log line and no traceback."""

from __future__ import annotations

import logging

import pytest
from gradio_client import Client

from library import LibraryConfig
from tests.test_library_app import serve


def make(client: Client, prompt: str, backends: list[str], seed: int, steps: int = 4) -> list[dict]:
    _, records = client.predict(
        prompt=prompt, backends=backends, seed=seed, num_images=1, num_inference_steps=steps,
        aspect_ratio="Custom", width=512, height=384, api_name="/generate",
    )  # fmt: skip
    return records


def find(client: Client, query: str, **kw) -> list[tuple[str, int]]:
    return [(r["backend"], r["seed"]) for r in client.predict(query=query, **kw, api_name="/library")[1]]


def test_field_queries_stars_and_tags_survive_a_restart(fireworks, aiml, tmp_path):
    config = LibraryConfig(dir=tmp_path / "lib")
    demo, url = serve(fireworks, aiml, config)
    try:
        client = Client(url, verbose=False)
        make(client, "a copper kettle", ["fireworks", "aiml"], 42)
        make(client, "a copper kettle", ["aiml"], 7, steps=2)
        assert find(client, "kettle seed:42 backend:aiml") == [("aiml", 42)]
        assert find(client, "steps:<3 size:512x384") == [("aiml", 7)]
        ids = [r["id"] for r in client.predict(query="seed:42", api_name="/library")[1]]
        marked = client.predict(ids=ids, star=True, add_tags=["Cats"], api_name="/library_mark")
        assert [(r["id"], r["star"], r["tags"]) for r in marked] == [(i, True, ["cats"]) for i in ids]
    finally:
        demo.close()
    demo, url = serve(fireworks, aiml, config)  # a restart
    try:
        client = Client(url, verbose=False)
        assert sorted(find(client, "star:yes tag:cats")) == [("aiml", 42), ("fireworks", 42)]
        assert find(client, "kettle star:no") == [("aiml", 7)]
        unmarked = client.predict(ids=ids[:1], star=False, remove_tags=["cats"], api_name="/library_mark")
        assert [(r["star"], r["tags"]) for r in unmarked] == [(False, [])]
        assert len(find(client, "tag:cats")) == 1
    finally:
        demo.close()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({"query": "colour:red seed:x"}, "unknown field 'colour'"),
        ({"query": 42}, "the query must be text, got int"),
        ({"query": ["fox"]}, "the query must be text, got list"),
        ({"query": {"q": 1}}, "the query must be text, got dict"),
        ({"query": "a " * 65}, "at most 64"),
        ({"offset": 2**63}, "offset must be a whole number"),
        ({"limit": "ten"}, "limit must be a whole number"),
    ],
)
def test_bad_arguments_get_their_reason_and_one_log_line(app_lib, caplog, args, reason):
    client = Client(app_lib, verbose=False)
    with caplog.at_level(logging.INFO, logger="ui.api.library"), pytest.raises(Exception) as err:
        client.predict(**args, api_name="/library")
    assert reason in str(err.value)
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].exc_info is None


def test_mark_refuses_bad_tags_and_types(app_lib):
    client = Client(app_lib, verbose=False)
    for args, reason in [
        ({"ids": "1"}, "ids must be a list"),
        ({"ids": [1], "star": "yes"}, "star must be true, false or null"),
        ({"ids": [1], "add_tags": ["<b>"]}, "1 to 40 letters"),
    ]:
        with pytest.raises(Exception, match=reason):
            client.predict(**args, api_name="/library_mark")
    assert client.predict(ids=[999], star=True, api_name="/library_mark") == []  # not there: nothing changed


@pytest.fixture(scope="module")
def app_lib(tmp_path_factory, fireworks, aiml):
    demo, url = serve(fireworks, aiml, LibraryConfig(dir=tmp_path_factory.mktemp("lib")))
    yield url
    demo.close()
