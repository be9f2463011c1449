"""Safe extraction of untrusted .zip/.tar/.tar.gz uploads: no path escapes, no links, capped size/count."""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from yolocls.core.errors import SourceError, UnsafeArchiveError
from yolocls.data.layout import SPLIT_ALIASES

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MAX_MEMBERS = 200_000
MAX_TOTAL_BYTES = 20 * 1024**3  # 20 GiB extracted
MAX_RATIO = 200  # a member, or the whole archive, expanding more than this is treated as a bomb
BOMB_FLOOR = 64 * 1024**2  # below this much output, ratios are not judged (tiny archives compress well)
DISK_MARGIN = 256 * 1024**2  # extraction never fills the disk to the last byte: keeps this much free ...
DISK_MARGIN_FRACTION = 0.1  # ... or this share of the free space, whichever is smaller (a small disk still works)
CHUNK = 1 << 20


def usable_bytes(free: int) -> int:
    """How much of `free` disk an extraction may use: all but a margin (256 MiB, or a tenth of a small disk)."""
    return max(0, free - min(DISK_MARGIN, int(free * DISK_MARGIN_FRACTION)))


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith(ARCHIVE_SUFFIXES)


def safe_member_path(name: str, archive: Path) -> PurePosixPath | None:
    """The member's relative path, or raise when it would land outside the target. None for dirs."""
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise UnsafeArchiveError(f"{archive.name}: member '{name}' has an absolute path; refusing the archive")
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"{archive.name}: member '{name}' escapes the archive folder (..); "
                                 "refusing the archive")
    return PurePosixPath(*parts) if parts else None


class _Budget:
    """Counts members and bytes actually written, whatever the headers claim."""

    def __init__(self, archive: Path, max_members: int, max_bytes: int, free_bytes: int) -> None:
        self.archive, self.max_members, self.max_bytes = archive, max_members, max_bytes
        self.free_bytes = free_bytes
        self.ratio_limit = max(BOMB_FLOOR, MAX_RATIO * archive.stat().st_size)
        self.members = 0
        self.bytes = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise UnsafeArchiveError(f"{self.archive.name}: more than {self.max_members} members; refusing "
                                     "the archive (split it, or prepare from an extracted folder)")

    def copy(self, src: IO[bytes], dst: Path, compressed: int | None) -> None:
        written = 0
        with dst.open("wb") as out:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                self.bytes += len(chunk)
                if self.bytes > self.max_bytes:
                    raise UnsafeArchiveError(f"{self.archive.name}: extracts to more than "
                                             f"{self.max_bytes // 1024**2} MiB; refusing the archive")
                if self.bytes > self.ratio_limit:
                    raise UnsafeArchiveError(f"{self.archive.name}: expands over {MAX_RATIO}x its size "
                                             "(zip bomb?); refusing the archive")
                if self.bytes > self.free_bytes:
                    raise SourceError(f"{self.archive.name}: not enough free disk space to extract it (more "
                                      f"than the {self.free_bytes / 1024**2:.1f} MiB that may be used); free "
                                      "space or extract it yourself and prepare the folder")
                if compressed and written > CHUNK and written > MAX_RATIO * compressed:
                    raise UnsafeArchiveError(f"{self.archive.name}: member '{dst.name}' expands over "
                                             f"{MAX_RATIO}x (zip bomb?); refusing the archive")
                out.write(chunk)


def _target(dest: Path, rel: PurePosixPath) -> Path:
    target = (dest / rel).resolve()
    if not target.is_relative_to(dest.resolve()):
        raise UnsafeArchiveError(f"member '{rel}' escapes the extraction folder; refusing the archive")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _extract_zip(archive: Path, dest: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            budget.member()
            rel = safe_member_path(info.filename, archive)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(f"{archive.name}: member '{info.filename}' is a symlink; "
                                         "refusing the archive")
            if rel is None or info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise SourceError(f"{archive.name}: member '{info.filename}' is encrypted; "
                                  "upload an archive without a password")
            with zf.open(info) as src:
                budget.copy(src, _target(dest, rel), info.compress_size)


def _extract_tar(archive: Path, dest: Path, budget: _Budget) -> None:
    with tarfile.open(archive) as tf:
        for member in tf:
            budget.member()
            rel = safe_member_path(member.name, archive)
            if member.issym() or member.islnk():
                raise UnsafeArchiveError(f"{archive.name}: member '{member.name}' is a link; refusing the archive")
            if member.isdir() or rel is None:
                continue
            if not member.isfile():
                raise UnsafeArchiveError(f"{archive.name}: member '{member.name}' is a device or fifo; "
                                         "refusing the archive")
            src = tf.extractfile(member)
            if src is None:
                continue
            with src:
                budget.copy(src, _target(dest, rel), None)


def extract_archive(archive: Path, dest: Path, max_members: int = MAX_MEMBERS,
                    max_bytes: int = MAX_TOTAL_BYTES) -> Path:
    """Extract into `dest` (must be empty) and return the data root (a single top folder is unwrapped).

    On any refusal the partially extracted content is removed before the error propagates.
    """
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(archive, max_members, max_bytes, usable_bytes(shutil.disk_usage(dest).free))
    try:
        if archive.name.lower().endswith(".zip"):
            try:
                _extract_zip(archive, dest, budget)
            except zipfile.BadZipFile as exc:
                raise SourceError(f"{archive.name}: not a valid zip file ({exc})") from exc
        else:
            try:
                _extract_tar(archive, dest, budget)
            except (tarfile.TarError, EOFError) as exc:
                raise SourceError(f"{archive.name}: not a valid tar archive ({exc})") from exc
    except OSError as exc:  # e.g. a member that is both a file and a folder, or a full disk
        shutil.rmtree(dest, ignore_errors=True)
        member = Path(str(exc.filename)).relative_to(dest) if exc.filename and Path(str(exc.filename)).is_relative_to(
            dest) else ""
        raise SourceError(f"{archive.name}: cannot extract ({exc.strerror or type(exc).__name__}: {member})") from exc
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return unwrap_single_folder(dest)


def unwrap_single_folder(root: Path) -> Path:
    """`archive/photos/<classes>` -> `photos`: descend while the only visible entry is one folder."""
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name.lower() not in SPLIT_ALIASES \
                and any(p.is_dir() and not p.name.startswith(".") for p in entries[0].iterdir()):
            root = entries[0]  # (a folder of files only is a class folder: never unwrapped into)
        else:
            return root

