"""Dataset statistics: users, items, ratings, density, liked share, evaluated users, median history.

    python -m rankexp.data.summary                        # the default dataset (data=ml100k)
    python -m rankexp.data.summary data=ml1m
    python -m rankexp.data.summary data=atomic data.name=ml-1m data.path=~/recbole/dataset
    python -m rankexp.data.summary +experiment=recranker_bookcrossing

Arguments are Hydra overrides, as for `python -m rankexp.run`: the dataset is the one that run
would load (downloaded on first use unless `data.fetch=false`), before any split or model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from rankexp.data import RatingData
from rankexp.data.splits import leave_one_out
from rankexp.errors import ConfigError, exit_on_user_error


def summarize(data: RatingData) -> dict[str, float]:
    """Users, items, ratings, density, liked ratio, evaluated users, median history length, dropped ratings."""
    ratings = data.ratings
    split = leave_one_out(ratings, data.like_threshold)
    per_user = ratings.groupby("user").size()
    return {
        "users": data.n_users,
        "items": data.n_items,
        "ratings": len(ratings),
        "density": len(ratings) / max(1, data.n_users * data.n_items),
        "liked_ratio": float((ratings["rating"] >= data.like_threshold).mean()),
        "evaluated_users": int(split.test["user"].nunique()),
        "median_history": float(np.median(per_user.to_numpy())),
        "dropped_unknown_items": data.dropped_unknown_items,
    }


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4f}" if abs(value) < 1 else f"{value:,.2f}"


def parse_overrides(argv: Sequence[str]) -> list[str]:
    """`--help`, or the Hydra overrides (every other argument must be key=value)."""
    description, examples, notes = __doc__.split("\n\n", 2)
    parser = argparse.ArgumentParser(prog="python -m rankexp.data.summary", description=description,
                                     epilog=f"examples:\n{examples}\n\n{notes}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="Hydra overrides, e.g. data=ml1m or data.root=/path (default: the run's dataset)")
    args = parser.parse_args(list(argv))
    loose = [a for a in args.overrides if "=" not in a]
    if loose:
        raise ConfigError(f"expected Hydra overrides such as `data=ml1m`, got {' '.join(loose)!r}")
    return args.overrides


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from rich.console import Console
    from rich.table import Table

    from rankexp.config.conf_dir import CONF_DIR

    args = parse_overrides(sys.argv[1:] if argv is None else argv)
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=args)
    stats = summarize(instantiate(cfg.data))
    table = Table(title=f"dataset {cfg.data.name}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        table.add_row(key, _fmt(value))
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
