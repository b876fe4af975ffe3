"""`data=atomic`: RecBole atomic files (.inter / .item) in the real format, and clear errors for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.utils import instantiate

from rankexp.data.synthetic import generate_synthetic
from rankexp.errors import DataError
from tests.helpers.runs import TINY, TINY_PROTOCOL, compose, explain, run_module

INTER_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
ITEM_HEADER = "item_id:token\tmovie_title:token_seq\tclass:token_seq"


def write(folder: Path, name: str, suffix: str, lines: list[str]) -> Path:
    (folder / name).mkdir(parents=True, exist_ok=True)
    path = folder / name / f"{name}.{suffix}"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load(folder: Path, name: str = "toy", *overrides: str):
    """The dataset as a run loads it; the DataError itself, not Hydra's wrapper, when it fails."""
    from hydra.errors import InstantiationException

    cfg = compose("data=atomic", f"data.path={folder}", f"data.name={name}", *overrides)
    try:
        return instantiate(cfg.data)
    except InstantiationException as error:
        raise error.__cause__ from None


def toy(folder: Path) -> None:
    write(folder, "toy", "inter", [INTER_HEADER, "1\t10\t4\t100", "1\t11\t2\t101", "2\t10\t5\t102",
                                   "2\t12\t3\t103"])
    write(folder, "toy", "item", [ITEM_HEADER, "10\tToy Story (1995)\tAnimation Comedy",
                                  '11\t"A title\twith a tab"\tDrama', '12\t"Weird" Al\tComedy'])


def test_reads_the_real_format_with_a_quoted_tab(tmp_path):
    toy(tmp_path)
    data = load(tmp_path, "toy", "data.genre_field=class")
    assert data.n_users == 2 and data.n_items == 3 and len(data.ratings) == 4
    titles = dict(zip(data.items["item_id"], data.items["title"]))
    assert titles == {"10": "Toy Story (1995)", "11": "A title\twith a tab", "12": '"Weird" Al'}
    assert data.items.set_index("item_id").loc["10", "genres"] == "Animation|Comedy"
    assert sorted(data.ratings["rating"].tolist()) == [2.0, 3.0, 4.0, 5.0]
    assert data.ratings["timestamp"].tolist() == [100, 101, 102, 103]


def test_implicit_feedback_and_no_timestamp_use_defaults_and_line_order(tmp_path):
    write(tmp_path, "imp", "inter", ["user_id:token\titem_id:token", "u1\ti2", "u1\ti1", "u2\ti1"])
    write(tmp_path, "imp", "item", ["item_id:token\ttitle:token_seq", "i1\tOne", "i2\tTwo"])
    data = load(tmp_path, "imp", "data.implicit_rating=1", "data.title_field=title")
    assert data.ratings["rating"].tolist() == [1.0, 1.0, 1.0]
    assert data.ratings["timestamp"].tolist() == [2, 3, 4]  # the file's line numbers


@pytest.mark.parametrize("inter, message", [
    (["user_id:token\trating:float\ttimestamp:float", "1\t4\t100"],
     r"toy.inter line 1: the header lacks item_id; it has user_id:token, rating:float, timestamp:float"),
    (["user_id:token\titem_id:token\trating:number", "1\t10\t4"],
     r"toy.inter line 1: header field 'rating:number' has unknown type 'number'; RecBole types are token"),
    (["user_id\titem_id:token", "1\t10"], r"toy.inter line 1: header field 'user_id' has no type"),
    ([INTER_HEADER, "1\t10\t4\t100", "1\t11\t2"], r"toy.inter line 3: 3 tab-separated fields, expected 4 \(user_id"),
    ([INTER_HEADER, "1\t10\tfour\t100"], r"toy.inter line 2: `rating` must be a number, got 'four'"),
    ([INTER_HEADER, '1\t"10\t4'], r"toy.inter line 2: 3 tab-separated fields, expected 4"),
    ([INTER_HEADER, "1\t10\t4\t100", "1\t11\tinf\t101"], r"toy.inter line 3: `rating` must be a finite number, got 'inf'"),
    ([INTER_HEADER, "1\t10\t4\t100", "1\t11\t9\t101"], r"toy.inter line 3: rating 9.0 is outside the scale"),
    ([INTER_HEADER, "1\t10\t4\t100", " \t11\t3\t101"], r"toy.inter line 3: `user_id` is empty"),
])
def test_bad_inter_files_name_file_line_and_expected_header(tmp_path, inter, message):
    toy(tmp_path)
    write(tmp_path, "toy", "inter", inter)
    with pytest.raises(DataError, match=message):
        load(tmp_path)


def test_a_missing_title_field_or_item_file_is_named(tmp_path):
    toy(tmp_path)
    with pytest.raises(DataError, match=r"toy.item line 1: the header lacks name.*data.title_field"):
        load(tmp_path, "toy", "data.title_field=name")
    (tmp_path / "toy" / "toy.item").unlink()
    with pytest.raises(DataError, match=r"no toy.item beside .*toy.inter: the prompts show item titles.*"
                                         r"data.require_titles=false"):
        load(tmp_path)
    data = load(tmp_path, "toy", "data.require_titles=false")
    assert sorted(data.items["title"]) == ["10", "11", "12"]
    with pytest.raises(DataError, match=r"no nope.inter under .*data.path"):
        load(tmp_path, "nope")


