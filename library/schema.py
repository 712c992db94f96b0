"""The database's schema as numbered migrations (``PRAGMA user_version``), and full-text search."""

from __future__ import annotations

import sqlite3

# Version 1: the first release's tables. Kept as it was, so an old library upgrades step by step.
V1 = """
CREATE TABLE runs(
    id INTEGER PRIMARY KEY, created_at REAL NOT NULL, kind TEXT NOT NULL,
    prompt TEXT NOT NULL, request TEXT NOT NULL);
CREATE TABLE images(
    id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
    created_at REAL NOT NULL, prompt TEXT NOT NULL, backend TEXT NOT NULL, seed INTEGER NOT NULL,
    width INTEGER, height INTEGER, num_inference_steps INTEGER, guidance_scale REAL,
    status TEXT NOT NULL, error TEXT, latency_s REAL, cost REAL, path TEXT);
CREATE INDEX images_created ON images(created_at);
"""

# Version 2: owners (Space visitors), sessions, what the backend received, costs with their unit,
# Local's precision, captions, sizes on disk and grid cells; indexes for the page's queries.
V2 = """
ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
ALTER TABLE runs ADD COLUMN session TEXT;
ALTER TABLE runs ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
ALTER TABLE images ADD COLUMN owner TEXT NOT NULL DEFAULT 'local';
ALTER TABLE images ADD COLUMN session TEXT;
ALTER TABLE images ADD COLUMN aspect_ratio TEXT;
ALTER TABLE images ADD COLUMN received TEXT NOT NULL DEFAULT '{}';
ALTER TABLE images ADD COLUMN cost_unit TEXT;
ALTER TABLE images ADD COLUMN cost_text TEXT;
ALTER TABLE images ADD COLUMN precision TEXT;
ALTER TABLE images ADD COLUMN caption TEXT;
ALTER TABLE images ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN cell TEXT;
UPDATE images SET cost_unit = 'usd' WHERE cost IS NOT NULL;
DROP INDEX images_created;
CREATE INDEX images_owner ON images(owner);
CREATE INDEX images_created ON images(created_at);
CREATE INDEX images_run ON images(run_id);
CREATE INDEX images_session ON images(session);
"""

# Version 3: stars and tags (a tag is also a collection: "tag:trip-2026"), and indexes for field queries.
V3 = """
ALTER TABLE images ADD COLUMN star INTEGER NOT NULL DEFAULT 0;
CREATE TABLE image_tags(
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE, tag TEXT NOT NULL,
    PRIMARY KEY(image_id, tag)) WITHOUT ROWID;
CREATE INDEX image_tags_tag ON image_tags(tag, image_id);
CREATE INDEX images_starred ON images(owner, id) WHERE star = 1;
CREATE INDEX images_seed ON images(seed);
"""

MIGRATIONS = (V1, V2, V3)  # MIGRATIONS[i] takes a database from version i to i + 1
VERSION = len(MIGRATIONS)

FTS = """
CREATE VIRTUAL TABLE images_fts USING fts5(prompt, content='images', content_rowid='id');
CREATE TRIGGER images_fts_ai AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt) VALUES (new.id, new.prompt); END;
CREATE TRIGGER images_fts_ad AFTER DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt); END;
INSERT INTO images_fts(images_fts) VALUES ('rebuild');
"""


class NewerSchema(RuntimeError):
    """The database was written by a newer version of the app; it is left untouched."""


def migrate(conn: sqlite3.Connection, upto: int = VERSION) -> int:
    """Apply the migrations the database lacks, each in its own transaction; return the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > VERSION:
        raise NewerSchema(f"library schema version {version} is newer than this app's {VERSION}")
    for step in range(version, upto):
        # executescript commits first; the BEGIN…COMMIT makes each step all or nothing.
        conn.executescript(f"BEGIN IMMEDIATE;\n{MIGRATIONS[step]}\nPRAGMA user_version = {step + 1};\nCOMMIT;")
    return max(version, upto)


def ensure_fts(conn: sqlite3.Connection) -> bool:
    """Create the prompt index if this SQLite has FTS5; False (search falls back to LIKE) if it has not."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'images_fts'").fetchone():
        return True
    try:
        conn.executescript(f"BEGIN IMMEDIATE;\n{FTS}\nCOMMIT;")
    except sqlite3.OperationalError:  # "no such module: fts5"
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return False
    return True
