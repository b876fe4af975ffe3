"""A dataset's text file, read once as bytes and decided in one place: cut, BOM, encoding, line ends, separator.

Every loader reads its files through here, so one file is judged the same way by all of them
(the rules are docs/protocols.md's "Data files"):

- Cut short: a file that ends inside a line is refused (`require_complete`).
- Byte-order mark: a UTF-8 BOM is skipped (an INFO log names it) and the file must then be UTF-8
  throughout; a UTF-16/32 BOM, or NUL bytes (UTF-16 without a BOM), is refused: those are not text
  these loaders read.
- Encoding: strict UTF-8 first, so a file re-saved as UTF-8 decodes as UTF-8 (never as latin-1
  mojibake, 'MisÃ©rables'). When that fails, the loader's documented legacy encoding (latin-1 for
  MovieLens and Book-Crossing, as the official files are); a loader without one (RecBole atomic,
  Amazon JSON) refuses, naming the line and the byte. A file that holds UTF-8 sequences yet is not
  UTF-8 mixes encodings: refused (MovieLens), or read as the legacy encoding with a warning where
  the official file itself mixes them (Book-Crossing's dump).
- Line ends: CRLF is read as LF (an INFO log names it); a carriage return without a line feed is
  refused, naming its line.
- Separator: `separator_hint` says "fields are separated by commas, expected tab" when the expected
  separator is absent from a line that another common separator splits as expected.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Callable
from pathlib import Path

from rankexp.errors import DataError

log = logging.getLogger(__name__)
# UTF-32 LE's BOM starts with UTF-16 LE's, so it is checked first.
WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
             (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
# A well-formed UTF-8 multi-byte character; in real latin-1 text such byte pairs ('Ã©') are mojibake themselves.
# Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 (and do not decode): excluded.
UTF8_CHARACTER = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
                            rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
                            rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}")
SEPARATORS = (("\t", "tabs"), ("::", "'::'"), ("|", "'|'"), (";", "';'"), (",", "commas"), (" ", "spaces"))
NAMES = {"\t": "tab", " ": "space"}


def line_of(raw: bytes, offset: int) -> int:
    """1-based line number of byte `offset`."""
    return raw.count(b"\n", 0, offset) + 1


def require_complete(path: Path, raw: bytes) -> None:
    """Refuse a text file that ends inside a line: a download or copy cut short.

    Every official file ends with a newline, and a cut inside the last line can still
    parse (a timestamp or a rating losing its last digits), so this is the one check
    that catches it; a cut exactly at a line end is indistinguishable from a shorter file.
    """
    if not raw:
        raise DataError(f"{path}: the file is empty; extract it again from the original archive")
    if raw[-1:] not in (b"\n", b"\r"):
        lines = raw.count(b"\n") + 1
        raise DataError(
            f"{path} line {lines}: the file ends inside this line (no newline after it), so it looks "
            "cut short; extract it again from the original archive (or, if that line is complete, end it with a newline)"
        )


def strip_bom(path: Path, raw: bytes) -> tuple[bytes, bool]:
    """(`raw` without a UTF-8 byte-order mark, whether it had one); a UTF-16/32 mark is refused."""
    for bom, name in WIDE_BOMS:
        if raw.startswith(bom):
            raise DataError(f"{path} line 1: starts with a {name} byte-order mark (BOM), so it is {name} text; "
                            "save it as UTF-8 (or as the original file's encoding)")
    if raw.startswith(codecs.BOM_UTF8):
        log.info("%s: starts with a UTF-8 byte-order mark (BOM); skipped it, reading the file as UTF-8", path)
        return raw[len(codecs.BOM_UTF8):], True
    return raw, False


def _not_utf8(path: Path, raw: bytes, error: UnicodeDecodeError, bom: bool, legacy: str | None) -> str:
    """The refusal of a file that is not UTF-8 at `error`, naming its line and byte."""
    where = f"{path} line {line_of(raw, error.start)}: byte 0x{raw[error.start]:02x} is not UTF-8"
    if bom:
        return f"{where}, yet the file starts with a UTF-8 byte-order mark (BOM); save it in one encoding"
    if legacy is None:
        return f"{where}; this file must be UTF-8 text (re-save it as UTF-8)"
    utf8 = UTF8_CHARACTER.search(raw)
    if utf8 is None:
        return f"{where}; read as {legacy}"
    return (f"{where}, yet line {line_of(raw, utf8.start())} holds UTF-8 text "
            f"({utf8.group().decode('utf-8')!r}): the file mixes UTF-8 and {legacy}; save it in one encoding "
            f"(UTF-8, or {legacy} as the official file is)")


def decode(path: Path, raw: bytes, legacy: str | None, mixed_ok: bool = False, bom: bool = False) -> str:
    """`raw` as text: strict UTF-8, else `legacy` (None: refuse); see the module docstring."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        mixed = legacy is not None and UTF8_CHARACTER.search(raw) is not None
        if bom or legacy is None or (mixed and not mixed_ok):
            raise DataError(_not_utf8(path, raw, error, bom, legacy)) from None
        if mixed:
            log.warning("%s; read as %s", _not_utf8(path, raw, error, bom, legacy), legacy)
        log.debug("%s is not UTF-8 (line %d); read as %s", path, line_of(raw, error.start), legacy)
        return raw.decode(legacy)


def line_ends(path: Path, text: str) -> str:
    """`text` with CRLF read as LF; a CR without LF is refused, naming its line."""
    if "\r\n" in text:
        log.info("%s: CRLF (Windows) line endings; read as LF", path)
        text = text.replace("\r\n", "\n")
    cr = text.find("\r")
    if cr >= 0:
        raise DataError(f"{path} line {text.count(chr(10), 0, cr) + 1}: a carriage return (CR) not followed by a "
                        "line feed: CR line endings or a stray CR; save the file with LF (or CRLF) line endings")
    return text


def read_text(path: Path, legacy: str | None, mixed_ok: bool = False) -> str:
    """The whole file as text with LF line ends, read and judged once (the module docstring's rules)."""
    raw, bom = strip_bom(path, path.read_bytes())  # first: UTF-16 text ends in a NUL byte, which is not a cut
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{path} line {line_of(raw, nul)}: holds NUL bytes, so it is UTF-16/32 text or not text at "
                        "all; save it as UTF-8 (or as the original file's encoding)")
    require_complete(path, raw)
    return line_ends(path, decode(path, raw, legacy, mixed_ok, bom))


def read_lines(path: Path, legacy: str | None) -> list[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line of `read_text(path, legacy)`."""
    lines = read_text(path, legacy).split("\n")
    return [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]


def decode_line(path: Path, number: int, raw: bytes) -> str:
    """One line of a UTF-8-only file read as a stream (Amazon's JSON lines): a UTF-8 BOM on line 1 is skipped."""
    if number == 1:
        raw, _ = strip_bom(path, raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path} line {number}: byte 0x{raw[error.start]:02x} is not UTF-8; this file must be UTF-8 "
                        "text (re-save it as UTF-8)") from None


def describe(sep: str) -> str:
    return NAMES.get(sep, repr(sep))


def separator_hint(line: str, expected: str, fits: Callable[[list[str]], bool]) -> str | None:
    """"fields are separated by <found>, expected <expected>" when `expected` is absent from `line` and
    another common separator splits it into fields that `fits` accepts; else None."""
    if expected in line:
        return None
    for sep, name in SEPARATORS:
        parts = line.split() if sep == " " else line.split(sep)
        if sep != expected and len(parts) > 1 and fits(parts):
            return f"fields are separated by {name}, expected {describe(expected)}"
    return None