# RecBole's own ml-100k.item header (its atomic files, as distributed), and Book-Crossing's.
RECBOLE_ML100K_ITEM = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"
RECBOLE_BOOK_ITEM = "item_id:token\tbook_title:token_seq\tbook_author:token_seq\tpublication_year:token\tpublisher:token_seq"


@pytest.mark.parametrize("header, row, column", [
    (RECBOLE_ML100K_ITEM, "{id}\t{title}\t1995\tAnimation Children's Comedy", "movie_title"),
    (RECBOLE_BOOK_ITEM, "{id}\t{title}\tSome Author\t1999\tSome House", "book_title"),
    ("item_id:token\tlabel:token_seq\tclass:token_seq\tyear:token", "{id}\t{title}\tDrama\t1995", "label"),
])
def test_recbole_item_files_load_without_flags_and_log_the_title_column(tmp_path, caplog, header, row, column):
    toy(tmp_path)
    titles = {"10": "Toy Story (1995)", "11": "GoldenEye (1995)", "12": "Four Rooms (1995)"}
    write(tmp_path, "toy", "item", [header] + [row.format(id=i, title=t) for i, t in titles.items()])
    with caplog.at_level("INFO", logger="rankexp.data.atomic"):
        data = load(tmp_path)
    assert dict(zip(data.items["item_id"], data.items["title"])) == titles
    assert f"titles from column {column!r}" in caplog.text


def test_an_explicit_title_field_wins_and_an_unclear_header_is_named(tmp_path):
    toy(tmp_path)
    write(tmp_path, "toy", "item", [RECBOLE_ML100K_ITEM, "10\tToy Story (1995)\t1995\tAnimation",
                                    "11\tGoldenEye (1995)\t1995\tAction", "12\tFour Rooms (1995)\t1995\tThriller"])
    assert load(tmp_path, "toy", "data.title_field=class").items["title"].tolist() == ["Animation", "Action", "Thriller"]
    write(tmp_path, "toy", "item", ["item_id:token\ttitle:token_seq\tapp_name:token_seq", "10\tA\tB", "11\tC\tD",
                                    "12\tE\tF"])
    with pytest.raises(DataError, match=r"toy.item: several title columns title, app_name; it has item_id:token, "
                                        r"title:token_seq, app_name:token_seq; set `data.title_field`"):
        load(tmp_path)
    write(tmp_path, "toy", "item", ["item_id:token\tlabel:token_seq\tblurb:token_seq", "10\tA\tB", "11\tC\tD",
                                    "12\tE\tF"])
    with pytest.raises(DataError, match=r"toy.item: no title column \(token_seq columns label, blurb\); it has "
                                        r"item_id:token, label:token_seq, blurb:token_seq; set `data.title_field`"):
        load(tmp_path)


def test_an_item_missing_from_the_item_file_names_the_line(tmp_path):
    toy(tmp_path)
    write(tmp_path, "toy", "inter", [INTER_HEADER, "1\t10\t4\t100", "2\t99\t5\t102"])
    with pytest.raises(DataError, match=r"toy.inter line 3: item '99' is not in the item file"):
        load(tmp_path)
    assert load(tmp_path, "toy", "data.unknown_items=drop").dropped_unknown_items == 1


def write_synthetic_atomic(folder: Path) -> None:
    ratings, items = generate_synthetic(n_users=60, n_items=120, ratings_per_user=30, seed=1)
    inter = [INTER_HEADER] + [f"{r.user_id}\t{r.item_id}\t{r.rating:g}\t{r.timestamp}" for r in ratings.itertuples()]
    write(folder, "synth", "inter", inter)
    write(folder, "synth", "item", ["item_id:token\ttitle:token_seq"] + [f"{i.item_id}\t{i.title}"
                                                                        for i in items.itertuples()])


@pytest.mark.slow
def test_a_run_on_atomic_files_trains_and_writes_results(tmp_path):
    write_synthetic_atomic(tmp_path / "data")
    done = run_module("rankexp.run", "data=atomic", f"data.path={tmp_path / 'data'}", "data.name=synth", *TINY,
                      *TINY_PROTOCOL, f"hydra.run.dir={tmp_path / 'run'}", env_overrides={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, explain(done)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["data/users"] == 60 and 0.0 <= results["test/ndcg@5"] <= 1.0
    assert results["task_name"] == "explicit_listwise_synth"


def test_the_cli_names_an_unset_dataset_name(tmp_path):
    done = run_module("rankexp.run", "data=atomic", f"data.path={tmp_path}", "mode=data",
                      f"hydra.run.dir={tmp_path / 'run'}", timeout=120)
    assert done.returncode == 2, explain(done)
    assert "error: `data.name` must be set on the command line" in done.stderr and "Traceback" not in done.stderr
