"""Fuzzing the ranking-request parser (issue #30 item 5): `rankexp.predict.load_request` (the JSON
file, its top level) then `request_of` / `checked_hints` (the fields, as `Ranker.rank_batch` checks
them). A damaged request either parses with the history and candidates an independent check counts,
or is a RequestError naming the file and the field (or the JSON line), never anything else.

Damage: any value of the request tree replaced by arbitrary JSON (huge integers, NaN, nested
objects, ...), a key or element dropped or duplicated, and the byte-level mutations of the loader
fuzzers (tests/helpers/mutations.py) on the JSON text.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rankexp.data.requests import checked_hints, request_of
from rankexp.errors import RequestError
from rankexp.predict import load_request
from tests.helpers.mutations import MUTATION_SETTINGS, mutated

MAX_CANDIDATES, SCALE = 20, (1.0, 5.0)
REQUEST = {"history": [{"title": "Toy Story (1995)", "rating": 5}, ["Fargo (1996)", 4]],
           "candidates": ["Heat (1995)", "Babe (1995)", "Casino (1995)"],
           "hints": {"Toy Story (1995)": 3.9, "Fargo (1996)": 4.1, "Heat (1995)": 3.5, "Babe (1995)": 3.0,
                     "Casino (1995)": 3.7},
           "user": "196"}
# numbers first: past the float range, past int64, NaN, infinities, bools (a bool is no number here)
NUMBERS = st.sampled_from([10**400, -(10**400), 2**63, 1e308]) | st.integers() | st.floats() | st.booleans()
JSON = st.recursive(st.none() | NUMBERS | st.text(max_size=8)
                    | st.sampled_from(["", " ", "Heat (1995)", " Heat (1995) ", "Toy Story (1995)"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["title", "rating", "history", "x", "Heat (1995)"]), inner, max_size=3),
                    max_leaves=6)


def _paths(value, prefix=()):
    """Every path (keys / indices) into the request tree."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


@st.composite
def damaged_tree(draw) -> bytes:
    tree = json.loads(json.dumps(REQUEST))
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(list(_paths(tree))[1:]))
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(("replace", "replace", "drop", "duplicate")))
        if op == "replace":
            parent[path[-1]] = draw(NUMBERS | JSON)
        elif op == "drop":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(parent[path[-1]])
        else:
            parent[f"{path[-1]}2"] = parent[path[-1]]
        if not isinstance(tree, dict):
            break
    return json.dumps(tree, allow_nan=True).encode()


def _number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) if isinstance(value, float) else abs(value) <= sys.float_info.max


def _titles(data):
    """(history titles, candidates) stripped, or None when a field breaks the documented request format."""
    history, candidates = data.get("history", []), data["candidates"]
    if not isinstance(history, list) or not isinstance(candidates, list) or not 0 < len(candidates) <= MAX_CANDIDATES:
        return None
    titles = []
    for entry in history:
        if isinstance(entry, dict) and set(entry) <= {"title", "rating"}:
            entry = [entry.get("title"), entry.get("rating")]
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and entry[0].strip()
                and _number(entry[1]) and SCALE[0] <= entry[1] <= SCALE[1]):
            return None
        titles.append(entry[0].strip())
    if not all(isinstance(c, str) and c.strip() for c in candidates):
        return None
    stripped = [c.strip() for c in candidates]
    return (titles, stripped) if len(set(stripped)) == len(stripped) else None


def oracle(raw: bytes):
    """(history length, candidates) the request must parse to, or None when the documented format refuses it."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:  # not UTF-8, not JSON (a UTF-8 mark is not JSON either)
        return None
    if not isinstance(data, dict) or not set(data) <= {"history", "candidates", "hints", "user"} \
            or "candidates" not in data:
        return None
    hints, user = data.get("hints"), data.get("user")
    if hints is not None and not (isinstance(hints, dict) and all(_number(v) for v in hints.values())):
        return None
    if user is not None and (isinstance(user, bool) or not isinstance(user, (str, int))):
        return None
    titles = _titles(data)
    if titles is None or (hints is not None and not all(t in hints for t in titles[0] + titles[1])):
        return None
    return len(titles[0]), len(titles[1])


def parse_or_refuse(raw: bytes):
    """Write `raw`, parse it as `rankexp.predict` + `Ranker.rank_batch` do, and hold it to the oracle."""
    expected = oracle(raw)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "request.json"
        path.write_bytes(raw)
        try:  # anything but a RequestError fails the test
            data = load_request(str(path))
            request = request_of(data, MAX_CANDIDATES, SCALE, str(path))
            if data["hints"] is not None:
                checked_hints(data["hints"], request.history_titles + request.candidates, str(path))
        except RequestError as error:
            message = str(error)
            assert str(path) in message, f"the error names no file: {message}"
            assert any(w in message for w in ("`", "line", "field", "top level")), f"names no field: {message}"
            assert expected is None, f"refused a request the format accepts: {message}"
            return error
    got = (len(request.history_titles), len(request.candidates))
    assert expected == got, f"parsed {got}, the independent check gives {expected}"
    return got


def test_the_undamaged_request_parses():
    assert parse_or_refuse(json.dumps(REQUEST).encode()) == (2, 3)


@MUTATION_SETTINGS
@given(raw=st.one_of(damaged_tree(), mutated(json.dumps(REQUEST).encode(), b", ").map(lambda m: m[0])))
def test_fuzz_request_parser(raw):
    parse_or_refuse(raw)


# ---- what the fuzzer found, kept as named cases (each crashed with a non-RequestError before its fix) ----------

def refused(raw: bytes, expected: str) -> str:
    error = parse_or_refuse(raw)
    assert isinstance(error, RequestError) and expected in str(error), error
    return str(error)


def test_regression_request_not_utf8():
    # a latin-1 byte before the JSON crashed `load_request` with UnicodeDecodeError
    refused(b"\xe9" + json.dumps(REQUEST).encode(), "line 1: byte 0xe9 is not UTF-8")


def test_regression_hint_past_the_float_range():
    # a 401-digit integer hint crashed `check_request`'s finiteness test with OverflowError
    raw = json.dumps({**REQUEST, "hints": {**REQUEST["hints"], "Heat (1995)": 10**400}}).encode()
    refused(raw, "`hints['Heat (1995)']` must be a finite number")


def test_regression_rating_past_the_float_range():
    # the same integer as a history rating crashed `parse_request` with OverflowError
    raw = json.dumps({**REQUEST, "history": [["Fargo (1996)", 10**400]]}).encode()
    refused(raw, "`history[0].rating` must be a number")


# ---- found by review, not by the fuzzer (kept with the same contract) -----------------------------------------

def test_regression_integer_past_the_digit_limit():
    # JSON integers over Python's 4300-digit limit raise a plain ValueError from json.loads
    refused(b'{"candidates": ["a"], "user": ' + b"1" * 5000 + b"}", "over 4300 digits")


def test_regression_candidates_as_a_string():
    # `Ranker.rank_batch` listed a string's characters as candidates: "Heat" ranked the titles H, e, a, t
    refused(json.dumps({"candidates": "Heat"}).encode(), "`candidates` must be a non-empty list")


def test_regression_rank_batch_request_not_a_mapping():
    with pytest.raises(RequestError, match=r"requests\[1\]: a request is a mapping with `history`"):
        request_of(["Heat (1995)"], MAX_CANDIDATES, SCALE, "requests[1]")
