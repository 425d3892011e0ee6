"""The prediction log's batch encoding (orjson) writes the values of
:func:`mlops.serving.predlog.logged`, one JSON line per prediction, whatever the records
hold."""

from __future__ import annotations

import json
import math

from mlops.serving.predlog import encode_lines, logged

AT, VERSION = "2026-11-30T01:02:03.000004+00:00", "abc123def456"
RECORDS = [
    {"carrier": "UA", "distance": 1400.0, "hour": 7, "wind": None},
    {"carrier": 'quote " back\\slash \n newline', "distance": -0.0, "hour": 0, "wind": 1e-300},
    {"carrier": "Zürich ✈ 東京", "distance": 12345678.901234, "hour": 23, "wind": 1e16},
]
RESULTS = [
    {"probability": 0.123456, "label": "on_time", "unknown_categories": {}},
    {"probability": 1.0, "label": "delayed", "unknown_categories": {"carrier": "x", "b": "y"}},
    {"probability": 0.0, "label": "delayed \u2013 late", "unknown_categories": {"a": "z"}},
]
IDS = ["r-0", 'r"1', "r-\u00e9"]


def lines_of(data: bytes) -> list[dict]:
    assert data.endswith(b"\n") and b"\n\n" not in data
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def expected(records, results, ids) -> list[dict]:
    return [
        logged(r, res, request_id=i, version=VERSION, at=AT)
        for r, res, i in zip(records, results, ids, strict=True)
    ]


def test_each_line_holds_the_values_logged_gives_in_order():
    written = lines_of(encode_lines(AT, VERSION, RECORDS, RESULTS, IDS))
    assert written == expected(RECORDS, RESULTS, IDS)
    assert [list(line) for line in written] == [list(e) for e in expected(RECORDS, RESULTS, IDS)]
    assert written[1]["unknown_categories"] == ["b", "carrier"]  # names, sorted
    assert encode_lines(AT, VERSION, [], [], []) == b""


def test_non_finite_numbers_are_null_and_huge_integers_are_kept():
    odd = [{**RECORDS[0], "wind": math.nan}, {**RECORDS[2], "distance": -math.inf}]
    data = encode_lines(AT, VERSION, odd, RESULTS[:2], IDS[:2])
    assert b"NaN" not in data and b"Infinity" not in data
    assert lines_of(data) == expected(odd, RESULTS[:2], IDS[:2])
    assert lines_of(data)[0]["features"]["wind"] is None

    huge = [{**RECORDS[0], "hour": 2**70}]  # beyond orjson: the standard library writes it
    assert (
        lines_of(encode_lines(AT, VERSION, huge, RESULTS[:1], IDS[:1]))[0]["features"]["hour"]
        == 2**70
    )
