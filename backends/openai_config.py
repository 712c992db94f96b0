"""OPENAI_IMAGE_BACKENDS: the OpenAI-compatible endpoints an operator configures, checked at start-up.

The setting is a JSON list, or a path to a JSON file (a list, or ``{"backends": [...]}``) or a
TOML file (``[[backends]]`` tables; TOML needs Python 3.11's tomllib). Every problem names the
entry and the field, so a bad setting stops the app with one line, not a traceback.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ENV = "OPENAI_IMAGE_BACKENDS"
EXTRAS = ("seed", "num_inference_steps", "guidance_scale")
RESERVED_IDS = ("local", "fireworks", "aiml")
FIELDS = ("id", "label", "base_url", "model", "key_env", "extras", "sizes", "price_per_image")
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # safe in file names, records and the API's `backends`
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_SIZE = re.compile(r"^\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*$")


class ConfigError(ValueError):
    """OPENAI_IMAGE_BACKENDS is unusable; the message names the entry and the field."""


@dataclass(frozen=True)
class OpenAIEndpoint:
    """One configured endpoint that speaks ``POST {base_url}/images/generations``."""

    id: str
    label: str
    base_url: str
    model: str
    key_env: str | None = None  # None: the endpoint takes no key (e.g. an engine on your own network)
    extras: tuple[str, ...] = ()  # which of EXTRAS it takes; the others are never sent
    sizes: tuple[tuple[int, int], ...] = ()  # () = any W×H; else only these
    price_per_image: float | None = None  # USD


def parse_size(value: object) -> tuple[int, int] | None:
    """ "1024x768" or [1024, 768] → (1024, 768); None if it is neither."""
    if isinstance(value, str) and (m := _SIZE.match(value)):
        return int(m.group(1)), int(m.group(2))
    if isinstance(value, list | tuple) and len(value) == 2 and all(type(v) is int and v > 0 for v in value):
        return int(value[0]), int(value[1])
    return None


def _text(entry: Mapping, name: str, where: str, optional: bool = False) -> str | None:
    value = entry.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: `{name}` must be non-empty text, got {value!r:.60}")
    return value.strip()


def _endpoint(entry: object, index: int) -> OpenAIEndpoint:
    """One entry, checked field by field."""
    where = f"{ENV} entry {index + 1}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: must be an object with id, label, base_url, model, got {type(entry).__name__}")
    if isinstance(entry.get("id"), str):
        where += f" ({entry['id']!r:.40})"
    unknown = [k for k in entry if k not in FIELDS]
    if unknown:
        raise ConfigError(f"{where}: unknown field `{str(unknown[0]):.40}`; the fields are {', '.join(FIELDS)}")
    ident = _text(entry, "id", where)
    if not _ID.match(ident):
        raise ConfigError(f"{where}: `id` must be lowercase letters, digits, - or _ (at most 32), starting a-z")
    if ident in RESERVED_IDS:
        raise ConfigError(f"{where}: `id` {ident!r} is a built-in backend's; choose another")
    label = _text(entry, "label", where)
    if len(label) > 40:
        raise ConfigError(f"{where}: `label` is {len(label)} characters; at most 40")
    base_url = _text(entry, "base_url", where).rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{where}: `base_url` must be http(s)://host[:port]/path, e.g. http://gpu-box:9997/v1")
    if parts.username or parts.password:
        raise ConfigError(f"{where}: `base_url` must not hold credentials; put the key in the variable `key_env` names")
    model = _text(entry, "model", where)
    key_env = _text(entry, "key_env", where, optional=True)
    if key_env is not None and not _ENV_NAME.match(key_env):
        raise ConfigError(f"{where}: `key_env` must name an environment variable, e.g. TOGETHER_API_KEY")
    return OpenAIEndpoint(
        id=ident,
        label=label,
        base_url=base_url,
        model=model,
        key_env=key_env,
        extras=_extras(entry.get("extras", []), where),
        sizes=_sizes(entry.get("sizes"), where),
        price_per_image=_price(entry.get("price_per_image"), where),
    )


def _extras(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `extras` must be a list drawn from {', '.join(EXTRAS)}")
    bad = [v for v in value if v not in EXTRAS]
    if bad:
        raise ConfigError(f"{where}: `extras` has {bad[0]!r:.40}; use any of {', '.join(EXTRAS)}")
    return tuple(e for e in EXTRAS if e in value)


def _sizes(value: object, where: str) -> tuple[tuple[int, int], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where}: `sizes` must be a non-empty list like ["1024x1024", "1024x768"]')
    sizes = []
    for item in value:
        size = parse_size(item)
        if size is None or not all(16 <= side <= 8192 for side in size):
            raise ConfigError(f'{where}: `sizes` has {item!r:.40}; write each as "WxH", e.g. "1024x1024"')
        sizes.append(size)
    return tuple(sizes)


def _price(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: `price_per_image` must be a price of 0 or more USD, e.g. 0.003")
    return float(value)


def _load_text(raw: str) -> object:
    """The setting's value: inline JSON, or the contents of the file it names."""
    text = raw.strip()
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except ValueError as err:
            raise ConfigError(f"{ENV} is not valid JSON: {err}") from None
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"{ENV}: no file at {text!r:.200}; give a JSON list or the path to a .json or .toml file")
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise ConfigError(f"{ENV}: TOML needs Python 3.11 or later; write {path.name} as JSON") from None
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{ENV}: {path.name} is not valid TOML: {err}") from None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{ENV}: {path.name} is not valid JSON: {err}") from None


def parse_endpoints(raw: str | None) -> tuple[OpenAIEndpoint, ...]:
    """The endpoints the setting describes (none if it is unset); ConfigError names what is wrong."""
    if not raw or not raw.strip():
        return ()
    data = _load_text(raw)
    if isinstance(data, Mapping) and set(data) == {"backends"}:
        data = data["backends"]
    if not isinstance(data, list):
        raise ConfigError(f'{ENV} must be a list of endpoints (or {{"backends": [...]}}), got {type(data).__name__}')
    endpoints = [_endpoint(entry, i) for i, entry in enumerate(data)]
    seen: set[str] = set()
    for i, ep in enumerate(endpoints):
        if ep.id in seen:
            raise ConfigError(f"{ENV} entry {i + 1} ({ep.id!r}): `id` is used twice; each endpoint needs its own")
        seen.add(ep.id)
    return tuple(endpoints)
