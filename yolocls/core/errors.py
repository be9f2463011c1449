"""Errors a user can cause: one hierarchy, turned into one clear line (CLI) or a status code (HTTP)."""

from __future__ import annotations

from typing import ClassVar


class YoloclsError(Exception):
    """Base class: the message names the file/field/value and says what to do."""

    status_code = 400
    headers: ClassVar[dict[str, str]] = {}  # extra HTTP response headers (e.g. Retry-After)


class SourceError(YoloclsError):
    """The input given to `prepare` cannot be used as it is."""


class UnsafeArchiveError(SourceError):
    """An archive member would escape the extraction folder, or the archive is a bomb."""


class DatasetError(YoloclsError):
    """A prepared dataset is missing, incomplete or cannot be split."""


class ConfigError(YoloclsError):
    """A preset, flag or `--set` value is invalid."""


class RunError(YoloclsError):
    """A run folder is missing or lacks what the command needs."""


class ModelError(YoloclsError):
    """A model file is missing, unreadable or inconsistent."""

    status_code = 500


class ImageError(YoloclsError):
    """An uploaded or given image is empty, corrupt or not an image."""

    status_code = 415


class EmptyImageError(ImageError):
    """An uploaded file has no bytes."""

    status_code = 422


class ImageTooLargeError(YoloclsError):
    """An image exceeds the pixel limit (decompression bombs)."""

    status_code = 413


class DiskFullError(YoloclsError):
    """The disk that receives uploads or outputs is full."""

    status_code = 507
