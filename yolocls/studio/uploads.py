"""Dataset uploads streamed straight to disk: never held in memory, capped in size, paths checked.

One multipart request carries either a part `file` (a .zip/.tar/.tar.gz archive) or many parts `files`
whose filenames are relative paths (a browser folder upload), plus an optional part `labels` (a
`filename,label` CSV) and the form fields `name`, `split`, `seed`, `keep_conflicts`, `labelling`. The upload is
written into a `.partial-*` folder renamed into place only once complete, so an interrupted upload leaves nothing.

A folder's files are received into one tar archive (`upload.tar`, appended sequentially) rather than one file
each: receiving is then as fast as the same bytes sent as a zip, and the preparation job extracts both forms
the same way, under the same checks.
"""

from __future__ import annotations

import errno
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from yolocls.core.errors import DiskFullError, YoloclsError
from yolocls.data.archive import ARCHIVE_SUFFIXES, MAX_MEMBERS, safe_member_path
from yolocls.data.splitting import parse_ratios
from yolocls.studio.upload_fields import (  # noqa: F401 (UploadTooLarge, UploadConflict: this module's errors)
    NAME_RE,
    UploadConflict,
    UploadError,
    UploadTooLarge,
    check_name,
    flag,
)

FIELDS = {"name", "split", "seed", "keep_conflicts", "labelling"}
MAX_FIELD_BYTES = 4096
NAME_MAX_BYTES = 255  # the longest file or folder name common filesystems store
SPOOL_BYTES = 8 * 1024**2  # a folder upload's file is held in memory up to this size, then spooled to disk


@dataclass
class Upload:
    """A complete upload on disk and what prepare needs to know about it."""

    folder: Path
    name: str
    split: str
    seed: int
    source: Path  # the archive (a folder upload is received as one)
    csv: Path | None
    keep_conflicts: bool = False
    name_given: bool = True  # False: derived from the archive's or folder's name (the studio may suffix it)
    labelling: bool = False  # images to label (none, or only some, labelled): stored for the annotator


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    sink: IO[bytes] | None = None
    member: str | None = None  # a folder upload's file: its path inside upload.tar
    value: bytearray = field(default_factory=bytearray)


