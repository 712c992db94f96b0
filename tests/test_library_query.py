"""The library's query language (parser on its own, then through the store on disk), stars and tags,
the version 2 → 3 migration, and the query's bounds (length, terms, time)."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime

import pytest

from library import Library
from library.query import MAX_CHARS, MAX_TERMS, QueryError, clean_tag, parse
from library.schema import VERSION, migrate
from library.store import QueryTimeout
from tests.test_library_store import row

NOW = datetime(2026, 11, 15, 12, 0).timestamp()
DAY = 86400


def test_parse_words_fields_and_chips():
    q = parse('fox "red snow" backend:Fireworks steps:>2 -status:failed tag:"Big cats"', backends={"fireworks"})
    assert q.words == ["fox", "red", "snow"]
    assert [t.field for t in q.terms] == ["backend", "steps", "status", "tag"]
    assert q.terms[0].args == ("fireworks",) and q.terms[1].sql == "images.num_inference_steps > ?"
    assert q.terms[2].negate and q.terms[3].args == ("big cats",)
    assert q.chips() == ["fox", "red", "snow", "backend:Fireworks", "steps:>2", "-status:failed", 'tag:"Big cats"']
    clauses, args = q.sql()
    assert clauses[2].startswith("NOT (") and args == ["fireworks", 2, "big cats"]


def test_parse_values_are_parameters_never_sql():
    q = parse("backend:x');DROP")
    assert "DROP" not in " ".join(q.sql()[0]) and q.sql()[1] == ["x');drop"]
    with pytest.raises(QueryError):
        parse("backend:x' OR 1=1", backends={"local"})


def test_every_bad_term_is_named_in_one_message():
    with pytest.raises(QueryError) as err:
        parse("fox colour:red seed:abc steps:>x size:big date:someday star:maybe backend:nope", backends={"local"})
    text = str(err.value)
    for part in ("unknown field 'colour'", "seed:'abc'", "steps:'>x'", "size:'big'", "date:'someday'", "star:'maybe'"):
        assert part in text
    assert "backend:'nope': not a backend; use local" in text


def test_bounds_on_length_and_terms():
    parse("a " * (MAX_TERMS - 1) + "a")
    with pytest.raises(QueryError, match="terms"):
        parse("a " * (MAX_TERMS + 1))
    with pytest.raises(QueryError, match="characters"):
        parse("a" * (MAX_CHARS + 1))
    for bad in (42, ["fox"], {"q": 1}, None):
        with pytest.raises(QueryError, match="must be text"):
            parse(bad)


def test_dates_today_days_and_comparisons():
    day = datetime(2026, 11, 1).timestamp()
    assert parse("date:2026-11-01").terms[0].args == (day, day + DAY)
    assert parse("date:>2026-11-01").terms[0].args == (day + DAY,)  # after that day
    assert parse("date:>=2026-11-01").terms[0].args == (day,)
    assert parse("date:today", now=NOW).terms[0].args[0] == datetime(2026, 11, 15).timestamp()
    assert parse("date:7d", now=NOW).terms[0].sql == "images.created_at >= ?"
    assert parse("date:<7d", now=NOW).terms[0].args == (NOW - 7 * DAY,)


def test_tags_are_cleaned_and_checked():
    assert clean_tag("  Big   Cats ") == "big cats"
    for bad in ("", " ", "x" * 41, "a,b", "<script>"):
        with pytest.raises(ValueError):
            clean_tag(bad)


@pytest.fixture
def lib(tmp_path):
    lib = Library(tmp_path)
    now = time.time()
    lib.save_image(row("a red fox", "fireworks", 42, num_inference_steps=4, width=1024, height=768, cost=0.0014), None)
    lib.save_image(row("a red fox", "aiml", 7, num_inference_steps=2, width=1360, height=768, cost=0.003), None)
    lib.save_image(row("a whale", "local", 42, status="rate_limited", created_at=now - 10 * DAY), None)
    lib.save_image(row("a whale", "local", 9, status="filtered"), None)
    return lib


def seeds(lib: Library, query: str) -> list[tuple[str, int]]:
    return [(r.backend, r.seed) for r in lib.search("local", query=query)]


def test_field_queries_through_the_store(lib):
    assert seeds(lib, "seed:42") == [("local", 42), ("fireworks", 42)]
    assert seeds(lib, "fox steps:>2") == [("fireworks", 42)]
    assert seeds(lib, "steps:<=2") == [("aiml", 7)]
    assert seeds(lib, "size:1024x768") == [("fireworks", 42)]
    assert seeds(lib, "ratio:16:9") == [("aiml", 7)]  # 1360×768 is within 1 % of 16:9
    assert seeds(lib, "cost:<0.002") == [("fireworks", 42)]
    assert seeds(lib, "status:failed") == [("local", 42)]  # filtered is not failed (the scoreboard's rule)
    assert seeds(lib, "status:filtered") == [("local", 9)]
    assert seeds(lib, "date:<7d") == [("local", 42)]
    assert seeds(lib, "date:today -backend:local") == [("aiml", 7), ("fireworks", 42)]
    assert lib.count("local", query="backend:local") == 2
    assert lib.search("someone-else", query="seed:42") == []


def test_stars_and_tags_are_kept_and_found(lib, tmp_path):
    ids = [r.id for r in lib.search("local", query="fox")]
    marked = lib.mark("local", ids, star=True, add_tags=["Cats", "trip 2026"])
    assert [(r.star, r.tags) for r in marked] == [(True, ["cats", "trip 2026"])] * 2
    lib.mark("local", ids[:1], star=False, remove_tags=["cats"])
    assert lib.mark("someone-else", ids, star=False) == []  # not theirs: untouched
    lib.close()
    lib = Library(tmp_path)  # a restart
    assert seeds(lib, "star:yes") == [("fireworks", 42)]
    assert seeds(lib, "tag:cats") == [("fireworks", 42)]
    assert seeds(lib, 'tag:"trip 2026" star:no') == [("aiml", 7)]
    assert lib.all_tags("local") == [("trip 2026", 2), ("cats", 1)]
    record = lib.get("local", ids[0]).record()
    assert record["star"] is False and record["tags"] == ["trip 2026"] and record["id"] == ids[0]
    lib.delete("local", ids[0])  # its tags go with it
    assert lib._conn().execute("SELECT count(*) FROM image_tags").fetchone()[0] == 2


def test_version_2_library_is_migrated_to_stars_and_tags(tmp_path):
    conn = sqlite3.connect(tmp_path / "library.sqlite3", isolation_level=None)
    migrate(conn, upto=2)
    conn.execute(
        "INSERT INTO images(created_at, prompt, backend, seed, width, height, num_inference_steps,"
        " guidance_scale, status) VALUES (?, 'an old lighthouse', 'aiml', 9, 64, 64, 4, 3.5, 'ok')",
        (time.time(),),
    )
    conn.close()
    lib = Library(tmp_path)
    assert lib._conn().execute("PRAGMA user_version").fetchone()[0] == VERSION == 3
    (old,) = lib.search("local", query="lighthouse star:no")
    assert old.star is False and old.tags == []
    assert lib.mark("local", [old.id], star=True, add_tags=["old"])[0].tags == ["old"]
    assert seeds(lib, "lighthouse tag:old star:yes") == [("aiml", 9)]


def test_a_search_past_its_time_limit_is_interrupted(lib, monkeypatch):
    import library.store as store

    monkeypatch.setattr(store, "QUERY_TIME_S", -1.0)  # already past: the first look at the clock interrupts
    monkeypatch.setattr(store, "PROGRESS_STEPS", 1)
    with pytest.raises(QueryTimeout, match="longer than"):
        lib.count("local", query="steps:>0")
    monkeypatch.undo()
    assert len(seeds(lib, "")) == 4  # the connection still works after an interrupt
