"""The library's query language: free words (prompt prefixes) mixed with ``field:value`` terms.

    fox snow backend:fireworks seed:42 steps:>2 size:1024x768 ratio:16:9 cost:<0.002
    date:>2026-11-01 date:today date:7d status:failed star:yes tag:cats run:12 -backend:local

Pure: ``parse`` turns text into a typed ``Query`` (or raises QueryError naming every bad term at once),
and ``Query.sql`` turns it into WHERE clauses whose values are all SQL parameters; the column names
come from the fixed table below, never from the text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

MAX_CHARS = 500
MAX_TERMS = 64
MAX_TAG = 40
OPS = ("<=", ">=", "<", ">", "=")
TAG_RE = re.compile(rf"\w[\w .-]{{0,{MAX_TAG - 1}}}")
TERM_RE = re.compile(r'(-?)([A-Za-z_]+):("[^"]*"|\S*)|"([^"]*)"|(\S+)')
YES, NO = ("yes", "y", "true", "1", "on"), ("no", "n", "false", "0", "off")

#: Numeric fields: their column and whether values are whole numbers.
NUMBERS = {
    "seed": ("images.seed", int),
    "steps": ("images.num_inference_steps", int),
    "width": ("images.width", int),
    "height": ("images.height", int),
    "guidance": ("images.guidance_scale", float),
    "cost": ("images.cost", float),
    "latency": ("images.latency_s", float),
    "run": ("images.run_id", int),
    "id": ("images.id", int),
}
OTHERS = ("backend", "size", "ratio", "date", "status", "star", "tag")
FIELDS = (*NUMBERS, *OTHERS)
STATUS_ALIASES = {"made": "ok", "ok": "ok"}
SYNTAX = (
    "Words search prompts (prefixes: fox finds foxes). Fields: backend:fireworks · seed:42 · steps:>2 "
    "(also <, <=, >=, =) · size:1024x768 · ratio:16:9 · cost:<0.002 · date:>2026-11-01, date:today, date:7d · "
    "status:failed · star:yes · tag:cats · run:12 · -field:value excludes."
)


class QueryError(ValueError):
    """A query that cannot be run; the message names every unknown field and bad value."""


@dataclass(frozen=True)
class Term:
    """One ``field:value`` term: ``sql`` is its clause with ``?`` placeholders for ``args``."""

    text: str  # as typed, for the chips
    field: str
    sql: str
    args: tuple = ()
    negate: bool = False


@dataclass
class Query:
    """A parsed query: the free words (prompt prefixes) and the field terms, in the order typed."""

    words: list[str] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)

    def sql(self) -> tuple[list[str], list]:
        """The field terms' WHERE clauses (ANDed by the caller) and their parameters, in order."""
        clauses, args = [], []
        for t in self.terms:
            clauses.append(f"NOT ({t.sql})" if t.negate else f"({t.sql})")
            args += list(t.args)
        return clauses, args

    def chips(self) -> list[str]:
        """Every term as typed, words included: what the page shows as removable chips."""
        return [*self.words, *(t.text for t in self.terms)]


