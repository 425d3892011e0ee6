"""The prediction log's fast line encoding is byte for byte the plain one (json.dumps of
:func:`mlops.serving.predlog.logged`), whatever the records hold."""

from __future__ import annotations

import json
import math

from mlops.serving.predlog import encode_lines, logged


def plain(at, version, records, results, ids) -> bytes:
    lines = [
        json.dumps(logged(r, res, request_id=i, version=version, at=at), separators=(",", ":"))
        for r, res, i in zip(records, results, ids, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_fast_encoding_is_the_plain_one_including_odd_values():
    at, version = "2026-11-30T01:02:03.000004+00:00", "abc123def456"
    records = [
        {"carrier": "UA", "distance": 1400.0, "hour": 7, "wind": None},
        {"carrier": 'quote " back\\slash \n newline', "distance": -0.0, "hour": 0, "wind": 1e-300},
        {"carrier": "Zürich ✈ 東京", "distance": 12345678.901234, "hour": 23, "wind": 3.0},
    ]
    results = [
        {"probability": 0.123456, "label": "on_time", "unknown_categories": {}},
        {"probability": 1.0, "label": "delayed", "unknown_categories": {"carrier": "x", "b": "y"}},
        {"probability": 0.0, "label": "delayed \u2013 late", "unknown_categories": {"a": "z"}},
    ]
    ids = ["r-0", 'r"1', "r-\u00e9"]
    fast = encode_lines(at, version, records, results, ids)
    assert fast == plain(at, version, records, results, ids)
    assert [json.loads(line)["request_id"] for line in fast.decode().splitlines()] == ids

    # values holding the text the one-call encoding cuts at: encoded one by one, same bytes
    cuts = [{**records[0], "carrier": "a},{b"}, {**records[1], "carrier": "x"}]
    tricky_ids = ['a","b', "c"]
    fast = encode_lines(at, version, cuts, results[:2], tricky_ids)
    assert fast == plain(at, version, cuts, results[:2], tricky_ids)
    whole = [{**results[0], "probability": 1}]  # an int probability stays an int
    assert encode_lines(at, version, records[:1], whole, ids[:1]) == plain(
        at, version, records[:1], whole, ids[:1]
    )
    assert encode_lines(at, version, [], [], []) == plain(at, version, [], [], [])

    # a non-finite number is logged as null (the general path), never as NaN
    odd = [{**records[0], "wind": math.nan}, {**records[2], "distance": math.inf}]
    fast = encode_lines(at, version, odd, results[:2], ids[:2])
    assert fast == plain(at, version, odd, results[:2], ids[:2])
    assert b"NaN" not in fast and b"Infinity" not in fast
    assert json.loads(fast.decode().splitlines()[0])["features"]["wind"] is None
