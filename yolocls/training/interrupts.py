"""Ctrl-C and SIGTERM during training: never in the middle of a checkpoint write, never a false status.

Ultralytics writes `last.pt`/`best.pt` in place, per epoch (`save_model`) and once more at the end, when
`final_eval` strips the optimizer from both. A truncated checkpoint can neither resume nor be evaluated, so
a signal arriving during any of these writes is raised right after the write. The guard also tells the run
which phase it is in: once `final_eval` starts every epoch has finished, so an interruption there leaves a
complete run, not a resumable one.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from yolocls.training.rundir import keep_previous

_active: InterruptGuard | None = None  # the guard installed in this process (signal handlers are per process)


def active_guard() -> InterruptGuard | None:
    return _active


@contextlib.contextmanager
def protected_write(paths: list[Path], copy: bool = False) -> Iterator[None]:
    """Around a checkpoint write: signals held until it is over (when a guard is installed in this process) and
    the previous files kept until the new ones are complete (`rundir.keep_previous`)."""
    guard = _active
    with guard.deferred() if guard is not None else contextlib.nullcontext(), keep_previous(paths, copy=copy):
        yield


class InterruptGuard:
    """Install on the main thread around `model.train()`; the trainer (`training.trainer.YoloclsTrainer`) wraps
    its checkpoint writes in `protected_write` and marks `final_phase`."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.deferring = 0  # > 0 while a checkpoint is being written (or the run record finalised)
        self.pending = False
        self.final_phase = False  # every epoch finished; Ultralytics strips checkpoints and validates best.pt

    def install(self) -> None:
        global _active
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
            _active = self

    def restore(self) -> None:
        global _active
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()
        if _active is self:
            _active = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.deferring:
            if not self.pending:
                what = "the final evaluation" if self.final_phase else "the checkpoint being written"
                print(f"stopping once {what} is complete...", file=sys.stderr, flush=True)
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self, raise_after: bool = True) -> Iterator[None]:
        """Signals arriving inside are held; with `raise_after` the first one is raised on leaving."""
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1
            if self.pending and not self.deferring and raise_after:
                self.pending = False
                raise KeyboardInterrupt
