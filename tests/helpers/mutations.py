"""Hypothesis strategies that damage real-format files: flip and insert bytes or (malformed) characters, cut, duplicate / swap /
drop / blank / repeat fields and columns, duplicate / swap / drop lines, change the encoding or the line ends,
and (JSON lines) put odd values in a field. `mutated(raw, sep)` draws 1-3 of them in a row.

`MUTATION_SETTINGS` is the fuzzers' budget: 200 examples a target, derandomized (the same examples
every run, so a failure reproduces), no example database written, no per-example deadline.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

MUTATION_SETTINGS = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Bytes that matter to these formats: separators, quotes, line ends, NUL, digits, sign, and the lead /
# continuation bytes of UTF-8 (and latin-1's accents and NBSP).
INTERESTING = b"\x00\t\n\r \"';:|,\\-+._059eE\x80\x85\xa0\xa9\xbf\xc3\xe0\xe9\xed\xef\xf0\xff"
# Characters as encoded bytes: UTF-8 é, latin-1 é, and malformed UTF-8 (a surrogate, an overlong form,
# past U+10FFFF, a lone lead byte) that a decoder or a "looks like UTF-8" test may trip on
SEQUENCES = (b"\xc3\xa9", b"\xe9", b"\xed\xa0\x80", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xc3", b"\xef\xbb\xbf")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "cp1252", "latin-1", "crlf", "cr")
# JSON values that a field of a record may be damaged into
JSON_VALUES = ("null", "true", '""', '"x"', '"5"', "-1", "0", "5.5", "1e400", "-1e400", "NaN", "Infinity", "[]",
               '["a", 1]', "{}", '{"a": 1}', "99999999999999999999999", "1" * 30, "1" * 400)
FIELD_OPS = ("duplicate", "swap", "drop", "blank", "repeat")
LINE_OPS = ("duplicate", "swap", "drop")
PLACEHOLDER = "\x00value\x00"

byte = st.one_of(st.sampled_from(list(INTERESTING)), st.integers(0, 255))


def _split_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\n")


def _field_op(draw, raw: bytes, sep: bytes) -> tuple[bytes, str]:
    lines = _split_lines(raw)
    at = draw(st.integers(0, max(len(lines) - 2, 0)))
    fields = lines[at].split(sep)
    op, i, j = draw(st.sampled_from(FIELD_OPS)), draw(st.integers(0, len(fields) - 1)), draw(
        st.integers(0, len(fields) - 1))
    if op == "duplicate":
        fields.insert(i, fields[i])
    elif op == "swap":
        fields[i], fields[j] = fields[j], fields[i]
    elif op == "drop" and len(fields) > 1:
        del fields[i]
    elif op == "blank":
        fields[i] = b""
    elif op == "repeat":  # the field's value written twice over: 881250949 -> 881250949881250949
        fields[i] = fields[i] * draw(st.integers(2, 8))
    lines[at] = sep.join(fields)
    return b"\n".join(lines), f"field {op} line {at + 1} fields {i},{j}"


def _column_op(draw, raw: bytes, sep: bytes) -> tuple[bytes, str]:
    """A whole column duplicated, swapped with another or dropped: every line's fields alike."""
    op, i, j = draw(st.sampled_from(("duplicate", "swap", "drop"))), draw(st.integers(0, 3)), draw(st.integers(0, 3))
    lines = []
    for line in _split_lines(raw):
        fields = line.split(sep)
        if max(i, j) < len(fields):
            if op == "duplicate":
                fields.insert(j, fields[i])
            elif op == "swap":
                fields[i], fields[j] = fields[j], fields[i]
            elif len(fields) > 1:
                del fields[i]
        lines.append(sep.join(fields))
    return b"\n".join(lines), f"column {op} {i},{j}"


def _line_op(draw, raw: bytes) -> tuple[bytes, str]:
    lines = _split_lines(raw)
    op, i, j = draw(st.sampled_from(LINE_OPS)), draw(st.integers(0, len(lines) - 1)), draw(
        st.integers(0, len(lines) - 1))
    if op == "duplicate":
        lines.insert(j, lines[i])
    elif op == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif len(lines) > 1:
        del lines[i]
    return b"\n".join(lines), f"line {op} {i + 1},{j + 1}"


def reencode(raw: bytes, target: str) -> bytes:
    """The file's text (UTF-8, else latin-1) written as `target`, or with CRLF / CR line ends."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if target in ("crlf", "cr"):
        return text.replace("\n", "\r\n" if target == "crlf" else "\r").encode("utf-8")
    return text.encode(target, errors="replace")


def _json_op(draw, raw: bytes) -> tuple[bytes, str]:
    """One record's field (or the whole record) replaced by an odd JSON value."""
    value = draw(st.sampled_from(JSON_VALUES))
    lines = _split_lines(raw)
    at = draw(st.integers(0, max(len(lines) - 2, 0)))
    try:
        record = json.loads(lines[at])
    except ValueError:
        record = None
    if isinstance(record, dict) and record and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(record)))
        record[key] = PLACEHOLDER
        lines[at] = json.dumps(record).replace(json.dumps(PLACEHOLDER), value).encode()
        return b"\n".join(lines), f"json line {at + 1} {key} = {value}"
    lines[at] = value.encode()
    return b"\n".join(lines), f"json line {at + 1} = {value}"


@st.composite
def mutation(draw, raw: bytes, sep: bytes, json_values: bool = False) -> tuple[bytes, str]:
    kinds = ["flip", "insert", "character", "delete", "cut", "field", "field", "column", "line", "encoding"] + (["json"] * 7 if json_values
                                                                                       else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "field":
        return _field_op(draw, raw, sep)
    if kind == "column":
        return _column_op(draw, raw, sep)
    if kind == "line":
        return _line_op(draw, raw)
    if kind == "json":
        return _json_op(draw, raw)
    if kind == "encoding":
        target = draw(st.sampled_from(ENCODINGS))
        return reencode(raw, target), f"encoding {target}"
    at = draw(st.integers(0, max(len(raw) - 1, 0)))
    if kind == "flip":
        new = draw(byte)
        return raw[:at] + bytes([new]) + raw[at + 1:], f"flip {at} = 0x{new:02x}"
    if kind == "character":
        new = draw(st.sampled_from(SEQUENCES))
        return raw[:at] + new + raw[at:], f"character {at} {new!r}"
    if kind == "insert":
        new = bytes(draw(st.lists(byte, min_size=1, max_size=3)))
        return raw[:at] + new + raw[at:], f"insert {at} {new!r}"
    if kind == "delete":
        n = draw(st.integers(1, 3))
        return raw[:at] + raw[at + n:], f"delete {at} +{n}"
    return raw[:at], f"cut {at}"


@st.composite
def mutated(draw, raw: bytes, sep: bytes, json_values: bool = False) -> tuple[bytes, list[str]]:
    """`raw` after 1-3 mutations, and what each was (hypothesis shows it when a case fails)."""
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        raw, step = draw(mutation(raw, sep, json_values))
        steps.append(step)
    return raw, steps
