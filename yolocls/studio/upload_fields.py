"""The form fields of a dataset upload and the errors an upload answers with (422, 413, 409)."""

from __future__ import annotations

import re
from collections.abc import Callable

from yolocls.core.errors import YoloclsError

TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class UploadError(YoloclsError):
    status_code = 422


class UploadTooLarge(YoloclsError):
    status_code = 413


class UploadConflict(YoloclsError):
    status_code = 409


def check_name(name: str, name_taken: Callable[[str], bool]) -> str:
    """A dataset name as given by the client: valid (422) and free (409)."""
    if not NAME_RE.match(name):
        raise UploadError(f"name: '{name[:120]}' must be letters, digits, '.', '_' or '-' (at most 100)")
    if name_taken(name):
        raise UploadConflict(f"name: a dataset named '{name}' exists; choose another name")
    return name


def flag(fields: dict[str, str], name: str) -> bool:
    """A true/false form field (absent: false)."""
    value = fields.get(name, "").lower()
    if value not in TRUE | FALSE:
        raise UploadError(f"{name}: '{value[:20]}' is not true or false")
    return value in TRUE
