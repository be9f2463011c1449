"""A `filename,label` CSV applied to images that are already known (the studio's label import, a labelling
upload's partial labels), checked whole before anything is applied: every problem is one line naming its row."""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass

from yolocls.core.errors import SourceError
from yolocls.data.sources import FILENAME_COLUMNS, LABEL_COLUMNS

MAX_CLASS_CHARS = 100
MAX_PROBLEMS = 20  # lines listed in one error; the count says how many more


@dataclass(frozen=True)
class LabelRow:
    line: int
    filename: str
    label: str


def class_name_problem(name: str) -> str | None:
    """Why `name` cannot be a class (it becomes a folder of every dataset version), or None."""
    if not name.strip():
        return "blank class name"
    if len(name) > MAX_CLASS_CHARS:
        return f"class name longer than {MAX_CLASS_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "class name contains a control character"
    if "/" in name or "\\" in name:
        return f"class name '{name}' contains a path separator"
    if name != name.strip():
        return f"class name '{name}' starts or ends with a space"
    if name.startswith("."):
        return f"class name '{name}' starts with '.'"
    return None


def check_class_name(name: str, where: str = "name") -> str:
    problem = class_name_problem(name)
    if problem:
        raise SourceError(f"{where}: {problem}")
    return name


def _columns(header: list[str], where: str) -> tuple[int, int]:
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in FILENAME_COLUMNS + LABEL_COLUMNS]
    if unknown:
        raise SourceError(f"{where} line 1: unknown column(s) {', '.join(repr(u) for u in unknown)}; expected a "
                          "header 'filename,label' and nothing else")
    files = [i for i, h in enumerate(names) if h in FILENAME_COLUMNS]
    labels = [i for i, h in enumerate(names) if h in LABEL_COLUMNS]
    if len(files) != 1 or len(labels) != 1:
        raise SourceError(f"{where} line 1: header {','.join(header)!r}: expected exactly one filename column and "
                          "one label column ('filename,label')")
    return files[0], labels[0]


def parse_label_csv(data: bytes, where: str = "labels.csv") -> list[LabelRow]:
    """Every row of a `filename,label` CSV (UTF-8, a BOM allowed; `,` `;` or tab), or SourceError listing every
    problem (one line each: unknown columns, blank cells, a file listed twice, invalid class names)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{where}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8") from None
    if not text.strip():
        raise SourceError(f"{where}: empty; expected a header 'filename,label' and one row per image")
    first = text.splitlines()[0]
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        fcol, lcol = _columns(header, where)
        rows: list[LabelRow] = []
        problems: list[str] = []
        seen: dict[str, int] = {}
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.append(f"line {line}: {len(record)} cells, the header has {len(header)}")
                continue
            filename, label = record[fcol].strip(), record[lcol].strip()
            problem = ("blank filename" if not filename else f"'{filename}': " + why
                       if (why := class_name_problem(label)) else None)
            if problem is None and filename in seen:
                problem = f"'{filename}' is already on line {seen[filename]}; list each image once"
            seen.setdefault(filename, line)
            if problem:
                problems.append(f"line {line}: {problem}")
                continue
            rows.append(LabelRow(line, filename, label))
    except csv.Error as exc:
        raise SourceError(f"{where} line {reader.line_num}: cannot parse CSV ({exc})") from None
    if problems:
        more = f"\n(and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        raise SourceError(f"{where}: {len(problems)} problem(s); nothing was applied:\n"
                          + "\n".join(problems[:MAX_PROBLEMS]) + more)
    if not rows:
        raise SourceError(f"{where}: has a header but no rows")
    return rows


def match_rows(rows: list[LabelRow], names: list[str]) -> tuple[dict[str, LabelRow], list[tuple[LabelRow, str]]]:
    """CSV rows -> the image each names: its relative path, or any unambiguous ending of it (the path below a
    top folder, the bare file name when no other image has it). Returns ({image name: row}, [(row, why)])."""
    by_ending: dict[str, list[str]] = {}
    for name in names:
        parts = name.split("/")
        for k in range(len(parts)):
            by_ending.setdefault("/".join(parts[k:]), []).append(name)
    full = set(names)
    matched: dict[str, LabelRow] = {}
    unmatched: list[tuple[LabelRow, str]] = []
    for row in rows:
        key = row.filename.replace("\\", "/").lstrip("/")
        while key.startswith("./"):
            key = key[2:]
        found = [key] if key in full else by_ending.get(key, [])
        parts = key.split("/")
        for k in range(1, len(parts)):  # a row naming a folder above the images' own ("upload/a/x.png")
            if found:
                break
            found = ["/".join(parts[k:])] if "/".join(parts[k:]) in full else []
        if len(found) == 1 and found[0] not in matched:
            matched[found[0]] = row
        elif len(found) > 1:
            unmatched.append((row, f"{len(found)} images are named '{key}'; give its relative path"))
        elif found:
            unmatched.append((row, f"names the same image as line {matched[found[0]].line}"))
        else:
            unmatched.append((row, "no image of this dataset has this name"))
    return matched, unmatched

