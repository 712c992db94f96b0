"""The library's index: one SQLite database (WAL) beside the files it lists.

One connection per thread, a process-wide writer lock and a busy timeout, so many sessions can
save at once without "database is locked". A file is written (temporary name, fsync, rename)
before its row is committed, so a crash can leave a file without a row (adopted at the next
start) but never a row without its file.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from library import files
from library.config import LibraryConfig
from library.links import LINKS
from library.query import Query, QueryError, clean_tag, parse
from library.schema import NewerSchema, ensure_fts, migrate
from library.scoring import Tally, median

log = logging.getLogger(__name__)
DB_NAME = "library.sqlite3"
BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another process's transaction
LOCAL_OWNER = "local"  # everything made off a Space: one person's library


QUERY_TIME_S = 2.0  # a search that takes longer is interrupted (a pathological query, not a slow disk)
PROGRESS_STEPS = 10_000  # SQLite instructions between two looks at the clock


class QueryTimeout(QueryError):
    """A search interrupted at its time limit."""


class NotSaved(Exception):
    """An image or row that could not be kept (disk full, read-only folder, database error)."""


@dataclass
class ImageRow:
    """One image asked for: its settings, what happened, and its file (None when none was made)."""

    prompt: str
    backend: str
    seed: int
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    status: str
    aspect_ratio: str | None = None
    received: dict = field(default_factory=dict)
    error: str | None = None
    latency_s: float | None = None
    cost: float | None = None
    cost_unit: str | None = None  # "usd" (hosted) or "gpu_s" (local)
    cost_text: str | None = None
    precision: str | None = None
    caption: str | None = None
    cell: dict | None = None  # a grid cell's column and row
    owner: str = LOCAL_OWNER
    session: str | None = None
    run_id: int | None = None
    id: int | None = None
    created_at: float = 0.0
    path: str | None = None  # relative to the library folder
    bytes: int = 0
    star: bool = False
    tags: list[str] = field(default_factory=list)  # in image_tags, not a column

    def record(self) -> dict:
        """The /library record: every field, with created_at as ISO 8601 and the path (in the library) as ``file``."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("owner", "session", "bytes")}
        # "file", not "path": gradio_client downloads any dict with a string "path" as if it were a file.
        out["file"] = out.pop("path")
        out["created_at"] = datetime.fromtimestamp(self.created_at).astimezone().isoformat(timespec="seconds")
        return out


@dataclass
class RunRow:
    id: int
    created_at: float
    kind: str  # "run" or "grid"
    prompt: str
    request: dict
    meta: dict  # per backend: label, wall and server time, received, notes, costs; a grid's axes


@dataclass
class OpenReport:
    """What opening the library found; the app prints ``message()``."""

    moved_aside: Path | None = None
    rows_dropped: int = 0  # rows whose file was gone
    files_adopted: int = 0  # files with no row, listed again from their PNG chunk
    leftovers_removed: int = 0  # temporary files and thumbnails of a crash
    expired: int = 0

    def message(self) -> str:
        parts = []
        if self.moved_aside:
            parts.append(f"the database could not be opened and was moved aside to {self.moved_aside.name}")
        if self.rows_dropped:
            parts.append(f"{self.rows_dropped} entries whose file was gone were removed")
        if self.files_adopted:
            parts.append(f"{self.files_adopted} files with no entry were listed again")
        if self.leftovers_removed:
            parts.append(f"{self.leftovers_removed} leftover temporary files were removed")
        if self.expired:
            parts.append(f"{self.expired} expired images were removed")
        return "; ".join(parts) or "nothing to reconcile"


COLUMNS = [f.name for f in fields(ImageRow) if f.name != "tags"]
JSON_COLUMNS = ("received", "cell")


def _row(values: sqlite3.Row) -> ImageRow:
    data = dict(values)
    for key in JSON_COLUMNS:
        data[key] = json.loads(data[key]) if data[key] else ({} if key == "received" else None)
    data["star"] = bool(data.get("star"))
    return ImageRow(**data)


