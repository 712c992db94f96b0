"""Loopback fakes of the Fireworks and AI/ML image APIs, written from ../shared/reference/hosted-apis.md.

Each runs a real HTTP/1.1 (keep-alive) server on 127.0.0.1 in a thread. Tests steer them
through attributes (``mode``, ``delay_s``, ...) and read back what they received.

Hostile modes both fakes share (see ``common_faults`` and ``send_image``):
``echo_key`` (an error that quotes the caller's key), ``huge`` (a body of ``huge_bytes``,
streamed from one small buffer so the fake itself stays small; ``huge_declared`` sends its
Content-Length first), ``huge_error`` (a 5 MB error message), ``trickle`` (one byte every
``trickle_s``), ``429bare`` (a 429 without Retry-After, once), ``429then`` (a 429 with
``Retry-After: retry_after``, once), ``bad_seed`` (the seed reported is ``bad_seed_value``),
``drop_reused`` (a request on a reused keep-alive connection is read, then the connection is
closed with no answer: the request may have been acted on).
"""

from __future__ import annotations

import base64
import io
import json
import random
import socket
import struct
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


def photo_like_png(width: int, height: int, seed: int) -> bytes:
    """A PNG that compresses like a photo (smooth shapes plus sensor noise), not like a flat gradient.

    FLUX images are photo-like: ~1.5-2.5 MB as PNG at 1024², and slow to encode. The benchmark
    serves these so the app's cost of handling real-sized images is measured.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.full((height, width, 3), 40, np.float32)
    for _ in range(12):  # soft blobs of colour, like out-of-focus shapes
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(width / 10, width / 2)
        weight = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
        img += weight * rng.uniform(10, 45, 3).astype(np.float32)
    img += 8 * np.sin(x / rng.uniform(3, 9))[..., None]  # texture
    img += rng.normal(0, 8, img.shape).astype(np.float32)  # sensor noise
    out = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


class FakeServer:
    """Common plumbing: a threaded server, a request log, auth, delays and scripted faults."""

    valid_key = "test-key"

    def __init__(self, port: int = 0) -> None:
        self.reset()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests handled at once since reset(): shows calls run concurrently
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
            served = 0  # requests on this connection

            def log_message(self, *args):  # keep test output quiet
                pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                finally:
                    self.served += 1

            def count(self):
                """Count this request as in flight while it is handled (not while a connection sits idle)."""
                with fake.lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)

            def done(self):
                with fake.lock:
                    fake.in_flight -= 1

            def do_POST(self):
                self.count()
                try:
                    self._post()
                finally:
                    self.done()

            def do_GET(self):
                self.count()
                try:
                    self._get()
                finally:
                    self.done()

            def record(self, method: str, body: dict | None) -> None:
                """Keep what was sent (call with fake.lock held)."""
                fake.requests.append({"method": method, "path": self.path, "headers": dict(self.headers), "body": body})

            def _post(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if fake.mode == "drop_reused" and self.served > 0:
                    with fake.lock:
                        self.record("POST", None)
                        fake.dropped += 1
                    fake.abort(self)
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                with fake.lock:
                    self.record("POST", body)
                fake.handle_post(self, body)

            def _get(self):
                with fake.lock:
                    self.record("GET", None)
                fake.handle_get(self)

        class Server(ThreadingHTTPServer):
            # socketserver's default backlog of 5 resets connections under load (the client sees
            # ReadError after writing its request); real APIs accept far more.
            request_queue_size = 1024

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
        self.photos: list[bytes] = getattr(self, "photos", [])  # if set, served (by seed) instead of drawings
        self.retry_after = "1"
        self.huge_bytes, self.huge_declared = 120 * 1024 * 1024, False
        self.trickle_s = 0.2
        self.bad_seed_value: object = 2**64
        self.dropped = 0
        self.max_in_flight = 0
        if hasattr(self, "lock"):
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

    @staticmethod
    def abort(h: BaseHTTPRequestHandler) -> None:
        """Close the connection at once with a reset, answering nothing."""
        h.close_connection = True
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()

    def send_huge(self, h: BaseHTTPRequestHandler, ctype: str, start: bytes = b"") -> None:
        """``huge_bytes`` of body from one 1 MB buffer; stops quietly when the client hangs up."""
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        if self.huge_declared:
            h.send_header("Content-Length", str(self.huge_bytes))
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        block = b"\0" * (1024 * 1024)
        try:
            h.wfile.write(start)
            sent = len(start)
            while sent < self.huge_bytes:
                part = block[: min(len(block), self.huge_bytes - sent)]
                h.wfile.write(part)
                sent += len(part)
        except OSError:
            pass

    def send_trickle(self, h: BaseHTTPRequestHandler, data: bytes, ctype: str) -> None:
        """``data`` one byte every ``trickle_s``: each read is quick, the whole never ends in time."""
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            for i in range(len(data)):
                h.wfile.write(data[i : i + 1])
                h.wfile.flush()
                time.sleep(self.trickle_s)
        except OSError:
            pass

    def common_faults(self, h: BaseHTTPRequestHandler) -> bool:
        """Delay, auth, and the scripted faults both APIs share. True if a reply was sent."""
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.mode == "timeout":
            time.sleep(3.0)
        auth = h.headers.get("Authorization") or ""
        if self.mode == "echo_key":
            # Some gateways quote the credential back: the app must never show it.
            self.send_json(h, 400, self.error_body(f"Malformed credential {auth!r}: {auth.removeprefix('Bearer ')}"))
            return True
        if auth != f"Bearer {self.valid_key}":
            self.send_json(h, 401, self.auth_error())
            return True
        if self.mode == "500":
            self.send_json(h, 500, {"error": {"message": "Internal server error"}, "message": "Internal server error"})
            return True
        if self.mode == "huge_error":
            self.send_json(h, 400, self.error_body("bad request " + "blah " * 1_000_000))
            return True
        if self.mode == "429then" and self._429_sent == 0:
            self._429_sent += 1
            self.send_json(h, 429, {"message": "Too Many Requests"}, {"Retry-After": self.retry_after})
            return True
        if self.mode == "429bare" and self._429_sent == 0:
            self._429_sent += 1
            self.send_json(h, 429, {"message": "Too Many Requests"})
            return True
        return False

    def error_body(self, message: str) -> dict:
        raise NotImplementedError

    def auth_error(self) -> dict:
        raise NotImplementedError

    def handle_post(self, h: BaseHTTPRequestHandler, body: dict | None) -> None:
        raise NotImplementedError

    def handle_get(self, h: BaseHTTPRequestHandler) -> None:
        self.send(h, 404, b"not found", "text/plain")


class FakeFireworks(FakeServer):
    """Modes: default/png, jpeg, json, json_plain (no data: prefix), filtered, unknown_finish (``finish_reason``),
    400, 500, 429then, 429bare, timeout, notimage, and the shared hostile modes."""

    path = "/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image"

    def reset(self) -> None:
        super().reset()
        self.finish_reason = "ERROR"
        self.reply_json = False  # answer in JSON whatever the mode (e.g. bad_seed as a JSON seed)

    def auth_error(self) -> dict:
        return {"error": {"code": "UNAUTHORIZED", "message": "Invalid API key"}}

    def error_body(self, message: str) -> dict:
        return {"error": {"message": message, "code": "INVALID_ARGUMENT", "type": "error"}, "request_id": "r-2"}

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
        if self.mode == "huge":
            self.send_huge(h, "image/png", b"\x89PNG\r\n\x1a\n")
            return
        finish = {"filtered": "CONTENT_FILTERED", "unknown_finish": self.finish_reason}.get(self.mode, "SUCCESS")
        fmt = "JPEG" if self.mode == "jpeg" or accept == "image/jpeg" else "PNG"
        data = self.photos[seed % len(self.photos)] if self.photos else fake_image(w, h_, seed, "fake Fireworks", fmt)
        if self.mode == "trickle":
            self.send_trickle(h, data, "image/png")
            return
        if self.mode == "bad_seed":
            seed = self.bad_seed_value
        if self.mode in ("json", "json_plain") or self.reply_json or accept == "application/json":
            b64 = base64.b64encode(data).decode()
            if self.mode != "json_plain":
                b64 = "data:image/png;base64," + b64
            self.send_json(h, 200, {"id": uuid.uuid4().hex, "base64": [b64], "finishReason": finish, "seed": seed})
            return
        self.send(h, 200, data, f"image/{fmt.lower()}", {"Seed": seed, "Finish-Reason": finish})


# The documented string presets of image_size (the fal convention; see hosted-apis.md, B).
AIML_PRESETS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}


class FakeAiml(FakeServer):
    """Modes: default (union of images[] and data[], URL), data201, images_only, b64, filtered,
    400, 500, 429then, 429bare, timeout, notimage (URL serves HTML), offsite (http URL on another host),
    https_loopback (an https URL naming localhost), redirect (the URL answers 302 to ``redirect_to``),
    huge_image (the URL serves ``huge_bytes``), trickle (the URL trickles), and the shared hostile modes.
    ``image_size`` may be an object or one of the documented string presets (default landscape_4_3)."""

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.files: dict[str, bytes] = {}

    def reset(self) -> None:
        super().reset()
        self.redirect_to = ""  # where mode "redirect" sends downloads ("{name}" = the file); "" = /moved/{name}
        self.redirects = 0  # redirects served since reset()

    def error_body(self, message: str) -> dict:
        return {"message": message, "path": "/v1/images/generations", "statusCode": 400}

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
        if self.mode == "redirect" and "/files/" in h.path:
            with self.lock:
                self.redirects += 1
            target = (self.redirect_to or "/moved/{name}").replace("{name}", name)
            self.send(h, 302, b"", "text/plain", {"Location": target})
        elif name in self.files and self.mode == "huge_image":
            self.send_huge(h, "image/png", b"\x89PNG\r\n\x1a\n")
        elif name in self.files and self.mode == "trickle":
            self.send_trickle(h, self.files[name], "image/png")
        elif name in self.files:
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
        if self.mode == "huge":
            self.send_huge(h, "application/json", b'{"images": [{"url": "')
            return
        body = body or {}
        size = body.get("image_size", "landscape_4_3")
        problems = []
        if body.get("model") != "flux/schnell":
            problems.append(f"Invalid enum value. Expected 'flux/schnell', received '{body.get('model')}'")
        if isinstance(size, str):
            if size not in AIML_PRESETS:
                problems.append(f"Invalid enum value. Expected {' | '.join(AIML_PRESETS)}, received '{size}'")
                size = {}
            else:
                size = dict(zip(("width", "height"), AIML_PRESETS[size], strict=True))
        elif not isinstance(size, dict):
            problems.append("image_size must be an object or a preset name")
            size = {}
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
            if self.mode == "notimage":
                data = b"<html>not an image</html>"
            elif self.photos:
                data = self.photos[(seed + i) % len(self.photos)]
            else:
                data = fake_image(w, hh, seed + i, "fake AI/ML")
            name = f"{uuid.uuid4().hex}.png"
            with self.lock:
                self.files[name] = data
                while len(self.files) > 512:  # a long load run must not grow the fake without bound
                    self.files.pop(next(iter(self.files)))
            if self.mode == "b64":
                images.append({"url": None, "b64_json": base64.b64encode(data).decode()})
            elif self.mode == "offsite":
                images.append({"url": f"http://cdn.example.invalid/{name}", "width": w, "height": hh})
            elif self.mode == "https_loopback":
                port = self.server.server_address[1]
                images.append({"url": f"https://localhost:{port}/files/{name}", "width": w, "height": hh})
            else:
                images.append(
                    {"url": f"{self.base_url}/files/{name}", "width": w, "height": hh, "content_type": "image/jpeg"}
                )  # the docs show wrong content types too
        nsfw = [self.mode == "filtered"] * n
        if self.mode == "bad_seed":
            seed = self.bad_seed_value
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
