"""A loopback fake of an OpenAI-compatible images endpoint (``POST /v1/images/generations``).

``strict`` behaves like OpenAI itself: any field it does not document is refused with 400
"Unrecognized request argument supplied: seed". Lenient (the default) takes the extras engines
such as vLLM-Omni and Xinference add (seed, num_inference_steps, guidance_scale, negative_prompt).
``sizes``, when set, is the only sizes it takes (400 otherwise).

Modes: default (b64_json, or a URL when asked), ``url`` (always a URL on its own origin),
``offsite_url`` (a plain-http URL on another host), ``400``, ``429`` (always, OpenAI-shaped, with
``Retry-After``), ``nodata`` (200 with an empty ``data``), and FakeServer's shared modes (``500``,
``429then``, ``echo_key``, ``timeout``, ...).
"""

from __future__ import annotations

import base64
import random
import uuid
from http.server import BaseHTTPRequestHandler

from tests.fakes.servers import FakeServer, fake_image

OPENAI_FIELDS = {
    "model",
    "prompt",
    "n",
    "size",
    "response_format",
    "quality",
    "style",
    "user",
    "background",
    "moderation",
    "output_format",
    "output_compression",
}
ENGINE_EXTRAS = {"seed", "num_inference_steps", "guidance_scale", "negative_prompt"}


class FakeOpenAIImages(FakeServer):
    """See the module docstring; ``label`` is drawn on the images, so two fakes' images differ."""

    def __init__(self, port: int = 0, label: str = "fake OpenAI") -> None:
        super().__init__(port)
        self.label = label
        self.files: dict[str, bytes] = {}

    def reset(self) -> None:
        super().reset()
        self.strict = False
        self.sizes: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def error_body(self, message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    def auth_error(self) -> dict:
        return self.error_body("Incorrect API key provided: sk-****.", code="invalid_api_key")

    def common_faults(self, h: BaseHTTPRequestHandler) -> bool:
        if not self.valid_key and "Authorization" not in h.headers:
            h.headers["Authorization"] = "Bearer "  # valid_key "": an engine without auth (the log keeps the truth)
        return super().common_faults(h)

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        name = h.path.rsplit("/", 1)[-1]
        if h.path.startswith("/v1/files/") and name in self.files:
            self.send(h, 200, self.files[name], "image/png")
        else:
            self.send(h, 404, b"not found", "text/plain")

    def problems(self, body: dict) -> list[str]:
        """What this endpoint refuses in ``body``, OpenAI's way (the first is what it says)."""
        allowed = OPENAI_FIELDS if self.strict else OPENAI_FIELDS | ENGINE_EXTRAS
        found = [f"Unrecognized request argument supplied: {k}" for k in body if k not in allowed]
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            found.append("'prompt' is a required property")
        size = body.get("size", "1024x1024")
        if self.sizes and size not in self.sizes:
            found.append(f"'{size}' is not one of {self.sizes} - 'size'")
        if body.get("n", 1) != 1:
            found.append("n must be 1 for this model")
        return found

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict | None) -> None:
        if h.path != "/v1/images/generations":
            self.send_json(h, 404, self.error_body(f"Invalid URL (POST {h.path})"))
            return
        if self.common_faults(h):
            return
        if self.mode == "429":
            body_429 = self.error_body("Rate limit reached for images per minute", "requests", "rate_limit_exceeded")
            self.send_json(h, 429, body_429, {"Retry-After": self.retry_after})
            return
        body = body if isinstance(body, dict) else {}
        problems = self.problems(body)
        if self.mode == "400":
            problems.append("Your request was rejected as a result of our safety system.")
        if problems:
            self.send_json(h, 400, self.error_body(problems[0]))
            return
        if self.mode == "nodata":
            self.send_json(h, 200, {"created": 1, "data": []})
            return
        width, height = (int(v) for v in str(body.get("size", "1024x1024")).split("x"))
        seed = body.get("seed")
        data = fake_image(width, height, seed if isinstance(seed, int) else random.randint(1, 2**31), self.label)
        if self.mode in ("url", "offsite_url") or body.get("response_format") == "url":
            name = f"{uuid.uuid4().hex}.png"
            with self.lock:
                self.files[name] = data
            host = "http://cdn.example.invalid" if self.mode == "offsite_url" else self.base_url
            item = {"url": f"{host}/files/{name}"}
        else:
            item = {"b64_json": base64.b64encode(data).decode()}
        self.send_json(h, 200, {"created": 1, "data": [item]})
