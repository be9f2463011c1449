"""Find the labelled images in a source folder: class folders, a pre-split tree, or images + CSV."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from yolocls.core.errors import SourceError
from yolocls.data.layout import SPLIT_ALIASES
from yolocls.data.walk import file_identity, walk_files

IGNORED_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "__macosx"}
# Never let these reach a dataset folder: Ultralytics unpickles `*.cache`; the rest are pickles or arrays.
IGNORED_SUFFIXES = {".cache", ".npy", ".npz", ".pkl", ".pickle", ".pt", ".pth"}
FILENAME_COLUMNS = ("filename", "file", "file_name", "image", "image_path", "path")
LABEL_COLUMNS = ("label", "class", "class_name", "category")


@dataclass(frozen=True)
class SourceItem:
    """One candidate image: where it is, its label and (for a pre-split source) its split."""

    path: Path
    rel: str
    label: str
    split: str | None = None


@dataclass
class Collected:
    layout: str  # "folders" | "presplit" | "csv" (Manifest.layout)
    items: list[SourceItem]
    ignored: list[tuple[str, str]]  # (relative path, reason)
    warnings: list[str]


def ignore_reason(rel_parts: tuple[str, ...]) -> str | None:
    """Why a path is never used (hidden/system/pickle file), or None."""
    for part in rel_parts:
        low = part.lower()
        if low in IGNORED_NAMES:
            return f"ignored system file/folder '{part}'"
        if part.startswith("."):
            return f"ignored hidden file/folder '{part}'"
    suffix = Path(rel_parts[-1]).suffix.lower()
    if suffix in IGNORED_SUFFIXES:
        return f"ignored '{suffix}' file (may be a pickle; never copied into a dataset)"
    return None


def check_label(label: str, where: str) -> str:
    """A class name must be usable as a folder name."""
    label = label.strip()
    if not label:
        raise SourceError(f"{where}: blank label; every image needs a class name")
    if label in (".", "..") or "/" in label or "\\" in label or label.startswith(".") or "\x00" in label:
        raise SourceError(f"{where}: label '{label}' cannot be a folder name (no '/', '\\' or leading '.')")
    return label


def _collect_tree(root: Path, split_of_top: dict[str, str] | None, collected: Collected) -> None:
    """Class folders (optionally below split folders). Files outside a class folder are reported."""
    for found in walk_files(root):
        parts = found.parts
        reason = ignore_reason(parts)
        if reason:
            collected.ignored.append((found.rel, reason))
            continue
        split = None
        if split_of_top is not None:
            split = split_of_top.get(parts[0])
            if split is None:
                collected.ignored.append((found.rel, "outside the train/val/test folders"))
                continue
            parts = parts[1:]
        if len(parts) < 2:
            collected.ignored.append((found.rel, "not inside a class folder"))
            continue
        label = check_label(parts[0], f"folder '{'/'.join(found.parts[:-1])}'")
        collected.items.append(SourceItem(found.path, found.rel, label, split))


def _split_folders(root: Path) -> dict[str, str] | None:
    """Map top-level folder name -> split when root is a pre-split tree, else None."""
    found: dict[str, str] = {}
    for child in sorted(root.iterdir()):
        alias = SPLIT_ALIASES.get(child.name.lower())
        if child.is_dir() and alias:
            if alias in found.values():
                other = next(k for k, v in found.items() if v == alias)
                raise SourceError(f"{root}: both '{other}/' and '{child.name}/' look like the {alias} split; "
                                  "keep one")
            found[child.name] = alias
    if "train" in found.values() and "val" in found.values():
        return found
    if found and "train" in found.values():
        raise SourceError(f"{root}: has 'train/' but no 'val/' (or 'valid/', 'validation/'); add a val "
                          "folder or move the class folders up to prepare from one pool")
    return None


def read_labels_csv(csv_path: Path, filename_col: str | None, label_col: str | None,
                    nrows: int | None = None) -> pd.DataFrame:
    """`filename,label` rows as a DataFrame with columns filename, label, line (1-based file line)."""
    try:
        with csv_path.open("r", encoding="utf-8-sig", newline="") as fh:
            sample = fh.read(4096)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                         sep=dialect.delimiter, skipinitialspace=True, nrows=nrows)
    except UnicodeDecodeError as exc:
        raise SourceError(f"{csv_path}: not UTF-8 text ({exc.reason}); save the CSV as UTF-8") from exc
    except (pd.errors.EmptyDataError, csv.Error):
        raise SourceError(f"{csv_path}: empty CSV; expected a header 'filename,label' and one row per image") from None
    except pd.errors.ParserError as exc:
        raise SourceError(f"{csv_path}: cannot parse CSV ({exc})") from exc
    columns = {str(c).strip().lower(): c for c in df.columns}

    def pick(wanted: str | None, defaults: tuple[str, ...], flag: str) -> str:
        names = (wanted.strip().lower(),) if wanted else defaults
        for name in names:
            if name in columns:
                return columns[name]
        raise SourceError(f"{csv_path}: no column {' / '.join(repr(n) for n in names)} (columns: "
                          f"{', '.join(repr(str(c).strip()) for c in df.columns)}); name it with {flag}")

    fcol = pick(filename_col, FILENAME_COLUMNS, "--filename-col")
    lcol = pick(label_col, LABEL_COLUMNS, "--label-col")
    out = pd.DataFrame({"filename": df[fcol].str.strip(), "label": df[lcol].str.strip()})
    out["line"] = range(2, len(out) + 2)
    if out.empty:
        raise SourceError(f"{csv_path}: has a header but no rows")
    return out


def looks_like_labels_csv(path: Path) -> bool:
    try:
        read_labels_csv(path, None, None, nrows=1)  # header and a first row are enough to recognise it
        return True
    except SourceError:
        return False


def _resolve_row(filename: str, bases: list[Path], where: str) -> tuple[Path, tuple[int, int]]:
    rel = filename.replace("\\", "/")
    if rel.startswith("/"):  # absolute paths are fine when they point into the image folder
        inside = [b for b in bases if Path(rel).resolve().is_relative_to(b.resolve())]
        if not inside:
            raise SourceError(f"{where}: filename '{filename}' points outside the image folder")
        rel = Path(rel).resolve().relative_to(inside[0].resolve()).as_posix()
        bases = inside[:1]
    if any(p == ".." for p in rel.split("/")):
        raise SourceError(f"{where}: filename '{filename}' points outside the image folder")
    for base in bases:
        candidate = base / rel
        identity = file_identity(candidate)
        if identity is not None:
            return candidate, identity
    raise SourceError(f"{where}: file '{filename}' not found in {' or '.join(str(b) for b in bases)}; "
                      "fix the row or remove it")


def _collect_csv(root: Path, csv_path: Path, filename_col: str | None, label_col: str | None,
                 collected: Collected) -> None:
    df = read_labels_csv(csv_path, filename_col, label_col)
    # Rows are relative to the source, or to its single top folder (a zipped or uploaded folder whose labels
    # file came separately), or to the CSV's own folder.
    top = single_top_folder(root)
    bases = [root, *([top] if top else [])]
    if csv_path.parent.resolve() != root.resolve():
        bases.append(csv_path.parent)
    seen: dict[tuple[int, int], SourceItem] = {}  # by file identity: two spellings of one file are one image
    conflicts: set[tuple[int, int]] = set()
    for filename, label, line in df.itertuples(index=False):
        where = f"{csv_path.name} line {line}"
        if not filename:
            raise SourceError(f"{where}: blank filename")
        path, key = _resolve_row(filename, bases, where)
        item = SourceItem(path, filename.replace("\\", "/"), check_label(label, where))
        if key in seen and seen[key].label != item.label:
            conflicts.add(key)
        elif key in seen:
            collected.warnings.append(f"{where}: '{filename}' is listed twice; used once")
        seen.setdefault(key, item)
    for key, item in seen.items():
        if key in conflicts:
            collected.ignored.append((item.rel, "listed in the CSV with conflicting labels"))
        else:
            collected.items.append(item)
    listed = set(seen)
    listed.add(file_identity(csv_path) or (-1, -1))
    for found in walk_files(root):
        if found.identity not in listed:
            collected.ignored.append((found.rel, ignore_reason(found.parts) or f"not listed in {csv_path.name}"))


def find_csv(root: Path) -> Path | None:
    """A labels CSV lying at the top of the source (for archives and `prepare FOLDER`)."""
    candidates = [p for p in sorted(root.glob("*.csv")) if not p.name.startswith(".")]
    matches = [p for p in candidates if looks_like_labels_csv(p)]
    if len(matches) > 1:
        raise SourceError(f"{root}: several label CSVs ({', '.join(p.name for p in matches)}); choose one with --csv")
    return matches[0] if matches else None


def single_top_folder(root: Path) -> Path | None:
    """The one visible folder at the top of `root` when there is nothing else (what `zip -r x.zip x` or a
    browser folder upload gives), else None."""
    entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.name.lower() not in IGNORED_NAMES]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else None


def find_labels(root: Path) -> tuple[Path, Path | None]:
    """(the folder the images are relative to, its labels CSV): a CSV at the top of `root`, or at the top of
    its single top folder (a zipped or uploaded folder holding its images and their labels file)."""
    found = find_csv(root)
    if found is not None:
        return root, found
    top = single_top_folder(root)
    if top is not None:
        inner = find_csv(top)
        if inner is not None:
            return top, inner
    return root, None


def check_structure(root: Path, collected: Collected) -> None:
    """Before any image is decoded: a classifier needs two classes. Says where labels were looked for."""
    labels = {item.label for item in collected.items}
    if len(labels) >= 2:
        return
    where = {"csv": "in the labels CSV", "presplit": "in the split folders", "folders": "as class folders"}
    hint = ("" if collected.layout == "csv" else
            "; if the labels are in a filename,label CSV, put it at the top of the folder (or of its single "
            "sub-folder) or name it with --csv")
    raise SourceError(f"{root.name}: only one class ('{next(iter(labels))}') found {where[collected.layout]} among "
                      f"{len(collected.items)} files; a classifier needs at least two{hint}")


def collect(root: Path, csv_path: Path | None = None, filename_col: str | None = None,
            label_col: str | None = None) -> Collected:
    """Detect the layout of `root` and list every candidate image with its label."""
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder or a supported archive (.zip, .tar, .tar.gz, .tgz)")
    collected = Collected(layout="folders", items=[], ignored=[], warnings=[])
    if csv_path is None and (filename_col or label_col):
        raise SourceError("--filename-col/--label-col need --csv")
    if csv_path is None:
        root, csv_path = find_labels(root)
    if csv_path is not None:
        collected.layout = "csv"
        _collect_csv(root, csv_path, filename_col, label_col, collected)
    else:
        splits = _split_folders(root)
        collected.layout = "presplit" if splits else "folders"
        _collect_tree(root, splits, collected)
    if not collected.items:
        raise SourceError(f"{root}: no images found (expected class sub-folders, train/ + val/ folders, "
                          "or images with a filename,label CSV)")
    check_structure(root, collected)
    return collected
