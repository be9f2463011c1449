"""Ctrl-C and SIGTERM during training: never in the middle of a checkpoint write, never a false status.

Ultralytics writes `last.pt`/`best.pt` in place, per epoch (`save_model`) and once more at the end, when
`final_eval` strips the optimizer from both (`strip_optimizer`). A truncated checkpoint can neither resume
nor be evaluated, so a signal arriving during any of these writes is raised right after the write. The
guard also tells the run which phase it is in: once `final_eval` starts every epoch has finished, so an
interruption there leaves a complete run, not a resumable one.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from yolocls.training.rundir import keep_previous


class InterruptGuard:
    """Install on the main thread around `model.train()`; `protect` is an `on_pretrain_routine_start` callback."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.deferring = 0  # > 0 while a checkpoint is being written (or the run record finalised)
        self.pending = False
        self.final_phase = False  # every epoch finished; Ultralytics strips checkpoints and validates best.pt
        self._restore_strip: Callable[[], None] | None = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()
        if self._restore_strip is not None:
            self._restore_strip()
            self._restore_strip = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.deferring:
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

    def _wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            with self.deferred():
                return fn(*args, **kwargs)

        return guarded

    def protect(self, trainer: Any) -> None:
        """Ultralytics callback: guard the trainer's checkpoint writes and mark its final phase."""
        import ultralytics.engine.trainer as trainer_module

        save_model = trainer.save_model
        weights = [Path(trainer.last), Path(trainer.best)] if hasattr(trainer, "last") else []

        def save_keeping_previous(*args: Any, **kwargs: Any) -> Any:
            with keep_previous(weights):
                return save_model(*args, **kwargs)

        trainer.save_model = self._wrap(save_keeping_previous)
        final_eval = trainer.final_eval

        def marked_final_eval(*args: Any, **kwargs: Any) -> Any:
            self.final_phase = True
            return final_eval(*args, **kwargs)

        trainer.final_eval = marked_final_eval
        original_strip = trainer_module.strip_optimizer  # the name final_eval calls

        def strip_keeping_previous(f: Any = "best.pt", *args: Any, **kwargs: Any) -> Any:
            with keep_previous([Path(f)], copy=True):  # it reads the file before rewriting it
                return original_strip(f, *args, **kwargs)

        trainer_module.strip_optimizer = self._wrap(strip_keeping_previous)

        def restore_strip() -> None:
            trainer_module.strip_optimizer = original_strip

        self._restore_strip = restore_strip
