"""The studio's answers to requests it cannot honour: 404, 409, 422, 429 (each a YoloclsError with its status)."""

from __future__ import annotations

from typing import ClassVar

from yolocls.core.errors import YoloclsError


class NotFound(YoloclsError):
    status_code = 404


class Conflict(YoloclsError):
    status_code = 409


class Invalid(YoloclsError):
    status_code = 422


class QueueFull(YoloclsError):
    status_code = 429
    headers: ClassVar[dict[str, str]] = {"Retry-After": "30"}
