"""`yolocls studio`: the self-hosted service (datasets, training jobs on Ray, runs, models) over HTTP."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from yolocls.core.errors import ConfigError


def add_studio(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("studio", help="run the self-hosted studio: upload, train on Ray, watch, deploy (HTTP API)",
                       description="Serves the studio API under /api/v1 (OpenAPI at /docs). State lives in --home: "
                                   "datasets/, runs/ (shared with the CLI), models/ and studio.db.")
    p.add_argument("--host", default=None, help="default 127.0.0.1 (env YOLOCLS_STUDIO_HOST)")
    p.add_argument("--port", type=int, default=None, help="default 8080 (env YOLOCLS_STUDIO_PORT)")
    p.add_argument("--home", type=Path, default=None, help="project folder (default: the current folder)")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (default: RAY_ADDRESS, else local)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without YOLOCLS_API_KEY")
    p.set_defaults(func=cmd_studio)


def cmd_studio(args: argparse.Namespace) -> int:
    import uvicorn

    from yolocls.serving.engine import HeaderDeadlineProtocol, is_loopback
    from yolocls.studio.app import create_studio_app
    from yolocls.studio.settings import StudioSettings

    old_env, warnings = StudioSettings.deprecated_env(dict(os.environ))
    for line in warnings:
        print(line, file=sys.stderr, flush=True)
    flags = {"host": args.host, "port": args.port, "home": args.home, "ray_address": args.ray_address,
             "insecure": True if args.insecure else None}
    values = {**old_env, **{k: v for k, v in flags.items() if v is not None}}
    settings = StudioSettings(**values)  # type: ignore[arg-type]
    if not settings.auth_required and not is_loopback(settings.host) and not settings.insecure:
        raise ConfigError(f"--host {settings.host} would expose the studio without YOLOCLS_API_KEY; set a key, or "
                          "pass --insecure to accept that anyone who can reach the port can use it")
    settings.home = settings.home.expanduser().resolve()
    os.environ.setdefault("YOLO_OFFLINE", "true")
    print(f"yolocls studio: home {settings.home}, http://{settings.host}:{settings.port} (API /api/v1, docs /docs)",
          flush=True)
    # Open event streams last as long as their job: on SIGTERM they get 5 s, then the studio stops anyway.
    uvicorn.run(create_studio_app(settings), host=settings.host, port=settings.port, log_level="info",
                access_log=False, timeout_graceful_shutdown=5, http=HeaderDeadlineProtocol)
    return 0
