"""Joining a Ray cluster that uses token authentication (Ray 2.60: on when ~/.ray/auth_token exists): what the
studio and `yolocls tune` set before they import Ray."""

from __future__ import annotations

from pathlib import Path


def token_auth_env(environ: dict[str, str], home: Path) -> dict[str, str]:
    """What to add to the environment before joining a cluster: RAY_AUTH_MODE=token when the user has a Ray
    token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) but did not say the mode; a cluster started
    with token authentication refuses a client without it, and says why only in its own log."""
    has_token = bool(environ.get("RAY_AUTH_TOKEN") or environ.get("RAY_AUTH_TOKEN_PATH")) or \
        (home / ".ray" / "auth_token").is_file()
    return {"RAY_AUTH_MODE": "token"} if has_token and "RAY_AUTH_MODE" not in environ else {}


AUTH_HINT = ("; if the cluster uses token authentication (RAY_AUTH_MODE=token on its nodes), the studio needs the "
             "same token in ~/.ray/auth_token or RAY_AUTH_TOKEN (it then sets RAY_AUTH_MODE=token itself)")
