"""The labelling building blocks without a studio: label CSVs, stable splits, the pool of images to label."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import png_bytes
from yolocls.core.errors import SourceError
from yolocls.data.labelcsv import class_name_problem, match_rows, parse_label_csv
from yolocls.data.pool import read_pool, scan_pool, write_pool
from yolocls.data.stable_split import Entry, assign_stable

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_a_labels_csv_with_a_bom_semicolons_and_aliases_is_read():
    rows = parse_label_csv("\ufeffFile;Class\r\na.png;cat\r\n\r\nb/c.png;dog\r\n".encode())
    assert [(r.line, r.filename, r.label) for r in rows] == [(2, "a.png", "cat"), (4, "b/c.png", "dog")]


@pytest.mark.parametrize("body, expected", [
    (b"filename,label,notes\na,b,c\n", "line 1: unknown column(s) 'notes'"),
    (b"filename\na.png\n", "exactly one filename column and one label column"),
    (b"filename,label\na.png,cat\na.png,dog\n", "line 3: 'a.png' is already on line 2"),
    (b"filename,label\na.png,..\\x\n", "path separator"),
    (b"filename,label\na.png,\x1bred\n", "control character"),
    (("filename,label\na.png," + "x" * 101 + "\n").encode(), "longer than 100"),
    (b"filename,label\n,cat\n", "line 2: blank filename"),
    (b"filename,label\na.png,cat,extra\n", "line 2: 3 cells"),
    (b"filename,label\n", "has a header but no rows"),
    (b"", "empty"),
])
def test_every_problem_of_a_labels_csv_is_one_line_naming_its_row(body, expected):
    with pytest.raises(SourceError) as err:
        parse_label_csv(body)
    assert expected in str(err.value)


def test_all_problems_are_listed_and_nothing_is_half_read():
    body = "filename,label\n" + "".join(f"f{i}.png,a/b\n" for i in range(30))
    with pytest.raises(SourceError) as err:
        parse_label_csv(body.encode())
    text = str(err.value)
    assert text.startswith("labels.csv: 30 problem(s); nothing was applied") and "(and 10 more)" in text


def test_class_names_that_cannot_be_folders_are_refused():
    assert class_name_problem("T-shirt/top") and class_name_problem(".hidden") and class_name_problem(" pad")
    assert class_name_problem("Ankle boot") is None and class_name_problem("chat noir é") is None


def test_rows_match_images_by_relative_path_or_an_unambiguous_ending():
    names = ["a/x.png", "b/x.png", "a/y.png", "z.png"]
    rows = parse_label_csv(b"filename,label\nx.png,c\na/x.png,c\ny.png,d\nupload/z.png,d\nq.png,d\n./b/x.png,e\n")
    matched, unmatched = match_rows(rows, names)
    assert {n: r.label for n, r in matched.items()} == {"a/x.png": "c", "a/y.png": "d", "z.png": "d", "b/x.png": "e"}
    assert [(r.filename, why.split(";")[0]) for r, why in unmatched] == [
        ("x.png", "2 images are named 'x.png'"), ("q.png", "no image of this dataset has this name")]


def test_splits_stay_put_and_new_images_keep_every_class_stratified():
    first = [Entry(i, "ab"[i % 2], f"g{i}", None) for i in range(200)]
    splits = assign_stable(first, RATIOS, seed=3)
    assert Counter(splits.values()) == {"train": 160, "val": 20, "test": 20}
    grown = [Entry(i, "ab"[i % 2], f"g{i}", splits.get(i)) for i in range(400)]
    again = assign_stable(grown, RATIOS, seed=3)
    assert all(again[i] == splits[i] for i in splits)  # stable
    per_class = Counter((e.label, again[e.key]) for e in grown)
    assert per_class[("a", "val")] == per_class[("b", "val")] == 20 and per_class[("a", "train")] == 160


def test_a_new_image_joins_its_near_duplicate_groups_split_and_a_small_class_gets_every_split():
    old = [Entry(1, "a", "g", "test"), Entry(2, "a", "h", "train")]
    assert assign_stable([*old, Entry(3, "a", "g", None)], RATIOS)[3] == "test"
    small = assign_stable([Entry(i, "rare", f"r{i}", None) for i in range(3)], RATIOS)
    assert sorted(small.values()) == ["test", "train", "val"]


def test_the_pool_checks_every_file_collapses_copies_and_keeps_partial_labels(tmp_path: Path):
    src = tmp_path / "up" / "imgs"
    src.mkdir(parents=True)
    for k in range(4):
        (src / f"{k}.png").write_bytes(png_bytes(k % 2, k))
    (src / "copy.png").write_bytes(png_bytes(0, 0))
    (src / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (src / ".DS_Store").write_bytes(b"x")
    csv = b"filename,label\n1.png,green\nimgs/2.png,red\nmissing.png,red\n"
    pool = tmp_path / "pool"
    scan = scan_pool(tmp_path / "up", pool, csv)
    write_pool(scan, pool)
    images = {im.name: im for im in read_pool(pool)}
    assert set(images) == {"imgs/0.png", "imgs/1.png", "imgs/2.png", "imgs/3.png"}  # copy.png collapsed
    assert scan.copies == {"imgs/0.png": ["imgs/copy.png"]}
    assert {n: im.label for n, im in images.items()} == {"imgs/0.png": None, "imgs/1.png": "green",
                                                          "imgs/2.png": "red", "imgs/3.png": None}
    assert {s.path for s in scan.skipped} == {"imgs/bad.jpg", "imgs/.DS_Store"}
    assert any("missing.png" in w for w in scan.warnings)
    stored = pool / images["imgs/1.png"].file
    assert stored.read_bytes() == (src / "1.png").read_bytes() and stored.name.startswith(images["imgs/1.png"].sha256)


def test_a_class_that_lost_its_only_test_image_gets_one_train_image_moved_there():
    entries = [Entry(1, "a", "g1", "train"), Entry(2, "a", "g2", "train"), Entry(3, "a", "g3", "val"),
               Entry(4, "b", "g4", "test")]  # 4 was class a's only test image, relabelled b
    splits = assign_stable(entries, RATIOS)
    assert splits[4] == "test" and splits[3] == "val"
    assert sorted(splits[k] for k in (1, 2)) == ["test", "train"]
