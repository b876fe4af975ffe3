"""Rank candidates for one user from the command line: a thin CLI over `rankexp.Ranker`.

    python -m rankexp.predict --input request.json --adapter outputs/2026-12-02/06-00-00/adapter
    python -m rankexp.predict --input request.json                      # zero-shot SmolLM2-135M
    python -m rankexp.predict --input request.json --adapter <run>/adapter --data ml100k   # hints derived
    python -m rankexp.predict --input request.json --model tiny_random --json
    rankexp-predict --input - < request.json                            # the console script

request JSON (one object; only these keys):
    {"history": [{"title": "Toy Story (1995)", "rating": 5},         # oldest first; may be []
                 ["Fargo (1996)", 4]],                                # or [title, rating] pairs
     "candidates": ["Heat (1995)", "Babe (1995)", "Casino (1995)"],   # titles to rank, each once
     "hints": {"Heat (1995)": 3.9, "Fargo (1996)": 4.1, ...},        # optional: every title above
     "user": "196"}                                                   # optional, with --data
  history     ratings on the adapter's scale (1-5 for MovieLens); the oldest are cut to fit max_length
  candidates  non-empty; a slot-readout adapter takes at most one per label (e.g. 20)
  hints       what the adapter saw beside each title in training (its rankexp.json `hint_source`,
              e.g. the item's mean rating): give one for every candidate and history title, or none;
              finite numbers only. With --data they are derived from that dataset as training did
  user        with --data: the dataset's own id of a known user (their train ratings are left out
              of the item means, as in training); omit for a new user

The adapter's `rankexp.json` decides the readout (slot verbalizer or candidate readout), the
prompt and the base model, so the prompt matches training; `--model` names a
`conf/model/*.yaml` base instead (default: the adapter's, else smollm2_135m).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rankexp.api import Ranked, Ranker, RequestError
from rankexp.data.requests import is_finite_number
from rankexp.errors import exit_on_user_error

REQUEST_KEYS = ("history", "candidates", "hints", "user")


def check_request(data: Any, where: str = "request") -> dict[str, Any]:
    """The top level of a decoded request (the fields are checked by `Ranker.rank`)."""
    if not isinstance(data, dict):
        raise RequestError(f"{where}: the top level must be a JSON object with keys {list(REQUEST_KEYS)}, "
                           f"got {type(data).__name__}")
    unknown = sorted(set(data) - set(REQUEST_KEYS))
    if unknown:
        raise RequestError(f"{where}: unknown field(s) {unknown}; a request has only {list(REQUEST_KEYS)}")
    if "candidates" not in data:
        raise RequestError(f"{where}: `candidates` is missing (a list of titles to rank)")
    hints = data.get("hints")
    if hints is not None and (not isinstance(hints, dict)
                              or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in hints.values())):
        raise RequestError(f"{where}: `hints` must be an object of title -> number, got {hints!r}")
    for title, value in (hints or {}).items():
        if not is_finite_number(value):  # JSON's NaN / Infinity (Python's json accepts them), a number past float
            raise RequestError(f"{where}: `hints[{title!r}]` must be a finite number, got {value!r}")
    user = data.get("user")
    if user is not None and (isinstance(user, bool) or not isinstance(user, (str, int))):
        raise RequestError(f"{where}: `user` must be the dataset's user id (a string or integer), got {user!r}")
    return {"history": data.get("history", []), "candidates": data["candidates"], "hints": hints, "user": user}


def load_request(path: str) -> dict[str, Any]:
    """Read and check `path` (`-` = stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RequestError(f"cannot read request file {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        line = error.object.count(b"\n", 0, error.start) + 1
        raise RequestError(f"{path} line {line}: byte 0x{error.object[error.start]:02x} is not UTF-8; a JSON "
                           "request is UTF-8 text (save it as UTF-8)") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") \
            from error
    except ValueError as error:  # an integer past Python's 4300-digit limit
        raise RequestError(f"{path}: a number with over 4300 digits, which no request field takes "
                           f"({str(error)[:60]})") from error
    return check_request(data, where=str(path))


def format_ranking(ranking: list[Ranked]) -> str:
    width = max(len(r.title) for r in ranking)
    lines = [f"{'rank':>4}  {'label':5}  {'title':{width}}  {'score':>9}  {'share':>6}"]
    lines += [f"{r.rank:>4}  {r.label or '-':5}  {r.title:{width}}  {r.score:9.3e}  {r.share:6.1%}" for r in ranking]
    return "\n".join(lines)


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    description, examples, request_format, notes = __doc__.split("\n\n", 3)
    parser = argparse.ArgumentParser(prog="python -m rankexp.predict", description=description,
                                     epilog=f"examples:\n{examples}\n\n{request_format}\n\n{notes}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="request JSON file ('-' = stdin)")
    parser.add_argument("--adapter", default=None, help="LoRA adapter folder saved by a run (<run dir>/adapter)")
    parser.add_argument("--model", default=None,
                        help="conf/model/<name>.yaml as the base (default: the adapter's, else smollm2_135m)")
    parser.add_argument("--item-noun", default=None, help="word for items in the prompt (default: the adapter's)")
    parser.add_argument("--data", default=None,
                        help="conf/data/<name>.yaml (e.g. ml100k) to derive the adapter's hints from, as training did")
    parser.add_argument("--json", action="store_true", help="print the ranking as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    request = load_request(args.input)
    ranker = Ranker.from_pretrained(args.adapter, model=args.model, item_noun=args.item_noun, data=args.data)
    ranking = ranker.rank(request["history"], request["candidates"], hints=request["hints"], user=request["user"])
    text = json.dumps([r.__dict__ for r in ranking], indent=1) if args.json else format_ranking(ranking)
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