def parse(
    text: str, backends: Collection[str] | None = None, now: float | None = None, aliases: dict[str, str] | None = None
) -> Query:
    """Parse ``text``; ``backends`` are the known backend ids (None: any), ``aliases`` label → id
    (lower case), ``now`` the clock (dates such as ``today`` and ``7d`` are local time)."""
    if not isinstance(text, str):
        raise QueryError(f"the query must be text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise QueryError(f"the query is {len(text)} characters; at most {MAX_CHARS}")
    found = TERM_RE.findall(text)
    if len(found) > MAX_TERMS:
        raise QueryError(f"the query has {len(found)} terms; at most {MAX_TERMS}")
    now = time.time() if now is None else now
    q, problems = Query(), []
    for neg, name, value, quoted, word in found:
        if not name:
            q.words += re.findall(r"\w+", quoted or word)
            continue
        typed = f"{neg}{name}:{value}"
        value = value[1:-1] if value.startswith('"') else value
        name = name.lower()
        if name not in FIELDS:
            problems.append(f"unknown field {name!r} (use {', '.join(FIELDS)})")
            continue
        try:
            sql, args = _term(name, value, backends, now, aliases or {})
        except ValueError as err:
            problems.append(f"{name}:{value!r}: {err}")
            continue
        q.terms.append(Term(typed, name, sql, tuple(args), bool(neg)))
    if problems:
        raise QueryError("; ".join(problems))
    return q


def _split_op(value: str) -> tuple[str, str]:
    for op in OPS:
        if value.startswith(op):
            return op, value[len(op) :]
    return "=", value


def _number(kind: type, value: str) -> int | float:
    try:
        n = kind(value)
    except ValueError:
        raise ValueError("a whole number" if kind is int else "a number") from None
    if kind is int and not -(2**63) <= n < 2**63:
        raise ValueError("out of range")
    if kind is float and (n != n or n in (float("inf"), float("-inf"))):
        raise ValueError("a finite number")
    return n


def _term(name: str, value: str, backends, now: float, aliases: dict) -> tuple[str, list]:
    if not value:
        raise ValueError("a value is needed")
    if name in NUMBERS:
        column, kind = NUMBERS[name]
        op, rest = _split_op(value)
        return f"{column} {op} ?", [_number(kind, rest)]
    return _OTHER[name](value, backends=backends, now=now, aliases=aliases)


def _backend(value: str, backends, aliases, **_) -> tuple[str, list]:
    b = aliases.get(value.lower(), value.lower())
    if backends is not None and b not in backends:
        raise ValueError(f"not a backend; use {', '.join(backends)}")
    return "images.backend = ?", [b]


def _size(value: str, **_) -> tuple[str, list]:
    m = re.fullmatch(r"(\d{1,5})[x×*](\d{1,5})", value.lower())
    if not m:
        raise ValueError("width x height, e.g. size:1024x768")
    return "images.width = ? AND images.height = ?", [int(m[1]), int(m[2])]


def _ratio(value: str, **_) -> tuple[str, list]:
    m = re.fullmatch(r"(\d{1,4})[:/x](\d{1,4})", value.lower())
    if not m or not int(m[1]) or not int(m[2]):
        raise ValueError("width:height, e.g. ratio:16:9")
    # The saved aspect-ratio preset, or a size within 1 % of it (1360×768 is "16:9").
    r = int(m[1]) / int(m[2])
    sql = "images.aspect_ratio = ? OR (images.height > 0 AND abs(images.width * 1.0 / images.height - ?) <= ?)"
    return sql, [f"{int(m[1])}:{int(m[2])}", r, r * 0.01]


def _date(value: str, now: float, **_) -> tuple[str, list]:
    op, rest = _split_op(value)
    rest = rest.lower()
    ago = re.fullmatch(r"(\d{1,5})([dh])", rest)
    if ago:  # an instant: "7d" alone means "in the last 7 days", "<7d" older than that
        instant = now - int(ago[1]) * (86400 if ago[2] == "d" else 3600)
        sql_op = {"=": ">=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[op]
        return f"images.created_at {sql_op} ?", [instant]
    today = datetime.fromtimestamp(now).date()
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    try:
        day = named[rest] if rest in named else date.fromisoformat(rest)
    except ValueError:
        raise ValueError("YYYY-MM-DD, today, yesterday, 7d or 24h") from None
    start = time.mktime(day.timetuple())
    end = time.mktime((day + timedelta(days=1)).timetuple())
    return {
        "=": ("images.created_at >= ? AND images.created_at < ?", [start, end]),
        "<": ("images.created_at < ?", [start]),
        "<=": ("images.created_at < ?", [end]),
        ">": ("images.created_at >= ?", [end]),
        ">=": ("images.created_at >= ?", [start]),
    }[op]


def _status(value: str, **_) -> tuple[str, list]:
    v = STATUS_ALIASES.get(value.lower(), value.lower())
    if v == "failed":
        return "images.status NOT IN ('ok', 'filtered', 'cancelled')", []
    if not re.fullmatch(r"[a-z_]{1,32}", v):
        raise ValueError("ok, failed, filtered, cancelled or a status such as rate_limited")
    return "images.status = ?", [v]


def _star(value: str, **_) -> tuple[str, list]:
    v = value.lower()
    if v not in YES + NO:
        raise ValueError("yes or no")
    # A constant, not a parameter: so SQLite can use the partial index of starred images.
    return ("images.star = 1" if v in YES else "images.star = 0"), []


def _tag(value: str, **_) -> tuple[str, list]:
    # IN, not EXISTS: SQLite reads the tag's index and looks the few images up, rather than test every image.
    return "images.id IN (SELECT image_id FROM image_tags WHERE tag = ?)", [clean_tag(value)]


_OTHER = {"backend": _backend, "size": _size, "ratio": _ratio, "date": _date, "status": _status, "star": _star}
_OTHER["tag"] = _tag


def clean_tag(tag: str) -> str:
    """A tag as kept: trimmed, lower case, 1 to 40 letters, digits, spaces, dots, dashes or underscores."""
    if not isinstance(tag, str):
        raise ValueError(f"a tag must be text, got {type(tag).__name__}")
    t = " ".join(tag.split()).lower()
    if not TAG_RE.fullmatch(t):
        raise ValueError(f"tag {tag[:50]!r}: 1 to {MAX_TAG} letters, digits, spaces, '.', '-' or '_'")
    return t
