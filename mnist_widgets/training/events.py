"""Plain training events, and the Keras callback that emits them.

Outputs (the dashboard, the command line's progress bar, the PNG report) listen to these
events and read the run's ``History``; the engine knows nothing of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from .control import TrainingControl
from .history import History
from .nan_guard import NanGuard


@dataclass
class TrainingEvent:
    """One moment of a run.

    ``kind`` is train_begin, epoch_begin, batch_end, nan, pause, resume, epoch_end or
    train_end. For batch_end and nan ``logs`` holds the batch's own values, for epoch_end and
    train_end Keras' logs. ``elapsed`` and ``images_per_second`` leave out time spent paused;
    ``seconds_left`` is the time the rest of the run should take at the pace so far.
    ``stop_reason`` (train_end) is None when the run ended as planned, else "user" or "nan";
    ``message`` says why in words.
    """

    kind: str
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    steps: int | None = None
    logs: dict[str, float] = field(default_factory=dict)
    learning_rate: float | None = None
    images_per_second: float | None = None
    seconds_left: float | None = None
    elapsed: float = 0.0
    stop_reason: str | None = None
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
    """The one callback a run needs: it turns fit's hooks into ``TrainingEvent`` objects.

    After each batch, in this order: the batch's own values go into ``history``, the
    ``nan_guard`` checks the loss, listeners hear ``batch_end`` (or ``nan``), and the
    ``control`` holds a pause (announced as ``pause`` and ``resume`` events) and passes on a
    Stop. The engine uses one for each ``Trainer``; the dashboard, for plain ``model.fit``,
    uses its own: one history, one control and one NaN guard per run either way. Whoever
    starts a run resets the control first (a Stop pressed while the run sets up counts).

    ``batch_size`` and ``samples`` (training images per epoch) make the value of a short last
    batch exact and give images per second; without them batches count equally.
    """

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
        self.history = History()
        self.control = TrainingControl()
        self.nan_guard = NanGuard()
        self._values = BatchValues()
        self._epoch = self._epochs_at_start = self._steps_done = 0
        self._last_batch = -1
        self._start = time.perf_counter()
        self._paused_at_start = 0.0

    def set_model(self, model):
        super().set_model(model)
        self.control.set_model(model)
        self.nan_guard.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.control.set_params(params)
        self.nan_guard.set_params(params)

    def emit(self, event: TrainingEvent) -> None:
        for listener in list(self.listeners):
            listener(event)

    @property
    def stop_reason(self) -> str | None:
        """None while the run goes as planned, else "nan" or "user"."""
        if self.nan_guard.message:
            return "nan"
        return "user" if self.control.stop_requested else None

    def _working(self, since: float, paused_then: float) -> float:
        """Seconds since ``since``, less the time paused since then."""
        return time.perf_counter() - since - (self.control.paused_seconds - paused_then)

    def _event(self, kind: str, **extra) -> TrainingEvent:
        return TrainingEvent(
            kind,
            epoch=self._epoch,
            epochs=self.params.get("epochs", 0),
            steps=self.params.get("steps"),
            elapsed=self._working(self._start, self._paused_at_start),
            **extra,
        )

    def _seconds_left(self, elapsed: float) -> float | None:
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        if not steps or not epochs or not self._steps_done:
            return None
        total = (epochs - self._epochs_at_start) * steps
        return max(0.0, (total - self._steps_done) * elapsed / self._steps_done)

    # -- Keras hooks ----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.nan_guard.on_train_begin(logs)
        self.history.clear(self.params.get("steps"))
        self._start = time.perf_counter()
        self._paused_at_start = self.control.paused_seconds
        self._epoch = self._epochs_at_start = 0
        self._steps_done = 0
        self._last_batch = -1
        self._first_epoch = True
        self.emit(self._event("train_begin", learning_rate=current_learning_rate(self.model, True)))

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch:  # fit's initial_epoch
            self._epochs_at_start, self._first_epoch = epoch, False
        self._epoch = epoch
        self._values.reset()
        self._epoch_start = time.perf_counter()
        self._epoch_paused = self.control.paused_seconds
        self._epoch_images = 0
        self._last_batch = -1
        self.control.on_epoch_begin(epoch, logs)
        self.nan_guard.on_epoch_begin(epoch, logs)
        rate = current_learning_rate(self.model, True)
        self.history.add_rate(epoch, rate)
        self.emit(self._event("epoch_begin", learning_rate=rate))

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        # with steps_per_execution > 1, Keras calls this once per group of steps, and
        # numbers the last, short group as if it were full: cap it at the last step
        steps = self.params.get("steps")
        if steps:
            batch = min(batch, steps - 1)
        first = self._last_batch + 1 if batch > self._last_batch else batch
        self._last_batch = batch
        size = sum(
            batch_size_of(b, steps, self.batch_size, self.samples) for b in range(first, batch + 1)
        )
        values = self._values.update(logs, size)
        self._steps_done += batch - first + 1
        self._epoch_images += size
        self.history.add_batch(self._epoch, batch, values)
        self.nan_guard.on_train_batch_end(batch, logs)
        seconds = self._working(self._epoch_start, self._epoch_paused)
        rate = self._epoch_images / seconds if self.batch_size and seconds > 0 else None
        event = self._event(
            "nan" if self.nan_guard.message else "batch_end",
            batch=batch,
            logs=values,
            images_per_second=rate,
            message=self.nan_guard.message or "",
        )
        event.seconds_left = self._seconds_left(event.elapsed)
        self.emit(event)
        if not self.nan_guard.message:
            self.control.hold(self._announce_hold)
        self.control.apply(self.model)

    def _announce_hold(self, paused: bool) -> None:
        self.emit(self._event("pause" if paused else "resume", batch=self._last_batch))

    def on_epoch_end(self, epoch, logs=None):
        logs = _numbers(logs)
        self.nan_guard.on_epoch_end(epoch, logs)
        if self._last_batch >= 0:
            self.history.add_epoch(epoch, self._last_batch, logs)
        self.control.apply(self.model)
        self.emit(
            self._event(
                "epoch_end",
                batch=self._last_batch,
                logs=logs,
                learning_rate=current_learning_rate(self.model),
            )
        )

    def on_train_end(self, logs=None):
        reason = self.stop_reason
        message = self.nan_guard.message or ("stopped by the user" if reason else "finished")
        event = self._event(
            "train_end",
            batch=self._last_batch,
            logs=_numbers(logs),
            stop_reason=reason,
            message=message,
        )
        event.seconds_left = 0.0
        self.emit(event)


def batch_size_of(
    batch: int, steps: int | None, batch_size: int | None, samples: int | None
) -> int:
    """The number of images in batch ``batch`` (the last one of an epoch may be short)."""
    size = batch_size or 1
    if samples and steps and batch == steps - 1:
        return max(1, samples - size * (steps - 1))
    return size


def _numbers(logs) -> dict[str, float]:
    numbers = {}
    for key, value in (logs or {}).items():
        try:
            numbers[key] = float(value)
        except (TypeError, ValueError):
            pass
    return numbers


# -- histograms: what ``probes.WeightProbe`` emits (#15 part 3) -------------------------------


@dataclass
class Histogram:
    """Counts of values in fixed bins: ``counts[i]`` values lie in ``edges[i]..edges[i+1]``.

    Values beyond the outer edges are counted in the outer bins, so ``counts`` sums to the
    number of finite values.
    """

    edges: np.ndarray
    counts: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def total(self) -> int:
        return int(self.counts.sum())


@dataclass
class LayerProbe:
    """One layer with a kernel at one probe: its kernel's values and the gradients of the
    loss on the probe batch with respect to them, and the ReLU that follows it.

    ``relu`` names the ReLU fed by this layer (its own ``activation="relu"``, or the first
    ReLU layer after it, through batch norm or dropout), None when none follows; ``units``
    counts that ReLU's units (a convolution's unit is one channel) and ``dead`` those that
    gave 0 for every image of the probe batch.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    weights: Histogram
    gradients: Histogram
    relu: str | None = None
    units: int = 0
    dead: int = 0

    @property
    def dead_share(self) -> float | None:
        """The share of the ReLU's units that never fired, None without a ReLU."""
        return self.dead / self.units if self.relu and self.units else None


@dataclass
class HistogramEvent:
    """Every probed layer of the model at one moment of a run.

    ``epoch`` and ``batch`` (from 0) say when; ``at_epoch_end`` is True for the probe after
    an epoch's last batch. ``probe_images`` is the size of the probe batch and ``seconds``
    the time this probe took (the extra pass and the histograms).
    """

    epoch: int
    batch: int
    layers: list[LayerProbe]
    probe_images: int
    seconds: float
    at_epoch_end: bool = False


HistogramListener = Callable[[HistogramEvent], None]
