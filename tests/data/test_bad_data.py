"""Bad data input: every case is a clear error naming the file, line or key — never a bare traceback."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pandas as pd
import pytest

from rankexp.data import load_dataset
from rankexp.data.download import download, safe_extract
from rankexp.data.splits import explicit_listwise
from rankexp.errors import ConfigError, DataError


def _ml100k(tmp_path: Path, udata: str, uitem: str = "1|Toy Story (1995)|01-Jan-1995||url" + "|0" * 19 + "\n") -> Path:
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text(udata)
    (folder / "u.item").write_bytes(uitem.encode("latin-1"))
    return tmp_path


@pytest.mark.parametrize(
    ("udata", "expected"),
    [
        ("1\t1\t5\t100\n2\t1\t4\n", r"u.data line 2: expected 4 tab-separated fields, got 3"),
        ("1\t1\tfive\t100\n", r"u.data line 1: field `rating` must be a number, got 'five'"),
        ("1\t1\t7\t100\n", r"u.data line 1: rating 7.0 is outside the scale \[1, 5\]"),
        ("1,1,5,100\n", r"u.data line 1: fields are separated by commas, expected tab \(4 fields\)"),
        ("1\t1\t5\tyesterday\n", r"u.data line 1: field `timestamp` must be a number"),
        ("\n\n", r"no ratings in \S+u.data: it holds no rating lines"),
    ],
    ids=["wrong-field-count", "non-numeric-rating", "rating-out-of-range", "wrong-separator", "bad-timestamp", "empty"],
)
def test_malformed_ml100k_ratings(tmp_path, udata, expected):
    root = _ml100k(tmp_path, udata)
    with pytest.raises(DataError, match=expected):
        load_dataset("ml100k", root)


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"missing data file .*u.data.*RANKEXP_DATA_DIR"):
        load_dataset("ml100k", tmp_path)


def test_not_latin1_compatible_file_is_reported(tmp_path):
    folder = tmp_path / "amazon"
    folder.mkdir()
    (folder / "Music_5.json").write_bytes(b"\xff\xfe{not json")
    with pytest.raises(DataError, match="Music_5.json"):
        load_dataset("amazon", tmp_path, category="Music")


def test_amazon_record_missing_fields(tmp_path):
    folder = tmp_path / "amazon"
    folder.mkdir()
    (folder / "Music_5.json").write_text('{"reviewerID": "U1", "asin": "B1", "overall": 5, "unixReviewTime": 1}\n{"reviewerID": "U2"}\n')
    with pytest.raises(DataError, match=r"Music_5.json line 2: expected reviewerID, asin"):
        load_dataset("amazon", tmp_path, category="Music")


def test_bookcrossing_bad_header(tmp_path):
    folder = tmp_path / "bookcrossing"
    folder.mkdir()
    (folder / "BX-Book-Ratings.csv").write_text('"user";"isbn";"rating"\n"1";"X";"5"\n')
    with pytest.raises(DataError, match=r"BX-Book-Ratings.csv line 1: expected a `;`-separated header"):
        load_dataset("bookcrossing", tmp_path)


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown dataset 'ml10m' \(config key `data.name`\); known: amazon, atomic, bookcrossing, ml100k, ml1m, synthetic"):
        load_dataset("ml10m")


def test_a_key_the_loader_does_not_take_names_it():
    with pytest.raises(ConfigError, match=r"`data.category` is not read by ml100k's loader \(rankexp.data.movielens"):
        load_dataset("ml100k", category="Music")


def test_empty_after_kcore(tmp_path):
    root = _ml100k(tmp_path, "1\t1\t5\t100\n2\t1\t4\t101\n")
    with pytest.raises(DataError, match="empty after filtering"):
        load_dataset("ml100k", root, kcore_k=5)


def test_users_with_too_little_history_for_the_protocol():
    ratings = pd.DataFrame({"user": [0] * 5, "item": range(5), "rating": [1, 2, 3, 4, 5.0], "timestamp": range(5)})
    with pytest.raises(DataError, match=r"no user has 30 ratings.*protocol.m"):
        explicit_listwise(ratings, m=10, min_history=10)


def test_list_of_one_candidate_is_a_config_error():
    ratings = pd.DataFrame({"user": [0] * 5, "item": range(5), "rating": [1, 2, 3, 4, 5.0], "timestamp": range(5)})
    with pytest.raises(ConfigError, match=r"protocol.m"):
        explicit_listwise(ratings, m=1, min_history=1)


def fake_downloader(monkeypatch, transfer) -> list[str]:
    """`download`'s transfer replaced by `transfer(url, output_file)`; returns the URLs it was asked for."""
    import pooch.core

    from rankexp.data import download as module

    calls: list[str] = []

    def downloader(url, output_file, pooch):
        calls.append(url)
        transfer(url, output_file)

    monkeypatch.setattr(module, "_downloader", lambda: downloader)
    monkeypatch.setattr(pooch.core.time, "sleep", lambda seconds: None)  # pooch's wait between retries
    return calls


