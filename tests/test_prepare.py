"""`yolocls prepare` on real generated files: every input kind, bad files, determinism, leakage, safety."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import noise_image
from yolocls.cli import main


def run(*args: str) -> int:
    return main(["prepare", *map(str, args)])


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def listing(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")


def test_prepare_class_folders_makes_stratified_three_way_split(make_class_folders, tmp_path):
    src = make_class_folders(per_class=20)
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    assert m["classes"] == ["cat", "dog", "fox"]
    assert m["layout"] == "folders"
    for c in m["classes"]:
        assert (m["counts"]["train"][c], m["counts"]["val"][c], m["counts"]["test"][c]) == (16, 2, 2)
        for split in ("train", "val", "test"):
            assert len(list((out / split / c).iterdir())) == m["counts"][split][c]
    # untouched JPEGs are hard-linked, not copied
    f = next((out / "train" / "cat").iterdir())
    assert f.stat().st_nlink == 2


def test_prepare_output_is_accepted_by_ultralytics(make_class_folders, tmp_path):
    from ultralytics.data.utils import check_cls_dataset

    out = tmp_path / "out"
    assert run(make_class_folders(), "--out", out, "--split", "0.6,0.2,0.2") == 0
    info = check_cls_dataset(str(out))
    assert info["nc"] == 3
    assert list(info["names"].values()) == ["cat", "dog", "fox"]
    assert info["test"] is not None


def test_prepare_two_ratios_means_no_test_split(make_class_folders, tmp_path):
    out = tmp_path / "out"
    assert run(make_class_folders(), "--out", out, "--split", "80,20") == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["train", "val"]
    assert manifest(out)["split"] == {"train": 0.8, "val": 0.2}


def test_prepare_is_deterministic_and_seed_matters(make_class_folders, tmp_path):
    src = make_class_folders(per_class=15)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run(src, "--out", a, "--seed", "7") == 0
    assert run(src, "--out", b, "--seed", "7") == 0
    assert run(src, "--out", c, "--seed", "8") == 0
    assert listing(a) == listing(b)
    assert all((a / p).read_bytes() == (b / p).read_bytes() for p in listing(a))
    assert listing(a) != listing(c)


def test_prepare_keeps_presplit_layout_and_accepts_valid_alias(tmp_path):
    src = tmp_path / "src"
    for split, n in (("train", 6), ("valid", 2), ("test", 2)):
        for c in ("a", "b"):
            d = src / split / c
            d.mkdir(parents=True)
            for k in range(n):
                noise_image(hash((split, c, k)) % 10**6).save(d / f"{k}.png")
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    assert m["layout"] == "presplit" and m["split"] is None
    assert m["counts"] == {"train": {"a": 6, "b": 6}, "val": {"a": 2, "b": 2}, "test": {"a": 2, "b": 2}}


def test_prepare_presplit_with_class_missing_from_val_fails_naming_it(tmp_path, capsys):
    src = tmp_path / "src"
    for split, classes in (("train", ("a", "b")), ("val", ("a",))):
        for c in classes:
            (src / split / c).mkdir(parents=True)
            for k in range(3):
                noise_image(hash((split, c, k)) % 10**6).save(src / split / c / f"{k}.png")
    assert run(src, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "class 'b' has no images in the val split" in err
    assert not (tmp_path / "out").exists()


def test_prepare_csv_tolerates_bom_whitespace_header_case_and_subpaths(tmp_path):
    img = tmp_path / "imgs"
    (img / "sub").mkdir(parents=True)
    rows = []
    for k in range(24):
        name = f"sub/{k}.jpg" if k % 2 else f"{k}.jpg"
        noise_image(k).save(img / name)
        rows.append(f"  {name} ,  {'yes' if k % 3 else 'no'} ")
    csv = tmp_path / "labels.csv"
    csv.write_bytes(("\ufeff FileName , LABEL\n" + "\n".join(rows) + "\n").encode("utf-8"))
    out = tmp_path / "out"
    assert run(img, "--csv", csv, "--out", out, "--split", "0.5,0.25,0.25") == 0
    m = manifest(out)
    assert m["layout"] == "csv" and m["classes"] == ["no", "yes"]
    assert sum(m["counts"][s][c] for s in m["counts"] for c in m["classes"]) == 24


def csv_source(tmp_path: Path, header: str, row) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    """12 distinct PNGs in tmp_path/imgs and tmp_path/labels.csv with `row(k, path)` lines."""
    img = tmp_path / "imgs"
    img.mkdir()
    lines = [header]
    for k in range(12):
        noise_image(k).save(img / f"{k}.png")
        lines.append(row(k, img / f"{k}.png"))
    (tmp_path / "labels.csv").write_text("\n".join(lines))
    return img, tmp_path / "labels.csv"


def test_prepare_csv_custom_columns(tmp_path):
    img, csv = csv_source(tmp_path, "id;kind", lambda k, _: f"{k}.png;{'x' if k % 2 else 'y'}")
    out = tmp_path / "out"
    assert run(img, "--csv", csv, "--filename-col", "id", "--label-col", "kind", "--out", out,
               "--split", "0.5,0.5") == 0
    assert manifest(out)["classes"] == ["x", "y"]


@pytest.mark.parametrize("csv_text, expected", [
    ("filename,label\n0.png,a\nmissing.png,b\n", "line 3: file 'missing.png' not found"),
    ("filename,label\n0.png,a\n1.png,  \n", "line 3: blank label"),
    ("name,label\n0.png,a\n", "no column 'filename'"),
    ("filename,kind\n0.png,a\n", "no column 'label'"),
    ("filename,label\n../../etc/passwd,a\n", "points outside the image folder"),
    ("filename,label\n0.png,a\n1.png,a\n2.png,a\n", "only one class ('a')"),
    ("", "empty CSV"),
    ("filename,label\n", "has a header but no rows"),
])
def test_prepare_csv_errors_are_one_clear_line(tmp_path, capsys, csv_text, expected):
    img = tmp_path / "imgs"
    img.mkdir()
    for k in range(3):
        noise_image(k).save(img / f"{k}.png")
    (tmp_path / "labels.csv").write_text(csv_text)
    assert run(img, "--csv", tmp_path / "labels.csv", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_prepare_empty_source_and_missing_source_fail_clearly(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run(tmp_path / "empty", "--out", tmp_path / "o") == 2
    assert "no images found" in capsys.readouterr().err
    assert run(tmp_path / "nope", "--out", tmp_path / "o") == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_prepare_class_too_small_for_splits_names_class_and_count(make_class_folders, tmp_path, capsys):
    src = make_class_folders(per_class=10)
    (src / "rare").mkdir()
    noise_image(999_999).save(src / "rare" / "only.jpg")
    noise_image(999_998).save(src / "rare" / "two.jpg")
    assert run(src, "--out", tmp_path / "out") == 2
    assert "class 'rare' has 2 usable image(s)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def _save_variants(d: Path) -> dict[str, str]:
    """Odd but valid images: each must be converted to 8-bit RGB. Returns name -> expected output suffix."""
    d.mkdir(parents=True, exist_ok=True)
    noise_image(1, mode="CMYK").save(d / "cmyk.jpg")
    noise_image(2).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "palette.png")
    noise_image(3, mode="RGBA").save(d / "alpha.png")
    Image.fromarray((np.random.default_rng(4).integers(0, 65535, (30, 30))).astype(np.uint16)).save(d / "deep.png")
    noise_image(5, mode="L").save(d / "gray.png")
    noise_image(6).save(d / "anim.gif")
    noise_image(7).save(d / "scan.tiff")
    noise_image(8).save(d / "photo.webp")
    rot = noise_image(9, size=(60, 30))
    exif = rot.getexif()
    exif[0x0112] = 6  # rotate 90: stored 60x30, displayed 30x60
    rot.save(d / "rotated.jpg", exif=exif)
    return {"cmyk": ".jpg", "palette": ".png", "alpha": ".png", "deep": ".png", "gray": ".png", "anim": ".png",
            "scan": ".png", "photo": ".jpg", "rotated": ".jpg"}


def test_prepare_normalises_odd_images_and_skips_bad_files_with_reasons(make_class_folders, tmp_path):
    src = make_class_folders(per_class=12)
    expected = _save_variants(src / "cat" / "odd")
    bad = src / "dog"
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "notes.jpg").write_text("definitely not a jpeg")
    buf = io.BytesIO()
    noise_image(77, size=(200, 200)).save(buf, "JPEG")
    (bad / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (bad / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (bad / "Thumbs.db").write_bytes(b"x")
    (bad / "train.cache").write_bytes(b"pickle!")
    (src / "__MACOSX" / "cat").mkdir(parents=True)
    (src / "__MACOSX" / "cat" / "._x.jpg").write_bytes(b"junk")
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    reasons = {s["path"]: s["reason"] for s in m["skipped"]}
    assert reasons["dog/empty.jpg"] == "empty file"
    assert reasons["dog/notes.jpg"].startswith("not an image")
    assert reasons["dog/truncated.jpg"].startswith("corrupt or truncated")
    assert "ignored" in reasons["dog/.DS_Store"] and "ignored" in reasons["dog/Thumbs.db"]
    assert "pickle" in reasons["dog/train.cache"]
    assert "__MACOSX/cat/._x.jpg" in reasons
    assert m["classes"] == ["cat", "dog", "fox"]  # __MACOSX never becomes a class
    by_source = {f["source"]: f for f in m["files"]}
    for stem, suffix in expected.items():
        entry = next(v for k, v in by_source.items() if k.startswith(f"cat/odd/{stem}."))
        assert entry["converted"] and entry["path"].endswith(suffix)
        with Image.open(out / entry["path"]) as im:
            assert im.mode == "RGB", stem
            if stem == "rotated":
                assert im.size == (30, 60)
    assert not list(out.rglob("*.cache"))


def test_prepare_pixel_limit_skips_large_images(make_class_folders, tmp_path):
    src = make_class_folders(per_class=10)
    noise_image(5, size=(400, 400)).save(src / "cat" / "huge.png")
    out = tmp_path / "out"
    assert run(src, "--out", out, "--max-pixels", "100000") == 0
    reasons = {s["path"]: s["reason"] for s in manifest(out)["skipped"]}
    assert reasons["cat/huge.png"].startswith("too large: 400x400")


def test_prepare_duplicates_never_straddle_splits_and_conflicts_are_excluded(make_class_folders, tmp_path):
    src = make_class_folders(per_class=15)
    # near duplicates: the same picture re-encoded at another quality, several times, same label
    base = noise_image(4242, size=(64, 64))
    for q in range(5):
        base.save(src / "cat" / f"near_{q}.jpg", quality=95 - 5 * q)
    # exact copy with the same label, and an exact copy carrying another label
    (src / "dog" / "copy.jpg").write_bytes((src / "dog" / "dog_000.jpg").read_bytes())
    (src / "fox" / "stolen.jpg").write_bytes((src / "cat" / "cat_001.jpg").read_bytes())
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    split_of = {f["source"]: f["path"].split("/")[0] for f in m["files"]}
    near_splits = {split_of[f"cat/near_{q}.jpg"] for q in range(5)}
    assert len(near_splits) == 1
    groups = {tuple(g["files"]): g for g in m["duplicates"]}
    assert groups[tuple(f"cat/near_{q}.jpg" for q in range(5))]["kind"] == "near"
    assert "dog/copy.jpg" not in split_of or "dog/dog_000.jpg" not in split_of
    assert "cat/cat_001.jpg" not in split_of and "fox/stolen.jpg" not in split_of
    conflict = groups[("cat/cat_001.jpg", "fox/stolen.jpg")]
    assert conflict["labels"] == ["cat", "fox"] and conflict["action"].startswith("excluded")
    reasons = {s["path"]: s["reason"] for s in m["skipped"]}
    assert "conflicting labels" in reasons["fox/stolen.jpg"]


def test_prepare_warns_on_small_classes_and_imbalance(make_class_folders, tmp_path, capsys):
    src = make_class_folders(classes=("big",), per_class=40)
    make_class_folders(classes=("tiny",), per_class=3, root=src, seed=9)
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    assert any("'tiny' has only 3 images" in w for w in m["warnings"])
    assert any("imbalance 13.3x" in w for w in m["warnings"])
    assert "warning: class imbalance" in capsys.readouterr().out


def _zip_tree(src: Path, dest: Path, top: str = "photos") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, f"{top}/{p.relative_to(src).as_posix()}")
    return dest


def test_prepare_zip_with_single_top_folder_and_tar_gz(make_class_folders, tmp_path):
    src = make_class_folders(per_class=10)
    z = _zip_tree(src, tmp_path / "upload.zip")
    assert run(z, "--out", tmp_path / "from_zip") == 0
    t = tmp_path / "upload.tar.gz"
    with tarfile.open(t, "w:gz") as tf:
        tf.add(src, arcname="photos")
    assert run(t, "--out", tmp_path / "from_tar") == 0
    assert listing(tmp_path / "from_zip") == listing(tmp_path / "from_tar")
    assert manifest(tmp_path / "from_zip")["classes"] == ["cat", "dog", "fox"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # extraction cleaned up


def test_prepare_zip_in_csv_form_is_detected(tmp_path):
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w") as zf:
        rows = ["filename,label"]
        for k in range(12):
            buf = io.BytesIO()
            noise_image(k).save(buf, "PNG")
            zf.writestr(f"data/images/{k}.png", buf.getvalue())
            rows.append(f"images/{k}.png,{'a' if k % 2 else 'b'}")
        zf.writestr("data/labels.csv", "\n".join(rows))
    out = tmp_path / "out"
    assert run(z, "--out", out, "--split", "0.5,0.25,0.25") == 0
    assert manifest(out)["layout"] == "csv"


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/yolocls-abs-evil.txt", "a/../../evil.txt"])
def test_prepare_rejects_zip_with_path_traversal(make_class_folders, tmp_path, capsys, member):
    src = make_class_folders(per_class=5)
    z = _zip_tree(src, tmp_path / "evil.zip")
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(member, "owned")
    work = tmp_path / "work"
    work.mkdir()
    assert run(z, "--out", work / "out") == 2
    assert "refusing the archive" in capsys.readouterr().err
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/yolocls-abs-evil.txt").exists()
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_prepare_rejects_tar_with_links(make_class_folders, tmp_path, capsys, kind):
    src = make_class_folders(per_class=5)
    t = tmp_path / "evil.tar"
    with tarfile.open(t, "w") as tf:
        tf.add(src, arcname="photos")
        info = tarfile.TarInfo("photos/cat/link.jpg")
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    assert run(t, "--out", tmp_path / "out") == 2
    assert "is a link; refusing the archive" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_prepare_rejects_zip_symlink_member(make_class_folders, tmp_path, capsys):
    z = _zip_tree(make_class_folders(per_class=5), tmp_path / "evil.zip")
    with zipfile.ZipFile(z, "a") as zf:
        info = zipfile.ZipInfo("photos/cat/link.jpg")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    assert run(z, "--out", tmp_path / "out") == 2
    assert "is a symlink" in capsys.readouterr().err


def test_prepare_rejects_zip_bomb(tmp_path, capsys):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/x.png", b"\0" * (64 * 1024 * 1024))
        zf.writestr("b/y.png", b"\0" * 10)
    assert run(z, "--out", tmp_path / "out") == 2
    assert "zip bomb" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_prepare_refuses_existing_output_unless_overwrite(make_class_folders, tmp_path, capsys):
    src = make_class_folders(per_class=10)
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    (out / "marker").write_text("old")
    assert run(src, "--out", out) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "marker").exists()
    assert run(src, "--out", out, "--overwrite") == 0
    assert not (out / "marker").exists() and (out / "manifest.json").exists()


def test_prepare_dry_run_writes_nothing(make_class_folders, tmp_path, capsys):
    assert run(make_class_folders(per_class=10), "--out", tmp_path / "out", "--dry-run") == 0
    assert "dry run: nothing written" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_prepare_runs_in_parallel_on_bigger_inputs(make_class_folders, tmp_path):
    src = make_class_folders(per_class=120)  # above the parallel threshold
    out = tmp_path / "out"
    assert run(src, "--out", out, "--workers", "2") == 0
    assert sum(sum(v.values()) for v in manifest(out)["counts"].values()) == 360


def test_prepare_bundled_sample_in_csv_form(tmp_path):
    from tests.helpers import SAMPLE

    out = tmp_path / "sample"
    assert run(SAMPLE, "--out", out) == 0
    m = manifest(out)
    assert m["layout"] == "csv" and len(m["classes"]) == 10
    assert all(m["counts"][s][c] >= 1 for s in ("train", "val", "test") for c in m["classes"])
    assert os.path.getsize(out / m["files"][0]["path"]) > 0


def test_prepare_archive_with_file_and_folder_of_the_same_name_fails_cleanly(tmp_path, capsys):
    z = tmp_path / "clash.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("data/cat", b"i am a file")
        zf.writestr("data/cat/1.png", b"and a folder")
    assert run(z, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "cannot extract" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clash.zip"]


def test_prepare_output_in_unwritable_place_is_one_line(make_class_folders, tmp_path, capsys):
    if os.geteuid() == 0:
        target = Path("/proc/yolocls-out")  # not writable even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "out"
    assert run(make_class_folders(per_class=5), "--out", target) == 2
    err = capsys.readouterr().err
    assert err.startswith("yolocls prepare: error:") and "Traceback" not in err


def test_prepare_follows_symlinked_images_and_folders(make_class_folders, tmp_path):
    src = make_class_folders(per_class=10)
    elsewhere = make_class_folders(classes=("owl",), per_class=10, root=tmp_path / "elsewhere", seed=5)
    (src / "owl").symlink_to(elsewhere / "owl", target_is_directory=True)
    (src / "cat" / "loop").symlink_to(src, target_is_directory=True)  # a cycle must not hang
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    assert m["classes"] == ["cat", "dog", "fox", "owl"]
    assert sum(m["counts"][s]["owl"] for s in m["counts"]) == 10


def test_prepare_csv_accepts_absolute_paths_inside_the_folder(tmp_path, capsys):
    img, csv = csv_source(tmp_path, "filename,label", lambda k, path: f"{path},{'a' if k % 2 else 'b'}")
    assert run(img, "--csv", csv, "--out", tmp_path / "out", "--split", "0.5,0.5") == 0
    (tmp_path / "evil.csv").write_text("filename,label\n/etc/hostname,a\n")
    assert run(img, "--csv", tmp_path / "evil.csv", "--out", tmp_path / "out2") == 2
    assert "points outside the image folder" in capsys.readouterr().err


def test_prepare_presplit_ignores_split_flag_with_a_warning(tmp_path):
    src = tmp_path / "src"
    for split in ("train", "val"):
        for c in ("a", "b"):
            (src / split / c).mkdir(parents=True)
            for k in range(3):
                noise_image(hash((split, c, k)) % 10**6).save(src / split / c / f"{k}.png")
    assert run(src, "--out", tmp_path / "out", "--split", "0.5,0.5") == 0
    assert any("--split 0.5,0.5 ignored" in w for w in manifest(tmp_path / "out")["warnings"])


def test_prepare_rejects_tar_gz_bomb(tmp_path, capsys):
    bomb = tmp_path / "bomb.tar.gz"
    payload = tmp_path / "zeros.png"
    payload.write_bytes(b"\0" * (80 * 1024 * 1024))  # 80 MiB of zeros gzips to ~80 kB
    with tarfile.open(bomb, "w:gz") as tf:
        tf.add(payload, arcname="a/zeros.png")
        tf.add(payload, arcname="b/zeros.png")
    payload.unlink()
    assert run(bomb, "--out", tmp_path / "out") == 2
    assert "expands over 200x its size (zip bomb?)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.tar.gz"]


def test_prepare_out_of_range_option_is_one_line_naming_the_flag(make_class_folders, tmp_path, capsys):
    assert run(make_class_folders(per_class=5), "--out", tmp_path / "o", "--near-dup-threshold", "99") == 2
    err = capsys.readouterr().err
    assert "--near-dup-threshold 99: Input should be less than or equal to 15" in err and "Traceback" not in err


def test_prepare_ctrl_c_leaves_nothing_behind(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for c in ("a", "b"):  # enough work (several seconds) that the signal surely lands mid-run on a busy machine
        (src / c).mkdir(parents=True)
        for k in range(2500):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(src / c / f"{k}.bmp")
    work = tmp_path / "work"
    work.mkdir()
    # A shell starts background jobs with SIGINT ignored and Python keeps that: give the child a terminal's default.
    proc = subprocess.Popen([sys.executable, "-m", "yolocls", "prepare", str(src), "--out", str(work / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not list(work.glob(".out.tmp-*")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert list(work.iterdir()) == []


def test_prepare_big_photos_truncation_caught_and_png_copy_grouped(make_class_folders, tmp_path):
    src = make_class_folders(per_class=10)
    yy, xx = np.mgrid[0:1000, 0:1200]
    photo = np.stack([(xx * 0.3) % 256, (yy * 0.2) % 256, ((xx + yy) * 0.1) % 256], -1).astype(np.uint8)
    Image.fromarray(photo).save(src / "cat" / "photo.jpg", quality=90)
    Image.fromarray(photo).save(src / "cat" / "photo_copy.png")
    data = (src / "cat" / "photo.jpg").read_bytes()
    (src / "dog" / "cut_photo.jpg").write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    reasons = {s["path"]: s["reason"] for s in m["skipped"]}
    assert reasons["dog/cut_photo.jpg"].startswith("corrupt or truncated")
    assert any(set(g["files"]) == {"cat/photo.jpg", "cat/photo_copy.png"} and g["kind"] == "near"
               for g in m["duplicates"])


@pytest.mark.parametrize("free_mib, at_least_mib", [(200, 180), (100, 90), (1, 0.9), (100_000, 100_000 - 256)])
def test_extraction_keeps_a_margin_that_fits_small_disks(free_mib, at_least_mib):
    """A home with under 256 MiB free still takes a small archive (it used to refuse every one, "over 0 MiB")."""
    from yolocls.data.archive import usable_bytes

    usable = usable_bytes(int(free_mib * 1024**2))
    assert at_least_mib * 1024**2 <= usable < free_mib * 1024**2


def _folder_with_labels(root: Path, per_class: int = 10) -> Path:
    """A folder holding images and its own labels.csv (the most common way users keep a labelled set)."""
    root.mkdir(parents=True)
    rows = ["filename,label"]
    for ci, name in enumerate(("coat", "shirt", "sneaker")):
        for k in range(per_class):
            noise_image(100 * ci + k).save(root / f"{name[:2]}{k:03d}.png")
            rows.append(f"{name[:2]}{k:03d}.png,{name}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("pack", ["zip", "tar.gz", "nested-folder"])
def test_a_packed_folder_with_its_labels_csv_is_prepared(tmp_path, pack):
    """`zip -r x.zip x` of a folder of images + labels.csv (a file manager's "compress"), the same as a tarball,
    and a folder whose single sub-folder holds them: the CSV is found, three classes."""
    folder = _folder_with_labels(tmp_path / "pack" / "x")
    if pack == "zip":
        source = tmp_path / "x.zip"
        with zipfile.ZipFile(source, "w") as zf:
            zf.write(folder, "x/")
            for f in sorted(folder.iterdir()):
                zf.write(f, f"x/{f.name}")
    elif pack == "tar.gz":
        source = tmp_path / "x.tar.gz"
        with tarfile.open(source, "w:gz") as tf:
            tf.add(folder, "x")
    else:
        source = tmp_path / "pack"
    assert run(source, "--out", tmp_path / "out") == 0
    m = manifest(tmp_path / "out")
    assert m["classes"] == ["coat", "shirt", "sneaker"] and len(m["files"]) == 30 and m["layout"] == "csv"


def test_one_class_is_said_before_any_image_is_decoded(tmp_path, capsys):
    """A structural problem is found from the file list: no image is checked first (a broken file among them
    is not reached), and the message says where labels were looked for."""
    src = tmp_path / "photos" / "x"
    src.mkdir(parents=True)
    for k in range(5):
        noise_image(k).save(src / f"{k}.png")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert run(tmp_path / "photos", "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "only one class ('x') found as class folders among 6 files" in err
    assert "filename,label CSV" in err and "broken" not in err


def test_a_conflicting_copy_leaves_out_only_the_images_involved(make_class_folders, tmp_path):
    """A photo re-encoded 4 times in 'cat' and once more filed under 'dog': only images with a copy under
    another label are left out (not their whole group, never unrelated images); --keep-conflicts keeps them,
    together in one split."""
    src = make_class_folders(per_class=15)
    base = noise_image(777, size=(64, 64))
    for q in range(4):
        base.save(src / "cat" / f"photo_{q}.jpg", quality=95 - 3 * q)
    base.save(src / "dog" / "photo_wrong.jpg", quality=86)
    out = tmp_path / "out"
    assert run(src, "--out", out) == 0
    m = manifest(out)
    kept = {f["source"] for f in m["files"]}
    reasons = {s["path"]: s["reason"] for s in m["skipped"]}
    assert "conflicting labels (cat, dog)" in reasons["dog/photo_wrong.jpg"]
    assert "--keep-conflicts" in reasons["dog/photo_wrong.jpg"]
    assert all(f"cat/cat_{k:03d}.jpg" in kept and f"dog/dog_{k:03d}.jpg" in kept for k in range(15))
    out2 = tmp_path / "kept"
    assert run(src, "--out", out2, "--keep-conflicts") == 0
    kept2 = {f["source"]: f["path"] for f in manifest(out2)["files"]}
    assert kept2["dog/photo_wrong.jpg"].split("/")[1] == "dog"
    photos = [p for s, p in kept2.items() if "photo_" in s]
    assert len(photos) == 5 and len({p.split("/")[0] for p in photos}) == 1  # one split: no leakage
