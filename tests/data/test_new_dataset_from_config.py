"""A new dataset format is a loader function and a yaml file: nothing in rankexp is edited to use it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.runs import REPO, explain, run_module

LOADER = '''
from pathlib import Path

import pytest

import pandas as pd

from rankexp.data import finish


def load_tsv(name, root, *, like_threshold=4.0, rating_scale=(1.0, 5.0), kcore_k=0, item_noun="item",
             unknown_items="error"):
    ratings = pd.read_csv(Path(root) / "ratings.tsv", sep="\\t", names=["user_id", "item_id", "rating", "timestamp"],
                          dtype={"user_id": str, "item_id": str})
    ratings["line"] = range(1, len(ratings) + 1)
    ids = sorted(set(ratings["item_id"]))
    items = pd.DataFrame({"item_id": ids, "title": [f"Song {i}" for i in ids], "genres": ""})
    return finish(name, ratings, items, like_threshold=like_threshold, rating_scale=rating_scale, kcore_k=kcore_k,
                  item_noun=item_noun, unknown_items=unknown_items)
'''


def _write(tmp_path: Path, extra_key: str = "") -> list[str]:
    (tmp_path / "toy_formats.py").write_text(LOADER)
    rows = [f"{user}\t{item}\t{1 + (user * item) % 5}\t{100 * user + item}" for user in range(7) for item in range(11)]
    (tmp_path / "ratings.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "conf" / "data").mkdir(parents=True, exist_ok=True)
    (tmp_path / "conf" / "data" / "songs.yaml").write_text(
        f"_target_: toy_formats.load_tsv\nname: songs\nroot: {tmp_path}\nlike_threshold: 4.0\n"
        f"rating_scale: [1.0, 5.0]\nkcore_k: 0\nitem_noun: song\nunknown_items: error\n{extra_key}")
    return ["data=songs", "mode=data", f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
            f"hydra.run.dir={tmp_path / 'run'}"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}


def test_a_loader_and_its_yaml_in_a_temp_dir_load_through_the_cli(tmp_path: Path):
    done = run_module("rankexp.run", *_write(tmp_path), env_overrides=_env(tmp_path), timeout=300)
    assert done.returncode == 0, explain(done)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    liked = sum(1 + (user * item) % 5 >= 4 for user in range(7) for item in range(11))
    assert (results["data/users"], results["data/items"], results["data/ratings"]) == (7, 11, 77)
    assert results["data/liked_ratio"] == pytest.approx(liked / 77) and results["task_name"].endswith("_songs")


def test_a_key_the_new_loader_does_not_take_is_refused_by_name(tmp_path: Path):
    done = run_module("rankexp.run", *_write(tmp_path, "like_treshold: 3.0\n"), env_overrides=_env(tmp_path),
                      timeout=300)
    assert done.returncode == 2, explain(done)
    assert "`data.like_treshold` is not a config key" in done.stderr and "data.like_threshold" in done.stderr