class _Receiver:
    """python-multipart callbacks writing each part to its place under `folder`."""

    def __init__(self, folder: Path, limit: int, name_taken: Callable[[str], bool] = lambda _n: False) -> None:
        self.folder, self.limit, self.name_taken = folder, limit, name_taken
        self.received = 0
        self.part = _Part()
        self.header_field = b""
        self.header_value = b""
        self.fields: dict[str, str] = {}
        self.archive: Path | None = None
        self.tree: tarfile.TarFile | None = None
        self.tree_names: set[str] = set()
        self.top_names: set[str] = set()
        self.labels: Path | None = None

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end,
                "on_header_field": self._hfield, "on_header_value": self._hvalue, "on_header_end": self._hend,
                "on_headers_finished": self._headers_done}

    def _begin(self) -> None:
        self.part = _Part()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _hend(self) -> None:
        self.part.headers[self.header_field.decode("latin-1").lower()] = self.header_value.decode("utf-8", "replace")
        self.header_field = self.header_value = b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self.part.headers.get("content-disposition", ""))
        part = self.part
        part.name = params.get(b"name", b"").decode("utf-8", "replace")
        raw = params.get(b"filename")
        part.filename = raw.decode("utf-8", "replace") if raw is not None else None
        if part.name in FIELDS and part.filename is None:
            return
        part.sink = self._open_sink(part)

    def _open_sink(self, part: _Part) -> IO[bytes]:
        filename = part.filename or ""
        if part.name == "file":
            if self.archive is not None or self.tree_names:
                raise UploadError("file: send one archive per upload, or 'files' parts for a folder, not both")
            suffix = next((s for s in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True)
                           if filename.lower().endswith(s)), None)
            if suffix is None:
                raise UploadError(f"file '{filename}': not an archive; expected .zip, .tar, .tar.gz or .tgz")
            self.archive = self.folder / f"upload{suffix}"
            self.fields.setdefault("_archive_name", filename)
            return self.archive.open("xb")
        if part.name == "labels":
            if self.labels is not None:
                raise UploadError("labels: send one labels CSV")
            self.labels = self.folder / "labels.csv"
            return self.labels.open("xb")
        if part.name == "files":
            if self.archive is not None:
                raise UploadError("files: send one archive per upload, or 'files' parts for a folder, not both")
            part.member = self._member_name(filename)
            return tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b", dir=str(self.folder))
        raise UploadError(f"unexpected part '{part.name}'; send 'file' or 'files' (+ 'labels', 'name', 'split', "
                          "'seed', 'keep_conflicts', 'labelling')")

    @property
    def tree_files(self) -> int:
        return len(self.tree_names)

    def _member_name(self, filename: str) -> str:
        """The checked relative path of a folder upload's file (422 for an unsafe, repeated or too long one)."""
        if len(self.tree_names) >= MAX_MEMBERS:
            raise UploadError(f"files: more than {MAX_MEMBERS} files; upload an archive instead")
        try:
            rel = safe_member_path(filename, Path(filename or "upload"))
        except YoloclsError as exc:
            raise UploadError(f"files: '{filename}' is not a safe relative path ({exc})") from None
        if rel is None:
            raise UploadError("files: a part without a file name; send each file with its relative path")
        if any(len(p.encode()) > NAME_MAX_BYTES for p in rel.parts):
            raise UploadError(f"files: '{filename[:80]}...': a file or folder name is too long for the server's "
                              f"filesystem (over {NAME_MAX_BYTES} bytes); shorten it")
        member = rel.as_posix()
        if member in self.tree_names:
            raise UploadError(f"files: '{filename}' was sent twice")
        self.tree_names.add(member)
        if not rel.parts[0].startswith("."):
            self.top_names.add(rel.parts[0] if len(rel.parts) > 1 else "")
        return member

    def _add_member(self, part: _Part) -> None:
        """Append a received folder file to upload.tar (created with the first one)."""
        assert part.sink is not None and part.member is not None
        if self.tree is None:
            self.tree = tarfile.open(self.folder / "upload.tar", "x", format=tarfile.PAX_FORMAT)
        info = tarfile.TarInfo(part.member)
        info.size, info.mode, info.mtime = part.sink.tell(), 0o644, int(time.time())
        part.sink.seek(0)
        self.tree.addfile(info, part.sink)

    def _data(self, data: bytes, start: int, end: int) -> None:
        self.received += end - start
        if self.received > self.limit:
            raise UploadTooLarge(f"upload exceeds {self.limit} bytes (YOLOCLS_MAX_UPLOAD_BYTES)")
        if self.part.sink is not None:
            self.part.sink.write(data[start:end])
        else:
            self.part.value += data[start:end]
            if len(self.part.value) > MAX_FIELD_BYTES:
                raise UploadError(f"{self.part.name}: form field longer than {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        if self.part.sink is not None:
            if self.part.member is not None:
                self._add_member(self.part)
            self.part.sink.close()
        elif self.part.name in FIELDS:
            value = self.fields[self.part.name] = self.part.value.decode("utf-8", "replace").strip()
            if self.part.name == "name" and value:
                if self.fields.get("_query_name", value) != value:
                    raise UploadError(f"name: '{value[:120]}' differs from the query's name "
                                      f"'{self.fields['_query_name']}'; send one")
                check_name(value, self.name_taken)  # as soon as the field arrives: not after gigabytes

    def close(self) -> None:
        if self.part.sink is not None and not self.part.sink.closed:
            self.part.sink.close()
        if self.tree is not None:
            self.tree.close()


async def receive_upload(request: Request, uploads_dir: Path, upload_id: str, limit: int,
                         name_taken: Callable[[str], bool] = lambda _n: False) -> Upload:
    """Stream the request body into uploads_dir/<id>/; on any error nothing is left behind. A name given as
    the query parameter `name` is checked before the body is read; a `name` field when it arrives (409)."""
    query_name = request.query_params.get("name")
    if query_name is not None:
        check_name(query_name, name_taken)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise UploadTooLarge(f"upload of {length} bytes exceeds {limit} bytes (YOLOCLS_MAX_UPLOAD_BYTES)")
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError("expected a multipart/form-data body with a 'file' archive or 'files' parts")
    partial = uploads_dir / f".partial-{upload_id}"
    partial.mkdir(parents=True)
    receiver = _Receiver(partial, limit, name_taken)
    if query_name is not None:
        receiver.fields["_query_name"] = query_name
    try:
        parser = MultipartParser(params[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        receiver.close()
        upload = _finish(receiver, partial, uploads_dir / upload_id)
    except BaseException as exc:
        receiver.close()
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, YoloclsError | KeyboardInterrupt | SystemExit):
            raise
        if isinstance(exc, OSError):
            raise _os_error(exc, receiver.part.filename) from None
        raise UploadError(f"malformed multipart upload ({type(exc).__name__})") from None
    return upload


def _os_error(exc: OSError, filename: str | None) -> YoloclsError:
    """A failed write of an upload, said without server paths: full disk 507, a bad name 422."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError("the studio's disk is full: the upload was not kept; free space in its home and retry")
    if exc.errno == errno.ENAMETOOLONG:
        return UploadError(f"files: '{(filename or '')[:80]}...': a file or folder name is too long for the "
                           "server's filesystem; shorten it")
    return UploadError(f"files: '{filename}': cannot be stored ({exc.strerror})")


def _finish(receiver: _Receiver, partial: Path, final: Path) -> Upload:
    fields = receiver.fields
    if receiver.archive is None and receiver.tree_files == 0:
        raise UploadError("no data: send a 'file' part (an archive) or 'files' parts (a folder)")
    if receiver.archive is not None and receiver.tree_files:
        raise UploadError("send either one 'file' archive or 'files' parts, not both")
    split = fields.get("split") or "0.8,0.1,0.1"
    try:
        parse_ratios(split)
    except YoloclsError as exc:
        raise UploadError(f"split: {str(exc).split(': ', 1)[-1]}") from None
    try:
        seed = int(fields.get("seed") or 0)
    except ValueError:
        raise UploadError(f"seed: '{fields.get('seed')}' is not a whole number") from None
    keep_conflicts, labelling = flag(fields, "keep_conflicts"), flag(fields, "labelling")
    if receiver.archive is not None:
        source = receiver.archive
        default_name = Path(fields.get("_archive_name", "dataset")).name.split(".")[0]
    else:
        source = partial / "upload.tar"  # extracted like an archive: a single top folder is unwrapped
        tops = receiver.top_names
        default_name = next(iter(tops)) if len(tops) == 1 and "" not in tops else "dataset"
    given = fields.get("name") or fields.get("_query_name")
    name = given or re.sub(r"[^A-Za-z0-9_.-]", "-", default_name).strip("-.")[:90] or "dataset"
    if not NAME_RE.match(name):
        raise UploadError(f"name: '{name}' must be letters, digits, '.', '_' or '-' (at most 100)")
    partial.rename(final)  # complete: from here on the upload exists
    source = final / source.relative_to(partial)
    csv = final / "labels.csv" if receiver.labels is not None else None
    return Upload(folder=final, name=name, split=split, seed=seed, source=source, csv=csv,
                  keep_conflicts=keep_conflicts, name_given=bool(given), labelling=labelling)

