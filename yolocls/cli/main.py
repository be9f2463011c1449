"""Command-line interface: `yolocls prepare|train|presets|report|runs|export|serve|predict`.

Heavy libraries (torch, Ultralytics) are imported inside the commands that need them, so
`yolocls --help` is instant. Errors a user can cause print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback

from pydantic import ValidationError

from yolocls import __version__
from yolocls.cli.curve import add_curve
from yolocls.cli.labels import add_check_labels
from yolocls.cli.prepare import add_prepare
from yolocls.cli.serve import add_serving
from yolocls.cli.studio import add_studio
from yolocls.cli.train import add_report, add_train
from yolocls.cli.tune import add_tune
from yolocls.core.errors import YoloclsError
from yolocls.core.limits import set_opencv_pixel_cap

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BUG = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yolocls", description="Labelled images in, a deployed YOLOv8 image "
                                     "classifier out: prepare -> train -> report -> export -> serve.")
    parser.add_argument("--version", action="version", version=f"yolocls {__version__}")
    parser.add_argument("--debug", action="store_true", default=os.environ.get("YOLOCLS_DEBUG") == "1",
                        help="print the full traceback of an unexpected error (or set YOLOCLS_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_prepare(sub)
    add_train(sub)
    add_report(sub)
    add_curve(sub)
    add_tune(sub)
    add_check_labels(sub)
    add_serving(sub)
    add_studio(sub)
    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


_EXTRA_COMMANDS: list = []


def describe_validation_error(exc: ValidationError) -> str:
    """'--epochs 0: Input should be greater than or equal to 1' (first problem, named as a flag)."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "value"
    flag = f"--{field.replace('_', '-')}" if exc.title.endswith("Options") else f"YOLOCLS_{field.upper()}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{flag} {first.get('input')!r}: {first.get('msg')}{more}"


def main(argv: list[str] | None = None) -> int:
    set_opencv_pixel_cap()  # the program's entry point, before any command imports cv2 (none at module level)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except YoloclsError as exc:
        print(f"yolocls {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"yolocls {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValidationError as exc:  # option models (flags, YOLOCLS_* settings) rejected a value
        print(f"yolocls {args.command}: error: {describe_validation_error(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # permissions, full disk, missing paths: the user's environment, not a bug
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"yolocls {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:  # a bug: one line for the user, the traceback kept for the report
        if args.debug:
            traceback.print_exc()
            return EXIT_BUG
        where = _save_traceback(args.command)
        print(f"yolocls {args.command}: unexpected error: {type(exc).__name__}: {exc} (this is a bug; full "
              f"traceback in {where}, or rerun with --debug)", file=sys.stderr)
        return EXIT_BUG


def _save_traceback(command: str) -> str:
    """Write the current exception's traceback to a file; returns where (or says it could not)."""
    text = f"yolocls {__version__} {command}: {' '.join(sys.argv)}\n{traceback.format_exc()}"
    try:
        fd, name = tempfile.mkstemp(prefix=f"yolocls-{command}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return name
    except OSError:
        return "(could not be written)"
