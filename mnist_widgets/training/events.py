"""Plain training events, and the Keras callback that emits them.

Outputs (the dashboard, the command line's progress bar, the PNG report) listen to these
events; the engine knows nothing of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras


@dataclass
class TrainingEvent:
    """One moment of a run.

    ``kind`` is train_begin, epoch_begin, batch_end, epoch_end, train_end or nan; for
    batch_end ``logs`` holds the batch's own values, for epoch_end Keras' epoch logs.
    """

    kind: str
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    steps: int | None = None
    logs: dict[str, float] = field(default_factory=dict)
    learning_rate: float | None = None
    images_per_second: float | None = None
    elapsed: float = 0.0
    message: str = ""


Listener = Callable[[TrainingEvent], None]


class BatchValues:
    """Turns Keras' running means within an epoch back into each batch's own value.

    Keras logs, after batch k, the mean of the metric over batches 1..k (weighted by batch
    size); the value of batch k alone is ``(n_k * m_k - n_{k-1} * m_{k-1}) / size_k``.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._seen = 0
        self._sums: dict[str, float] = {}

    def update(self, logs: dict[str, Any], batch_size: int) -> dict[str, float]:
        seen = self._seen + batch_size
        values: dict[str, float] = {}
        for key, mean in logs.items():
            try:
                mean = float(mean)
            except (TypeError, ValueError):
                continue
            total = mean * seen
            values[key] = (total - self._sums.get(key, 0.0)) / batch_size
            self._sums[key] = total
        self._seen = seen
        return values


def current_learning_rate(model, upcoming: bool = False) -> float | None:
    """The rate of the optimizer's last step, or with ``upcoming`` of its next step (a
    per-step schedule is evaluated at that step; before any step both are the first's)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        schedule = getattr(optimizer, "_learning_rate", None)
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            step = int(keras.ops.convert_to_numpy(optimizer.iterations))
            rate = schedule(step if upcoming else max(step - 1, 0))
        else:
            rate = optimizer.learning_rate
        return float(keras.ops.convert_to_numpy(rate))
    except Exception:
        return None


class EventEmitter(keras.callbacks.Callback):
    """A Keras callback that turns fit's hooks into ``TrainingEvent`` objects for listeners."""

    def __init__(
        self,
        listeners: list[Listener] | None = None,
        batch_size: int | None = None,
        samples: int | None = None,
    ) -> None:
        super().__init__()
        self.listeners: list[Listener] = list(listeners or [])
        self.batch_size = batch_size
        self.samples = samples
        self._values = BatchValues()

    def add(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def emit(self, event: TrainingEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def _base(self, kind: str, **extra) -> TrainingEvent:
        return TrainingEvent(
            kind,
            epoch=self._epoch,
            epochs=self.params.get("epochs", 0),
            steps=self.params.get("steps"),
            elapsed=time.perf_counter() - self._start,
            **extra,
        )

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._epoch = 0
        self._images = 0
        self.emit(self._base("train_begin", learning_rate=current_learning_rate(self.model, True)))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._values.reset()
        self._epoch_start = time.perf_counter()
        self._epoch_images = 0
        self._last_batch = -1
        self.emit(self._base("epoch_begin", learning_rate=current_learning_rate(self.model, True)))

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        # with steps_per_execution > 1, Keras calls this once per group of steps, and
        # numbers the last, short group as if it were full: cap it at the last step
        steps = self.params.get("steps")
        if steps:
            batch = min(batch, steps - 1)
        last = getattr(self, "_last_batch", batch - 1)
        first, self._last_batch = (last + 1 if batch > last else batch), batch
        size = sum(
            batch_size_of(b, self.params.get("steps"), self.batch_size, self.samples)
            for b in range(first, batch + 1)
        )
        values = self._values.update(logs, size)
        self._epoch_images += size
        seconds = time.perf_counter() - self._epoch_start
        rate = self._epoch_images / seconds if seconds > 0 else None
        kind = "nan" if any(not math.isfinite(v) for v in values.values()) else "batch_end"
        self.emit(self._base(kind, batch=batch, logs=values, images_per_second=rate))

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
        self.emit(
            self._base("epoch_end", logs=logs, learning_rate=current_learning_rate(self.model))
        )

    def on_train_end(self, logs=None):
        self.emit(
            self._base(
                "train_end", logs={k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
            )
        )


def batch_size_of(
    batch: int, steps: int | None, batch_size: int | None, samples: int | None
) -> int:
    """The number of images in batch ``batch`` (the last one of an epoch may be short)."""
    size = batch_size or 1
    if samples and steps and batch == steps - 1:
        return max(1, samples - size * (steps - 1))
    return size


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
