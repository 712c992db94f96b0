"""Redaction catches a key's other encodings: hex, base32, percent-encoded, and the key split by HTML markup
in an error page. The echoes are written out by hand (not made with the redactor's own encoders), for a key
whose forms all differ from it: its base64 has both + and /, its percent form has %2B and %2F."""

from __future__ import annotations

import pytest

from backends.redact import MASK, scrub

KEY = "fw-Pa+s/ted>?~5c1e9b7a??"

ECHOES = {
    "hex_upper": "credential 66772D50612B732F7465643E3F7E35633165396237613F3F rejected",
    "hex_lower": "credential 66772d50612b732f7465643e3f7e35633165396237613f3f rejected",
    "base32": "token=MZ3S2UDBFNZS65DFMQ7D67RVMMYWKOLCG5QT6PY=",
    "base32_after_two_bytes": "blob PB4WM5ZNKBQSW4ZPORSWIPR7PY2WGMLFHFRDOYJ7H4======",
    "base64_plus_slash": "auth ZnctUGErcy90ZWQ+P341YzFlOWI3YT8/ bad",
    "percent": "GET /v1?key=fw-Pa%2Bs%2Fted%3E%3F~5c1e9b7a%3F%3F 401",
    "percent_lower": "key=fw-pa%2bs%2fted%3e%3f~5c1e9b7a%3f%3f",
    "percent_cut": "GET /v1?key=fw-Pa%2Bs%2Fted%3E%3F 401",  # no run of 8 plain characters of the key
    "split_by_markup": "<p>Invalid key <code>fw-Pa+s<b>/ted</b>&gt;?~5c1e<span class=k>9b7a</span>??</code></p>",
}

# A piece that only the whole key (or one of its forms) contains, to tell a leak from a mask.
PIECES = (
    "Pa%2Bs%2Fted",
    "5c1e9b7a",
    "9b7a??",
    "35633165396237",
    "P341YzFlOWI3",
    "KOLCG5QT",
    "FHFRDOYJ",
    "%3F~5c1e",
    "9b7a</span>??",
)


@pytest.mark.parametrize("shape", ECHOES)
def test_every_other_encoding_of_a_key_is_masked(shape):
    text = ECHOES[shape]
    out = scrub(text, [KEY])
    assert MASK in out, f"{shape}: nothing masked in {out!r}"
    leaked = [p for p in PIECES if p.lower() in out.lower()]
    assert not leaked, f"{shape}: {leaked} left in {out!r}"


def test_text_around_a_masked_key_is_kept():
    out = scrub(ECHOES["split_by_markup"], [KEY])
    assert out.startswith("<p>Invalid key <code>") and out.endswith("</code></p>"), out
    assert scrub("nothing secret <b>here</b>", [KEY]) == "nothing secret <b>here</b>"
