"""A text progress bar for the command line: an output of the engine's events."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .events import TrainingEvent


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ProgressBar:
    """Prints epoch, batch, loss, accuracy, images per second and time left.

    On a terminal it redraws one line a few times a second; elsewhere (logs, CI) it prints
    one line per epoch.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 24, interval: float = 0.25):
        self.stream = stream or sys.stdout
        self.width = width
        self.interval = interval
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = 0.0
        self._loss = self._acc = float("nan")

    def __call__(self, event: TrainingEvent) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler:
            handler(event)

    def _on_train_begin(self, event: TrainingEvent) -> None:
        self._start = time.perf_counter()

    def _on_batch_end(self, event: TrainingEvent) -> None:
        # event.logs holds the batch's own values; smooth them for display
        loss, acc = event.logs.get("loss"), event.logs.get("accuracy")
        k = 0.1
        if loss is not None:
            self._loss = loss if self._loss != self._loss else (1 - k) * self._loss + k * loss
        if acc is not None:
            self._acc = acc if self._acc != self._acc else (1 - k) * self._acc + k * acc
        now = time.perf_counter()
        if not self.tty or now - self._last < self.interval:
            return
        self._last = now
        steps = event.steps or 0
        done = (event.epoch * steps + event.batch + 1) / max(1, event.epochs * steps)
        elapsed = now - self._start
        left = elapsed / done - elapsed if done > 0 else 0
        fill = int(self.width * (event.batch + 1) / max(1, steps))
        bar = "#" * fill + "." * (self.width - fill)
        rate = f"{event.images_per_second:,.0f} img/s" if event.images_per_second else ""
        self.stream.write(
            f"\repoch {event.epoch + 1}/{event.epochs} [{bar}] {event.batch + 1}/{steps} "
            f"loss {self._loss:.4f} acc {self._acc:.4f} {rate} left {_clock(left)}   "
        )
        self.stream.flush()

    def _on_epoch_end(self, event: TrainingEvent) -> None:
        logs = event.logs
        val = ""
        if "val_accuracy" in logs:
            val = f" val_loss {logs['val_loss']:.4f} val_acc {logs['val_accuracy']:.4f}"
        lr = f" lr {event.learning_rate:.2e}" if event.learning_rate is not None else ""
        prefix = "\r" if self.tty else ""
        loss = logs.get("loss", float("nan"))
        self.stream.write(
            f"{prefix}epoch {event.epoch + 1}/{event.epochs} loss {loss:.4f} "
            f"acc {logs.get('accuracy', float('nan')):.4f}{val}{lr} "
            f"[{_clock(event.elapsed)}]".ljust(100)
            + "\n"
        )
        self.stream.flush()

    def _on_nan(self, event: TrainingEvent) -> None:
        self.stream.write(f"\nloss is NaN at epoch {event.epoch + 1}, batch {event.batch + 1}\n")