class Library:
    """The library in ``root``: ``library.sqlite3`` plus dated folders of PNGs and their thumbnails."""

    def __init__(self, root: Path, config: LibraryConfig | None = None, fts: bool = True) -> None:
        self.root = Path(root)
        self.config = config or LibraryConfig(dir=self.root)
        self.db_path = self.root / DB_NAME
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self.root.mkdir(parents=True, exist_ok=True)
        self.report = OpenReport()
        self.report.moved_aside = self._open_or_move_aside()
        conn = self._conn()
        self.fts = fts and ensure_fts(conn)
        self._saves = 0
        #: Called with (row, its file) for every image deleted, evicted or expired, after its files went:
        #: by default the served and history links to it are removed too (library.links).
        self.on_removed: list[Callable[[ImageRow, Path | None], None]] = [revoke_links]

    @classmethod
    def open(cls, config: LibraryConfig) -> Library | None:
        """The configured library, reconciled with its folder; None when it is turned off."""
        if config.dir is None:
            return None
        lib = cls(config.dir, config)
        lib.reconcile()
        return lib

    # --- connections ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: transactions are the explicit BEGIN IMMEDIATE…COMMIT of _write.
        conn = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
        conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: safe against crashes of the app
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            self._all.append(conn)
        return conn

    def _open_or_move_aside(self) -> Path | None:
        """Open and migrate the database; one that cannot be opened is renamed, and a new one started."""
        try:
            migrate(self._conn())
            return None
        except (NewerSchema, sqlite3.OperationalError):
            raise  # newer, locked, read-only or unreachable: not corrupt, so never moved aside
        except sqlite3.DatabaseError as err:
            self.close()
            aside = self.db_path.with_name(f"{DB_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            log.warning("library database %s cannot be opened (%s): moved aside to %s", self.db_path, err, aside)
            self.db_path.replace(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
            migrate(self._conn())
            return aside

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._local = threading.local()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction at a time in this process; BEGIN IMMEDIATE so others wait, not fail."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def path_of(self, row: ImageRow) -> Path | None:
        return self.root / row.path if row.path else None

    # --- writing -------------------------------------------------------------------------------
    def start_run(
        self, kind: str, prompt: str, request: dict, owner: str = LOCAL_OWNER, session: str | None = None
    ) -> int:
        """A row for a run or grid, before its images, so each image can point at it."""
        try:
            with self._write() as conn:
                cur = conn.execute(
                    "INSERT INTO runs(created_at, kind, prompt, request, owner, session) VALUES (?,?,?,?,?,?)",
                    (time.time(), kind, prompt, json.dumps(request), owner, session),
                )
                return int(cur.lastrowid)
        except sqlite3.Error as err:
            raise NotSaved(_why(err)) from err

    def update_run(self, run_id: int, meta: dict) -> None:
        """Merge ``meta`` into the run's (a backend's part as it arrives, a grid's axes at the end)."""
        try:
            with self._write() as conn:
                row = conn.execute("SELECT meta FROM runs WHERE id = ?", (run_id,)).fetchone()
                if row is None:
                    return
                merged = {**json.loads(row["meta"] or "{}"), **meta}
                conn.execute("UPDATE runs SET meta = ? WHERE id = ?", (json.dumps(merged), run_id))
        except sqlite3.Error as err:
            raise NotSaved(_why(err)) from err

    def save_image(self, row: ImageRow, png: bytes | None) -> ImageRow:
        """Write ``png`` (if any) crash-safely into today's folder, then commit its row; return the row.

        Raises NotSaved (disk full, read-only folder, database error); nothing half-written is left.
        """
        row.created_at = row.created_at or time.time()
        when = datetime.fromtimestamp(row.created_at)
        target = None
        if png is not None:
            target = files.dated_folder(self.root, when) / files.image_name(row.backend, row.seed, when)
            try:
                files.write_atomic(target, png)
            except OSError as err:
                raise NotSaved(_why(err)) from err
            row.path, row.bytes = target.relative_to(self.root).as_posix(), len(png)
        try:
            with self._write() as conn:
                row.id = self._insert(conn, row)
        except sqlite3.Error as err:
            if target is not None:
                target.unlink(missing_ok=True)
            raise NotSaved(_why(err)) from err
        self._after_save(row)
        return row

    def _insert(self, conn: sqlite3.Connection, row: ImageRow) -> int:
        names = [c for c in COLUMNS if c != "id"]
        values = [json.dumps(getattr(row, c)) if c in JSON_COLUMNS else getattr(row, c) for c in names]
        sql = f"INSERT INTO images({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        return int(conn.execute(sql, values).lastrowid)

    def delete(self, owner: str, image_id: int) -> ImageRow | None:
        """Remove an image's row, file and thumbnail (only the owner's); the row, or None if there was none."""
        row = self.get(owner, image_id)
        if row is None:
            return None
        self._remove([row])
        return row

    def _remove(self, rows: Sequence[ImageRow]) -> None:
        # The row goes first: a crash in between leaves a file without a row, which the next start adopts.
        with self._write() as conn:
            conn.executemany("DELETE FROM images WHERE id = ?", [(r.id,) for r in rows])
        for r in rows:
            path = self.path_of(r)
            if path is not None:
                path.unlink(missing_ok=True)
                files.thumb_path(path).unlink(missing_ok=True)
            for hook in self.on_removed:
                hook(r, path)

    def thumb(self, row: ImageRow) -> Path | None:
        """The row's WebP thumbnail, made now if it is not there yet."""
        path = self.path_of(row)
        return files.make_thumb(path) if path is not None else None

    # --- reading -------------------------------------------------------------------------------
    def _where(
        self,
        owner: str | None,
        query: str | Query = "",
        backends: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        session: str | None = None,
        failed: bool = False,
    ) -> tuple[str, list, str]:
        """FROM … WHERE … for a search (always the owner's rows only; None: every owner, for tools),
        its arguments, and the column that orders it newest first."""
        parsed = query if isinstance(query, Query) else parse(query or "")
        clauses, args = parsed.sql()
        source, order = "images", "images.id"
        words = parsed.words
        if words and self.fts:
            # Read the prompt index newest first (by rowid, which is the image's id) and stop at the page's
            # end: a word in half the prompts costs no more than a rare one. Each word is a quoted prefix,
            # so FTS syntax in a query ("AND", quotes, *) is just text.
            source = "images_fts CROSS JOIN images ON images.id = images_fts.rowid"  # FTS first
            order = "images_fts.rowid"
            clauses.append("images_fts MATCH ?")
            args.append(" ".join('"' + w.replace('"', '""') + '"*' for w in words))
        else:
            for word in words:
                clauses.append("images.prompt LIKE ? ESCAPE '\\'")
                args.append("%" + re.sub(r"([\\%_])", r"\\\1", word) + "%")
        if owner is not None:
            clauses.append("images.owner = ?")
            args.append(owner)
        for column, values in (("backend", backends), ("status", statuses)):
            if values:
                clauses.append(f"images.{column} IN ({', '.join('?' * len(values))})")
                args += list(values)
        for op, value in ((">=", since), ("<", until)):
            if value is not None:
                clauses.append(f"images.created_at {op} ?")
                args.append(value)
        if failed:
            clauses.append("images.status != 'ok'")
        if session is not None:
            clauses.append("images.session = ?")
            args.append(session)
        return f"{source} WHERE {' AND '.join(clauses) or '1'}", args, order

    def search(self, owner: str | None, *, limit: int = 48, offset: int = 0, **filters) -> list[ImageRow]:
        """The owner's images matching ``filters`` (see _where), newest (last saved) first."""
        where, args, order = self._where(owner, **filters)
        sql = f"SELECT images.* FROM {where} ORDER BY {order} DESC LIMIT ? OFFSET ?"
        with self._deadline() as conn:
            rows = [_row(r) for r in conn.execute(sql, [*args, max(0, limit), max(0, offset)])]
        return self._with_tags(rows)

    def count(self, owner: str | None, upto: int | None = None, **filters) -> int:
        """How many match, counted at most to ``upto`` (a pager says "10,000+" rather than count them all)."""
        where, args, _ = self._where(owner, **filters)
        with self._deadline() as conn:
            if upto is None:
                return int(conn.execute(f"SELECT count(*) FROM {where}", args).fetchone()[0])
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {where} LIMIT ?)"
            return int(conn.execute(sql, [*args, upto]).fetchone()[0])

    def get(self, owner: str | None, image_id: int) -> ImageRow | None:
        where, args, _ = self._where(owner)
        found = self._conn().execute(f"SELECT images.* FROM {where} AND images.id = ?", [*args, image_id]).fetchone()
        return self._with_tags([_row(found)])[0] if found else None

    def get_run(self, owner: str | None, run_id: int) -> tuple[RunRow, list[ImageRow]] | None:
        """A run (or grid) and its images in the order they were asked for; only the owner's."""
        found = self._conn().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if found is None or (owner is not None and found["owner"] != owner):
            return None
        run = RunRow(
            found["id"], found["created_at"], found["kind"], found["prompt"],
            json.loads(found["request"]), json.loads(found["meta"] or "{}"),
        )  # fmt: skip
        rows = self._conn().execute("SELECT * FROM images WHERE run_id = ? ORDER BY id", (run_id,))
        return run, self._with_tags([_row(r) for r in rows])

    def stats(self, owner: str | None, since: float | None = None, until: float | None = None) -> list[dict]:
        """Per backend over a date range: images made ("images"), "failures", "filtered" and "cancelled"
        (counted by library.scoring's rule, as the session's scoreboard counts), p50/p95 seconds per image
        and total cost."""
        where, args, _ = self._where(owner, since=since, until=until)
        sql = f"SELECT backend, status, latency_s, cost, cost_unit FROM {where} ORDER BY backend"
        out: dict[str, dict] = {}
        tallies: dict[str, Tally] = {}
        for r in self._conn().execute(sql, args):
            s = out.setdefault(r["backend"], {"backend": r["backend"], "usd": 0.0, "gpu_s": 0.0, "priced": 0})
            tallies.setdefault(r["backend"], Tally()).add(r["status"], r["latency_s"])
            if r["cost"] is not None:
                s["gpu_s" if r["cost_unit"] == "gpu_s" else "usd"] += r["cost"]
                s["priced"] += 1  # images with a cost: none means "price not set", not $0
        for backend, s in out.items():
            t = tallies[backend]
            s |= {"images": t.ok, "failures": t.failed, "filtered": t.filtered, "cancelled": t.cancelled}
            s["p50_s"], s["p95_s"] = t.p50, t.p95
        return list(out.values())

    def daily(self, owner: str | None, since: float | None = None, until: float | None = None) -> list[dict]:
        """Median seconds per image and images made, per backend and day: the scoreboard's plot over time."""
        where, args, _ = self._where(owner, statuses=["ok"], since=since, until=until)
        sql = (
            "SELECT date(created_at, 'unixepoch', 'localtime') AS day, backend, latency_s "
            f"FROM {where} AND latency_s IS NOT NULL ORDER BY day, backend"
        )
        groups: dict[tuple[str, str], list[float]] = {}
        for r in self._conn().execute(sql, args):
            groups.setdefault((r["day"], r["backend"]), []).append(r["latency_s"])
        return [{"day": day, "backend": b, "median_s": median(v), "images": len(v)} for (day, b), v in groups.items()]

    # --- stars and tags ------------------------------------------------------------------------
    @contextmanager
    def _deadline(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, interrupted (QueryTimeout) once a statement runs past QUERY_TIME_S."""
        conn = self._conn()
        seconds = QUERY_TIME_S
        end = time.monotonic() + seconds
        conn.set_progress_handler(lambda: time.monotonic() > end, PROGRESS_STEPS)
        try:
            yield conn
        except sqlite3.OperationalError as err:
            if "interrupted" in str(err):
                raise QueryTimeout(f"the search took longer than {seconds:g} s; narrow it down") from err
            raise
        finally:
            conn.set_progress_handler(None, 0)

    def _with_tags(self, rows: list[ImageRow]) -> list[ImageRow]:
        """``rows`` with their tags, read in one query."""
        ids = [r.id for r in rows if r.id is not None]
        if not ids:
            return rows
        tags: dict[int, list[str]] = {}
        sql = f"SELECT image_id, tag FROM image_tags WHERE image_id IN ({', '.join('?' * len(ids))}) ORDER BY tag"
        for image_id, tag in self._conn().execute(sql, ids):
            tags.setdefault(image_id, []).append(tag)
        for r in rows:
            r.tags = tags.get(r.id, [])
        return rows

    def mark(
        self,
        owner: str | None,
        ids: Sequence[int],
        star: bool | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
    ) -> list[ImageRow]:
        """Star or unstar, tag and untag the owner's images ``ids`` in one transaction; the updated rows
        (ids that are not the owner's, or not there, are left out). Raises ValueError for a bad tag."""
        add, remove = [clean_tag(t) for t in add_tags], [clean_tag(t) for t in remove_tags]
        ids = list(dict.fromkeys(int(i) for i in ids))
        mine = self._owned(owner, ids)
        try:
            with self._write() as conn:
                if star is not None:
                    conn.executemany("UPDATE images SET star = ? WHERE id = ?", [(int(star), i) for i in mine])
                conn.executemany("INSERT OR IGNORE INTO image_tags(image_id, tag) VALUES (?, ?)",
                                 [(i, t) for i in mine for t in add])  # fmt: skip
                conn.executemany("DELETE FROM image_tags WHERE image_id = ? AND tag = ?",
                                 [(i, t) for i in mine for t in remove])  # fmt: skip
        except sqlite3.Error as err:
            raise NotSaved(_why(err)) from err
        return self.get_many(owner, mine)

    def _owned(self, owner: str | None, ids: list[int]) -> list[int]:
        """Those of ``ids`` that are the owner's, in the order given."""
        found: set[int] = set()
        for start in range(0, len(ids), 500):  # SQLite's limit on parameters
            chunk = ids[start : start + 500]
            sql = f"SELECT id FROM images WHERE id IN ({', '.join('?' * len(chunk))})"
            args: list = list(chunk)
            if owner is not None:
                sql, args = sql + " AND owner = ?", [*args, owner]
            found |= {r[0] for r in self._conn().execute(sql, args)}
        return [i for i in ids if i in found]

    def get_many(self, owner: str | None, ids: Sequence[int]) -> list[ImageRow]:
        """The owner's images ``ids``, in the order given (missing ones left out)."""
        rows: dict[int, ImageRow] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            sql = f"SELECT * FROM images WHERE id IN ({', '.join('?' * len(chunk))})"
            args: list = list(chunk)
            if owner is not None:
                sql, args = sql + " AND owner = ?", [*args, owner]
            rows |= {r["id"]: _row(r) for r in self._conn().execute(sql, args)}
        return self._with_tags([rows[i] for i in ids if i in rows])

    def all_tags(self, owner: str | None) -> list[tuple[str, int]]:
        """The owner's tags (collections) with how many images each has, most used first."""
        sql = "SELECT tag, count(*) FROM image_tags JOIN images ON images.id = image_tags.image_id"
        args: list = []
        if owner is not None:
            sql, args = sql + " WHERE images.owner = ?", [owner]
        return [(r[0], r[1]) for r in self._conn().execute(sql + " GROUP BY tag ORDER BY count(*) DESC, tag", args)]

    # --- upkeep --------------------------------------------------------------------------------
    def reconcile(self) -> OpenReport:
        """Match rows and files after a crash or a hand edit: drop rows whose file is gone, list files
        with no row again (from their PNG chunk), remove temporary leftovers and orphan thumbnails."""
        report = self.report
        on_disk: set[str] = set()
        thumbs: list[Path] = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", folder.name):
                continue
            for entry in folder.iterdir():
                if files.TMP_MARK in entry.name:
                    entry.unlink(missing_ok=True)
                    report.leftovers_removed += 1
                elif entry.suffix == ".png":
                    on_disk.add(f"{folder.name}/{entry.name}")
                elif entry.suffix == files.THUMB_SUFFIX:
                    thumbs.append(entry)
        listed = {r[1]: r[0] for r in self._conn().execute("SELECT id, path FROM images WHERE path IS NOT NULL")}
        gone = [listed[p] for p in listed.keys() - on_disk]
        if gone:
            with self._write() as conn:
                conn.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in gone])
            report.rows_dropped += len(gone)
        for rel in sorted(on_disk - listed.keys()):
            report.files_adopted += self._adopt(rel)
        for thumb in thumbs:
            if not thumb.with_suffix(".png").exists():
                thumb.unlink(missing_ok=True)
                report.leftovers_removed += 1
        report.expired += self.expire()
        return report

    def _adopt(self, rel: str) -> int:
        """List a file that has no row (written just before a crash, or a database moved aside)."""
        path = self.root / rel
        p = files.png_params(path) or {}
        try:
            row = ImageRow(
                prompt=str(p.get("prompt", "")), backend=str(p.get("backend", "unknown")),
                seed=int(p.get("seed", 0)), width=int(p.get("width", 0)), height=int(p.get("height", 0)),
                num_inference_steps=int(p.get("num_inference_steps", 0)),
                guidance_scale=float(p.get("guidance_scale", 0.0)), status="ok",
                aspect_ratio=p.get("aspect_ratio"), latency_s=p.get("latency_s"),
                # On a Space the visitor is unknown: nobody's, until the caps or the TTL remove it.
                owner="" if self.config.on_space else LOCAL_OWNER,
                created_at=path.stat().st_mtime, path=rel, bytes=path.stat().st_size,
            )  # fmt: skip
            with self._write() as conn:
                row.id = self._insert(conn, row)
        except (TypeError, ValueError, OSError, sqlite3.Error) as err:
            log.warning("library: could not list %s again: %s", rel, err)
            return 0
        return 1

    def _after_save(self, row: ImageRow) -> None:
        # Caps apply to public Spaces only: a local library is the user's own disk.
        if not self.config.on_space:
            return
        self._saves += 1
        try:
            self.enforce_caps(row.owner)
            if self._saves % 50 == 1:
                self.expire()
        except sqlite3.Error as err:
            log.warning("library: caps not applied: %s", err)

    def enforce_caps(self, owner: str) -> int:
        """Oldest out first: beyond the visitor's image cap, then beyond the total size cap."""
        conn = self._conn()
        extra = self.count(owner) - self.config.max_per_visitor
        victims = []
        if extra > 0:
            victims += [_row(r) for r in conn.execute(
                "SELECT * FROM images WHERE owner = ? ORDER BY created_at, id LIMIT ?", (owner, extra)
            )]  # fmt: skip
        total = conn.execute("SELECT coalesce(sum(bytes), 0) FROM images").fetchone()[0]
        total -= sum(v.bytes for v in victims)
        if total > self.config.max_bytes:
            taken = {v.id for v in victims}
            for r in conn.execute("SELECT * FROM images WHERE bytes > 0 ORDER BY created_at, id"):
                if total <= self.config.max_bytes:
                    break
                if r["id"] not in taken:
                    victims.append(_row(r))
                    total -= r["bytes"]
        if victims:
            self._remove(victims)
        return len(victims)

    def expire(self) -> int:
        """Remove anonymous visitors' images older than the TTL (Spaces only)."""
        if not self.config.on_space:
            return 0
        cutoff = time.time() - self.config.ttl_days * 86400
        rows = [_row(r) for r in self._conn().execute(
            "SELECT * FROM images WHERE (owner LIKE 'anon:%' OR owner = '') AND created_at < ?", (cutoff,)
        )]  # fmt: skip
        if rows:
            self._remove(rows)
        return len(rows)


def revoke_links(row: ImageRow, path: Path | None) -> None:
    """Remove every link made to the row's file and thumbnail (served URLs, session histories)."""
    if path is not None:
        LINKS.revoke(path)
        LINKS.revoke(files.thumb_path(path))


def _why(err: Exception) -> str:
    """A short reason a person can act on."""
    text = str(err)
    if isinstance(err, OSError) and err.errno == 28 or "disk is full" in text:
        return "the disk is full"
    if isinstance(err, OSError) and err.errno in (13, 30) or "readonly" in text or "read-only" in text:
        return "the library folder is read-only"
    return text or type(err).__name__
