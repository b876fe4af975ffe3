"""Dataset statistics: `python -m rankexp.data.summary data=ml100k`."""

from __future__ import annotations

import sys

import numpy as np

from rankexp.data import RatingData
from rankexp.data.splits import leave_one_out


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


def main() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from rich.console import Console
    from rich.table import Table

    from rankexp.errors import RankexpError

    overrides = [a for a in sys.argv[1:] if "=" in a]
    from rankexp.run import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", overrides=overrides)
    try:
        stats = summarize(instantiate(cfg.data))
    except RankexpError as err:
        Console(stderr=True).print(f"[red]error:[/red] {err}")
        raise SystemExit(2) from None
    table = Table(title=f"dataset {cfg.data.name}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        table.add_row(key, _fmt(value))
    Console().print(table)


if __name__ == "__main__":
    main()
