"""Atomic filesystem helpers: a reader never sees half a file or half a folder, a failure leaves nothing.

Every file or folder yolocls publishes (manifest.json, run.json, export.json, report/, datasets, models)
goes through these: write beside the target on the same filesystem, then rename into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from yolocls.core.errors import YoloclsError
from yolocls.core.limits import proc_status


def current_umask() -> int:
    """The process umask, read without changing it (os.umask would, for a moment, in every thread)."""
    value = proc_status("Umask")
    if value is not None and value.isdigit():
        return int(value, 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: Path, folder: bool = False) -> None:
    """Give a file made by mkstemp (0600) or a folder made by mkdtemp (0700) the permissions any other
    tool's output gets (0666/0777 less the umask): a run folder mounted into a container stays readable."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():
            follow_umask(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A temp folder beside `out` (same filesystem: hard links and an atomic rename); always removed after.

    Publish its content with `publish_dir(...)` inside the `with` block.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        follow_umask(tmp, folder=True)  # inside the try: a Ctrl-C right here still removes the folder
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_dir(tmp: Path, out: Path, overwrite: bool, what: str = "") -> None:
    """Rename the finished folder `tmp` to `out`; an existing `out` (only with `overwrite`) is swapped out
    and deleted afterwards, and restored when the rename fails."""
    old = None
    if out.exists():
        if not overwrite:
            raise YoloclsError(f"{out} already exists; {what or 'pass --overwrite to replace it'}")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
