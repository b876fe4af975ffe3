"""Export a run's instruction data as JSONL, exactly as the model sees it, for other trainers.

    python -m rankexp.export +experiment=alro_ml100k out=exports/alro_ml100k
    python -m rankexp.export +experiment=recranker_ml100k out=exports/recranker epochs=3
    python -m rankexp.export model=tiny_random data=synthetic out=/tmp/export train.draws_per_epoch=8

Writes <out>/train.jsonl, val.jsonl and test.jsonl. The first line of each is a schema record
(fields, recipe and readout, experiment, config hash, seed, tokenizer, record count); then one
record per instance: its prompt text and token ids, the answer (train) or reference, the
candidate item ids and gains. The prompts come from the run's own encoders, lists and draws, so
they equal the training input token for token; no model weights are loaded, only the tokenizer.
The three files appear together or not at all.

Keys of its own:
    out=DIR      where to write (required)
    epochs=N     training epochs of fresh draws to export (default 1: the first epoch's instances)
Every other argument is a Hydra override, as for `python -m rankexp.run`. docs/export.md
describes the records.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rankexp.errors import ConfigError, exit_on_user_error

OWN_KEYS = ("out", "epochs")


def parse(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """`--help`, or (the export's own keys, the Hydra overrides); a bare word or a missing `out=` is a ConfigError."""
    description, examples, notes = __doc__.split("\n\n", 2)
    parser = argparse.ArgumentParser(prog="python -m rankexp.export", description=description,
                                     epilog=f"examples:\n{examples}\n\n{notes}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arguments", nargs="*", metavar="key=value",
                        help="out=DIR, epochs=N and Hydra overrides, e.g. +experiment=alro_ml100k")
    own, overrides = {}, []
    for arg in parser.parse_args(list(argv)).arguments:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError(f"expected `out=DIR` and Hydra overrides such as `+experiment=alro_ml100k`, got {arg!r}")
        if key in OWN_KEYS:
            own[key] = value
        else:
            overrides.append(arg)
    if not own.get("out"):
        raise ConfigError("`out` must be set on the command line (e.g. `out=exports/alro_ml100k`): the folder the "
                          "JSONL files go to")
    epochs = own.setdefault("epochs", "1")
    if not epochs.isdigit() or int(epochs) < 1:
        raise ConfigError(f"`epochs={epochs}`: the number of training epochs to export, a whole number >= 1")
    return own, overrides


def experiment_of(overrides: Sequence[str]) -> str | None:
    """The `+experiment=` choice, for the schema line (None: the root config's default)."""
    chosen = [value for key, _, value in (o.partition("=") for o in overrides) if key.lstrip("+~") == "experiment"]
    return chosen[-1] if chosen else None


def compose_checked(overrides: list[str]):
    """The config `python -m rankexp.run` would run, with its checks: every `???` set, then `validate_config`."""
    from hydra import compose, initialize_config_dir

    from rankexp.config.check import validate_config
    from rankexp.config.conf_dir import CONF_DIR
    from rankexp.run import require_set

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=overrides)
    require_set(cfg)
    validate_config(cfg)
    return cfg


@exit_on_user_error
def main(argv: Sequence[str] | None = None) -> int:
    own, overrides = parse(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handler = logging.StreamHandler()  # rankexp's progress lines; Lightning keeps its own handler
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("rankexp").addHandler(handler)
    logging.getLogger("rankexp").setLevel(logging.INFO)
    cfg = compose_checked(overrides)
    from rankexp.export.core import export

    counts = export(cfg, Path(own["out"]), int(own["epochs"]), experiment_of(overrides))
    print(f"wrote {', '.join(f'{split}.jsonl ({n} records)' for split, n in counts.items())} to {own['out']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
