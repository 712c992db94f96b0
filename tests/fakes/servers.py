"""Loopback fakes of the Fireworks and AI/ML image APIs, written from ../shared/reference/hosted-apis.md.

Each runs a real HTTP server on 127.0.0.1 in a thread. Tests steer them through
attributes (``mode``, ``delay_s``, ``status``) and read back what they received.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw, ImageFont

# The fake keeps its own copy of the table (not backends.sizes), so the client is checked against it.
RATIO_SIZES = {
    "1:1": (1024, 1024),
    "21:9": (1536, 640),
    "16:9": (1344, 768),
    "3:2": (1216, 832),
    "5:4": (1088, 896),
    "4:5": (896, 1088),
    "2:3": (832, 1216),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
}


def fake_image(width: int, height: int, seed: int, label: str, fmt: str = "PNG") -> bytes:
    """A gradient whose colours come from the seed, labelled, so screenshots say what made them."""
    rng = random.Random(f"{label}:{seed}")
    a = [rng.randrange(40, 220) for _ in range(3)]
    b = [rng.randrange(40, 220) for _ in range(3)]
    strip = Image.new("RGB", (1, 256))
    for y in range(256):
        t = y / 255
        strip.putpixel((0, y), tuple(round(a[i] * (1 - t) + b[i] * t) for i in range(3)))
    img = strip.resize((width, height))
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=max(12, min(width, height) // 14))
    except TypeError:
        font = ImageFont.load_default()
    draw.text((width // 16, height // 2 - height // 14), f"{label}\nseed {seed}", fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


class FakeServer:
    """Common plumbing: a threaded server, a request log, auth, delays and scripted faults."""

    valid_key = "test-key"

    def __init__(self, port: int = 0) -> None:
        self.mode = "default"
        self.delay_s = 0.0
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self._429_sent = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                fake.handle_post(self, body)

            def do_GET(self):
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                fake.handle_get(self)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients that time out on purpose close the socket mid-reply

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        self.mode, self.delay_s, self._429_sent = "default", 0.0, 0
        with self.lock:
            self.requests.clear()

    # --- helpers for subclasses --------------------------------------------------------
    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, str(v))
        h.end_headers()
        h.wfile.write(body)

    def send_json(self, h: BaseHTTPRequestHandler, status: int, obj: object, headers: dict | None = None) -> None:
        self.send(h, status, json.dumps(obj).encode(), "application/json", headers)

    def common_faults(self, h: BaseHTTPRequestHandler) -> bool:
        """Delay, auth, and the scripted faults both APIs share. True if a reply was sent."""
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.mode == "timeout":
            time.sleep(3.0)
        if h.headers.get("Authorization") != f"Bearer {self.valid_key}":
            self.send_json(h, 401, self.auth_error())
            return True
        if self.mode == "500":
            self.send_json(h, 500, {"error": {"message": "Internal server error"}, "message": "Internal server error"})
            return True
        if self.mode == "429then" and self._429_sent == 0:
            self._429_sent += 1
            self.send_json(h, 429, {"message": "Too Many Requests"}, {"Retry-After": "1"})
            return True
        return False

    def auth_error(self) -> dict:
        raise NotImplementedError

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict | None) -> None:
        raise NotImplementedError

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        self.send(h, 404, b"not found", "text/plain")


class FakeFireworks(FakeServer):
    """Modes: default/png, jpeg, json, json_plain (no data: prefix), filtered, 400, 500, 429then, timeout, notimage."""

    path = "/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image"

    def auth_error(self) -> dict:
        return {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict | None) -> None:
        if h.path != self.path:
            self.send_json(h, 404, {"error": {"message": "Model not found"}})
            return
        if self.common_faults(h):
            return
        ratio = (body or {}).get("aspect_ratio", "16:9")
        if not body or not body.get("prompt") or ratio not in RATIO_SIZES:
            self.send_json(
                h,
                400,
                {
                    "error": {
                        "message": f"invalid aspect_ratio {ratio!r}",
                        "code": "INVALID_ARGUMENT",
                        "type": "error",
                        "param": "aspect_ratio",
                    }
                },
            )
            return
        if self.mode == "400":
            self.send_json(
                h,
                400,
                {
                    "error": {
                        "message": "prompt violates the usage policy",
                        "code": "BAD_REQUEST",
                        "param": None,
                        "type": "error",
                    },
                    "request_id": "r-1",
                },
            )
            return
        seed = int(body.get("seed") or 0) or random.randint(1, 2**31 - 1)
        w, h_ = RATIO_SIZES[ratio]
        accept = h.headers.get("Accept", "")
        if self.mode == "notimage":
            self.send(h, 200, b"<html>upstream gateway page</html>", "image/png", {"Seed": seed})
            return
        finish = "CONTENT_FILTERED" if self.mode == "filtered" else "SUCCESS"
        fmt = "JPEG" if self.mode == "jpeg" or accept == "image/jpeg" else "PNG"
        data = fake_image(w, h_, seed, "fake Fireworks", fmt)
        if self.mode in ("json", "json_plain") or accept == "application/json":
            b64 = base64.b64encode(data).decode()
            if self.mode != "json_plain":
                b64 = "data:image/png;base64," + b64
            self.send_json(h, 200, {"id": uuid.uuid4().hex, "base64": [b64], "finishReason": finish, "seed": seed})
            return
        self.send(h, 200, data, f"image/{fmt.lower()}", {"Seed": seed, "Finish-Reason": finish})


class FakeAiml(FakeServer):
    """Modes: default (union of images[] and data[], URL), data201, images_only, b64, filtered,
    400, 500, 429then, timeout, notimage (URL serves HTML), offsite (http URL on another host)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.files: dict[str, bytes] = {}

    def auth_error(self) -> dict:
        return {
            "message": "This request requires a valid API key. You can create a new API key on the Billing page: "
            "https://aimlapi.com/app/keys",
            "path": "/v1/images/generations",
            "statusCode": 401,
        }

    def validation_error(self, detail: str) -> dict:
        return {"message": f"Body validation error! {detail}", "path": "/v1/images/generations", "statusCode": 400}

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        name = h.path.rsplit("/", 1)[-1]
        if name in self.files:
            ctype = "text/html" if self.mode == "notimage" else "image/png"
            self.send(h, 200, self.files[name], ctype)
        else:
            self.send(h, 404, b"not found", "text/plain")

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict | None) -> None:
        if h.path != "/images/generations":
            self.send_json(h, 404, {"message": "Not Found", "statusCode": 404})
            return
        if self.common_faults(h):
            return
        body = body or {}
        size = body.get("image_size") or {}
        problems = []
        if body.get("model") != "flux/schnell":
            problems.append(f"Invalid enum value. Expected 'flux/schnell', received '{body.get('model')}'")
        for side in ("width", "height"):
            v = size.get(side)
            if not isinstance(v, int) or not 64 <= v <= 1536 or v % 32:
                problems.append(f"image_size.{side} must be 64-1536 and a multiple of 32")
        if "seed" in body and (not isinstance(body["seed"], int) or body["seed"] < 1):
            problems.append("seed must be >= 1")
        if not 1 <= int(body.get("num_images", 1)) <= 4:
            problems.append("num_images must be 1-4")
        if self.mode == "400":
            problems.append("prompt: String must contain at most 4000 character(s)")
        if problems:
            self.send_json(h, 400, self.validation_error("; ".join(problems)))
            return
        seed = body.get("seed") or random.randint(1, 2**31 - 1)
        w, hh = size["width"], size["height"]
        n = int(body.get("num_images", 1))
        images, started = [], time.perf_counter()
        for i in range(n):
            data = (
                b"<html>not an image</html>" if self.mode == "notimage" else fake_image(w, hh, seed + i, "fake AI/ML")
            )
            name = f"{uuid.uuid4().hex}.png"
            self.files[name] = data
            if self.mode == "b64":
                images.append({"url": None, "b64_json": base64.b64encode(data).decode()})
            elif self.mode == "offsite":
                images.append({"url": f"http://cdn.example.invalid/{name}", "width": w, "height": hh})
            else:
                images.append(
                    {"url": f"{self.base_url}/files/{name}", "width": w, "height": hh, "content_type": "image/jpeg"}
                )  # the docs show wrong content types too
        nsfw = [self.mode == "filtered"] * n
        timings = {"inference": round(time.perf_counter() - started + 0.3, 4)}
        if self.mode == "data201":
            self.send_json(h, 201, {"data": images, "meta": {"usage": {"credits_used": 120000}}})
        elif self.mode == "images_only":
            self.send_json(
                h,
                200,
                {
                    "images": images,
                    "timings": timings,
                    "seed": seed,
                    "has_nsfw_concepts": nsfw,
                    "prompt": body.get("prompt"),
                },
            )
        else:
            self.send_json(
                h,
                200,
                {
                    "images": images,
                    "data": images,
                    "timings": timings,
                    "seed": seed,
                    "has_nsfw_concepts": nsfw,
                    "prompt": body.get("prompt"),
                    "meta": {"usage": {"tokens_used": 120000}},
                },
            )