def test_checksum_mismatch_is_retried_then_leaves_no_file(tmp_path, monkeypatch):
    calls = fake_downloader(monkeypatch, lambda url, out: Path(out).write_bytes(b"truncated archive"))
    dest = tmp_path / "cache" / "ml-100k.zip"
    with pytest.raises(DataError, match=r"checksum mismatch for https://files.grouplens.org/\S+ml-100k.zip: .*expected "
                                        r"md5:0{32} but got [0-9a-f]{32}"):
        download("https://files.grouplens.org/datasets/movielens/ml-100k.zip", dest, md5="0" * 32)
    assert len(calls) == 3  # attempts=3
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_download_without_checksum_is_refused(tmp_path):
    with pytest.raises(DataError, match="allow_unverified"):
        download("http://example.invalid/BX.zip", tmp_path / "bx.zip", md5=None)


def test_offline_download_says_how_to_supply_data(tmp_path, monkeypatch):
    import requests

    def offline(url, out):
        raise requests.ConnectionError("HTTPSConnectionPool(host='files.grouplens.org', port=443): Max retries "
                                       "exceeded (Caused by NewConnectionError(\"[Errno 101] Network is unreachable\"))")

    calls = fake_downloader(monkeypatch, offline)
    with pytest.raises(DataError) as caught:
        download("https://files.grouplens.org/datasets/movielens/ml-100k.zip", tmp_path / "a.zip", md5="0" * 32)
    assert str(caught.value) == ("could not download https://files.grouplens.org/datasets/movielens/ml-100k.zip "
                                 "([Errno 101] Network is unreachable). Offline? Put the extracted files under "
                                 "`data.root` or the RANKEXP_DATA_DIR folder instead.")
    assert len(calls) == 3


def test_zip_with_path_traversal_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t5\t1\n")
        zf.writestr("../../escape.txt", "pwned")
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(DataError, match="would extract outside"):
        safe_extract(archive, target)
    assert not (tmp_path.parent / "escape.txt").exists() and not any(target.iterdir())


def test_good_zip_extracts(tmp_path):
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t5\t1\n")
    target = tmp_path / "data"
    safe_extract(archive, target)
    assert (target / "ml-100k" / "u.data").read_text() == "1\t1\t5\t1\n"


UITEM = "1|Toy Story (1995)|01-Jan-1995||url" + "|0" * 19 + "\n"


def test_rating_of_an_item_missing_from_the_item_file_names_file_line_and_id(tmp_path):
    root = _ml100k(tmp_path, "1\t1\t5\t100\n1\t99999\t4\t101\n2\t1\t3\t102\n", UITEM)
    with pytest.raises(DataError, match=r"u\.data line 2: item '99999' is not in the item file .*u\.item.*"
                                        r"data\.unknown_items=drop"):
        load_dataset("ml100k", root)


def test_unknown_items_drop_counts_what_it_dropped(tmp_path):
    from rankexp.data.summary import summarize

    root = _ml100k(tmp_path, "1\t1\t5\t100\n1\t99999\t4\t101\n2\t99998\t3\t102\n2\t1\t3\t103\n", UITEM)
    data = load_dataset("ml100k", root, unknown_items="drop")
    assert len(data.ratings) == 2 and data.items["title"].tolist() == ["Toy Story (1995)"]
    assert data.dropped_unknown_items == 2
    assert summarize(data)["dropped_unknown_items"] == 2


def test_unknown_items_policy_must_be_known(tmp_path):
    root = _ml100k(tmp_path, "1\t1\t5\t100\n", UITEM)
    with pytest.raises(ConfigError, match=r"data\.unknown_items.*known: drop, error"):
        load_dataset("ml100k", root, unknown_items="keep")


@pytest.mark.parametrize("loader", ["ml1m", "bookcrossing", "amazon"])
def test_every_loader_applies_the_unknown_item_rule(tmp_path, loader):
    if loader == "ml1m":
        (tmp_path / "ml-1m").mkdir()
        (tmp_path / "ml-1m" / "ratings.dat").write_text("1::1::5::10\n1::77::4::11\n")
        (tmp_path / "ml-1m" / "movies.dat").write_text("1::Toy Story (1995)::Animation\n")
        kwargs, where = {}, r"ratings\.dat line 2: item '77'"
    elif loader == "bookcrossing":
        (tmp_path / "bookcrossing").mkdir()
        (tmp_path / "bookcrossing" / "BX-Book-Ratings.csv").write_text(
            '"User-ID";"ISBN";"Book-Rating"\n"1";"0155061224";"5"\n"1";"000000000X";"7"\n')
        (tmp_path / "bookcrossing" / "BX-Books.csv").write_text(
            '"ISBN";"Book-Title";"Book-Author";"Year";"Publisher"\n"0155061224";"Rites";"J";"2001";"H"\n')
        kwargs, where = {"rating_scale": (0.0, 10.0)}, r"BX-Book-Ratings\.csv line 3: item '000000000X'"
    else:
        (tmp_path / "amazon").mkdir()
        (tmp_path / "amazon" / "Music_5.json").write_text(
            '{"reviewerID": "U1", "asin": "B1", "overall": 5, "unixReviewTime": 1}\n'
            '{"reviewerID": "U1", "asin": "B2", "overall": 4, "unixReviewTime": 2}\n')
        (tmp_path / "amazon" / "meta_Music.json").write_text('{"asin": "B1", "title": "Kind of Blue"}\n')
        kwargs, where = {"category": "Music"}, r"Music_5\.json line 2: item 'B2'"
    with pytest.raises(DataError, match=where):
        load_dataset(loader, tmp_path, **kwargs)
    assert load_dataset(loader, tmp_path, unknown_items="drop", **kwargs).dropped_unknown_items == 1
