"""README promises about keys: the served OpenAI route's key, the settings that guard it, endpoint ids,
redaction of cut and URL-safe base64 echoes, and `python app.py`'s log filter: issue 29, items 1, 2, 5, 6,
13–15 and 28 (the served route through the official openai client only)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys
import time

import openai
import pytest
import torch

from config import load
from tests.conftest import FW_KEY, app_config, app_settings, free_port
from tests.test_space_keys import error, every_output, fireworks_with

SERVE_KEY = "serve-secret-9d8c7b6a5f4e"


# --- items 2, 5, 6: settings that guard the doors -----------------------------------------------------
@pytest.mark.parametrize("length", range(8, 16))
def test_a_serve_key_of_8_to_15_characters_stops_the_app(length):
    with pytest.raises(ValueError, match="shorter than 16"):
        load({"OPENAI_SERVE_KEY": "k" * length})
    assert load({"OPENAI_SERVE_KEY": "k" * 16}).serving.key == "k" * 16


def test_allow_openai_serve_0_on_a_space_stops_the_app():
    with pytest.raises(ValueError, match="ALLOW_OPENAI_SERVE=1"):
        load({"OPENAI_SERVE_KEY": SERVE_KEY, "SPACE_ID": "me/space", "ALLOW_OPENAI_SERVE": "0"})


@pytest.mark.parametrize("ident", ["local", "aiml", "fireworks"])
def test_an_endpoint_may_not_take_a_built_in_backends_id(ident):
    entry = {"id": ident, "label": "X", "base_url": "https://api.example.com/v1", "model": "m"}
    with pytest.raises(ValueError, match=f"'{ident}' is a built-in backend's"):
        load({"OPENAI_IMAGE_BACKENDS": json.dumps([entry])})


# --- items 1 and 28: the served route ------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(fireworks, aiml, tiny_model):
    """The app as main() launches it with OPENAI_SERVE_KEY (app.launch_options), on a free port."""
    from app import create_app, launch_options

    app = create_app(app_config(app_settings(fireworks, aiml, tiny_model), serving=load(
        {"OPENAI_SERVE_KEY": SERVE_KEY}
    ).serving))  # fmt: skip
    port = free_port()
    app.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **launch_options(app))  # fmt: skip
    yield f"http://127.0.0.1:{port}", app.backends
    app.demo.close()


def oai(url: str, key: str = SERVE_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=300)


@pytest.mark.parametrize("key", [SERVE_KEY[:1], SERVE_KEY[:8], SERVE_KEY[:-1], SERVE_KEY + "x"])
def test_part_of_the_serve_key_is_refused(served, key):
    with pytest.raises(openai.AuthenticationError):
        oai(served[0], key).models.list()


@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "bearer  ", f"Basic {SERVE_KEY}", SERVE_KEY])
def test_an_empty_bearer_or_another_scheme_is_refused(served, header):
    # http.client, because httpx will not send a header value that ends in a space.
    port = int(served[0].rsplit(":", 1)[1])
    body = json.dumps({"prompt": "a red fox", "size": "64x64"})
    for method, path in (("POST", "/v1/images/generations"), ("GET", "/v1/models")):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request(method, path, body=body if method == "POST" else None, headers={"Authorization": header})
        assert conn.getresponse().status == 401, (method, header)
        conn.close()


def test_out_of_gpu_memory_is_answered_503(served, monkeypatch):
    from backends.local import backend as local_backend

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(local_backend, "_denoise_on_gpu", out_of_memory)
    with pytest.raises(openai.InternalServerError) as caught:
        oai(served[0]).images.generate(prompt="a red fox", size="64x64", extra_body={"num_inference_steps": 1})
    assert caught.value.status_code == 503 and "out of GPU memory" in caught.value.body["message"]


def test_an_unavailable_local_backend_is_answered_503(served, tmp_path):
    local = served[1]["local"]
    model = local.settings.model
    local.reconfigure(model=str(tmp_path / "no-model-here"))
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            oai(served[0]).images.generate(prompt="a red fox", size="64x64", extra_body={"num_inference_steps": 1})
    finally:
        local.reconfigure(model=model)
    assert caught.value.status_code == 503 and "unavailable" in caught.value.body["message"]


# --- items 13 and 14: cut and URL-safe base64 echoes, checked without the code's own encoder -------------------
# A key whose standard base64 has both "+" and "/" (at offset 0), so its URL-safe form is a different string.
KEY = "fw-?~>?~>k9Zq~?w~"


def blob(offset: int, urlsafe: bool) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(b"z" * offset + KEY.encode() + b"--tail").decode()


def key_part(offset: int, urlsafe: bool) -> str:
    """The characters of ``blob`` that depend on the key's bytes only (none of the padding around it)."""
    text = blob(offset, urlsafe)
    return text[-(-offset * 8 // 6) + 1 : (offset + len(KEY)) * 8 // 6 - 1]


def test_the_test_key_really_has_two_base64_alphabets():
    assert {"+", "/"} <= set(blob(0, False)) and blob(0, False) != blob(0, True)


SHAPES = {
    **{f"cut_{n}": (lambda n=n: f"bad key {KEY[2 : 2 + n]} given") for n in range(8, 12)},
    **{f"urlsafe_{o}": (lambda o=o: blob(o, True)) for o in range(3)},
    **{f"standard_{o}": (lambda o=o: "blob " + blob(o, False)) for o in range(3)},
}


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_cut_or_base64_echo_of_the_key_shows_nowhere(shape, tmp_path, caplog, monkeypatch):
    import tests.test_space_keys as harness

    monkeypatch.setattr(harness, "KEY", KEY)
    monkeypatch.setitem(harness.SHAPES, shape, lambda: error(400, SHAPES[shape]()))
    backend = fireworks_with(shape)
    outputs = await every_output(backend, tmp_path, caplog)
    await backend.client.aclose()
    assert "bad_request" in outputs["records"]  # the echo reached the app as an upstream error
    windows = {KEY[i : i + 8].lower() for i in range(len(KEY) - 7)}
    forms = {key_part(o, u)[i : i + 8] for o in range(3) for u in (False, True) for i in range(len(key_part(o, u)) - 7)}
    for where, text in outputs.items():
        assert not [w for w in windows if w in text.lower()], f"{shape}: a cut of the key shows in {where}"
        assert not [f for f in forms if f in text], f"{shape}: a base64 form of the key shows in {where}"


# --- item 15: `python app.py` installs the log filter ----------------------------------------------------------
def test_python_app_py_redacts_the_key_in_its_log_lines(fireworks, tmp_path):
    from gradio_client import Client

    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SPACE_", "OPENAI_", "FIREWORKS_", "AIML_"))}
    env = {
        **clean,
        "FLUX_DEVICE": "cpu",
        "LIBRARY_DIR": "off",
        "SPEND_LEDGER_PATH": str(tmp_path / "spend.sqlite3"),
        "FIREWORKS_API_KEY": FW_KEY,
        # With --log-requests httpx logs every request's URL at INFO: this one carries the key in its path.
        "FIREWORKS_BASE_URL": f"{fireworks.base_url.rstrip('/')}/{FW_KEY}",
    }
    out = tmp_path / "app.log"
    with out.open("w") as log:
        command = [sys.executable, "app.py", "--port", str(port), "--log-requests"]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 300
        while "open http" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()[-2000:]
            time.sleep(0.2)  # waiting on the app's own "open http://…" line, not on a time
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            prompt="a fox", backends=["fireworks"], width=128, height=128, api_name="/generate"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    text = out.read_text()
    assert "HTTP Request: POST" in text  # the line was logged…
    assert FW_KEY not in text  # …with the key taken out
