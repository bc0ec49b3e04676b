"""The live training dashboard: a Keras callback that is also a widget.

``TrainingDashboard`` is both an ``ipywidgets.VBox`` and a ``keras.callbacks.Callback``
(the two share no attribute names; the traitlets metaclass derives from ``type``), so the
same object goes into ``callbacks=[dashboard]`` and into ``display(dashboard)``.

It listens, and acts only on Stop, Pause and a NaN loss: every batch it stores four numbers; the
charts (bqplot marks updated in place) and the progress line are pushed to the front end
at most every ``update_interval`` seconds, and always at epoch end, at a pause and at the
end. Stop and Pause are flags that the callback reads after each batch, so they work when
training runs on a worker thread: ``dashboard.train_in_background(trainer)``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import keras
import numpy as np
from traitlets import Bool, Float, Int, Unicode, observe, validate

from ..errors import TrainingError
from ..models.schedules import schedule_values
from ..training.engine import Trainer
from ..training.events import BatchValues, batch_size_of, current_learning_rate

TRAIN_COLOR = "#1f77b4"
VALIDATION_COLOR = "#ff7f0e"
RATE_COLOR = "#2ca02c"
WARNING_COLOR = "#c62828"
ZOOMS = (("0-1", 0.0), ("0.9-1", 0.9), ("0.98-1", 0.98))


def downsample(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: consecutive blocks of equal size averaged (the tail too)."""
    n = len(y)
    if n <= max_points:
        return x, y
    factor = math.ceil(n / max_points)
    full = n - n % factor
    xs = x[:full].reshape(-1, factor).mean(axis=1)
    ys = y[:full].reshape(-1, factor).mean(axis=1)
    if full < n:
        xs = np.append(xs, x[full:].mean())
        ys = np.append(ys, y[full:].mean())
    return xs, ys


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _chart(
    title: str,
    marks: list,
    x_scale,
    y_scale,
    height: str,
    legend: str = "top-right",
    y_axis: dict | None = None,
    left: int = 60,
) -> bq.Figure:
    axes = [
        bq.Axis(scale=x_scale, label="epoch", grid_lines="none"),
        bq.Axis(scale=y_scale, label=title, side="left", grid_lines="dashed", **(y_axis or {})),
    ]
    return bq.Figure(
        marks=marks,
        axes=axes,
        title=title,
        legend_location=legend,
        fig_margin={"top": 40, "bottom": 40, "left": left, "right": 20},
        animation_duration=0,
        layout=widgets.Layout(width="50%", height=height, min_width="320px"),
    )


def _curve_marks(scales: dict) -> dict[str, bq.Lines]:
    """A training line (per batch) and a validation line with markers (per epoch)."""
    style = {"scales": scales, "display_legend": True}
    return {
        "train": bq.Lines(
            x=[], y=[], colors=[TRAIN_COLOR], labels=["training"], stroke_width=1.5, **style
        ),
        "validation": bq.Lines(
            x=[],
            y=[],
            colors=[VALIDATION_COLOR],
            labels=["validation"],
            marker="circle",
            marker_size=30,
            stroke_width=2,
            **style,
        ),
    }


class TrainingDashboard(widgets.VBox, keras.callbacks.Callback):
    """Live loss, accuracy and learning-rate charts with Stop and Pause, as a Keras callback.

    In a notebook::

        dashboard = TrainingDashboard()
        trainer = Trainer(model, spec, callbacks=[dashboard])  # or dashboard.attach(trainer)
        dashboard.train_in_background(trainer)  # a worker thread: Stop and Pause stay live
        dashboard                               # shows it; trainer.wait() gives the result

    or ``model.fit(..., callbacks=[dashboard])`` (in ``train_in_background(lambda: ...)`` for
    live buttons). ``batch_size`` and ``samples`` make the value of a short last batch exact
    and give images per second (a ``Trainer`` supplies both); ``planned_rates`` pre-plots the
    learning rate of each epoch (a ``Trainer`` with a schedule supplies it).

    The traits below are the public state; they are refreshed at each push to the front end.
    """

    status = Unicode("waiting for training", help="what the status line says")
    state = Unicode("idle", help="idle, running, paused, stopped, nan or finished")
    epoch = Int(0, help="the epoch being trained, from 1")
    epochs = Int(0, help="the epochs fit was asked for")
    batch = Int(0, help="batches done in this epoch")
    steps = Int(None, allow_none=True, help="batches per epoch, when known")
    images_per_second = Float(None, allow_none=True)
    seconds_left = Float(None, allow_none=True)
    running = Bool(False, help="training is under way")
    paused = Bool(False, help="a pause was asked for and not yet resumed")
    update_interval = Float(0.3, help="least seconds between two pushes to the front end")
    max_points = Int(2000, help="most points the per-batch curves send")

    def __init__(
        self,
        *,
        batch_size: int | None = None,
        samples: int | None = None,
        planned_rates: Sequence[float] | None = None,
        update_interval: float = 0.3,
        max_points: int = 2000,
        **kwargs: Any,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise TrainingError("batch_size must be at least 1")
        if samples is not None and samples < 1:
            raise TrainingError("samples must be at least 1")
        super().__init__(**kwargs)
        self.update_interval = update_interval
        self.max_points = max_points
        self.batch_size = batch_size
        self.samples = samples
        self.trainer: Trainer | None = None
        self._trainer_fit: Trainer | None = None  # the trainer whose fit is running now
        self._stop_requested = threading.Event()
        self._go = threading.Event()
        self._go.set()
        self._build()
        self.plan_rates(planned_rates)
        self._clear()

    # -- the widget -----------------------------------------------------------------------
    def _build(self) -> None:
        self.epoch_scale = x_scale = bq.LinearScale(min=0.0)
        loss_scale = bq.LinearScale(min=0.0)
        self.accuracy_scale = bq.LinearScale(min=0.0, max=1.0)
        self.loss_marks = _curve_marks({"x": x_scale, "y": loss_scale})
        self.accuracy_marks = _curve_marks({"x": x_scale, "y": self.accuracy_scale})
        # from 0 to a tenth above the highest rate (bqplot's padding would show rates below 0)
        self.rate_scale = bq.LinearScale(min=0.0, allow_padding=False)
        rate_scales = {"x": bq.LinearScale(min=0.0), "y": self.rate_scale}
        self.rate_marks = {
            "planned": bq.Lines(
                x=[],
                y=[],
                scales=rate_scales,
                colors=["#999999"],
                line_style="dashed",
                labels=["planned"],
                display_legend=True,
            ),
            "actual": bq.Scatter(
                x=[],
                y=[],
                scales=rate_scales,
                colors=[RATE_COLOR],
                default_size=40,
                labels=["used"],
                display_legend=True,
            ),
        }
        self.loss_chart = _chart(
            "loss", list(self.loss_marks.values()), x_scale, loss_scale, "300px"
        )
        # the accuracy rises towards the top right: the legend goes below it
        self.accuracy_chart = _chart(
            "accuracy",
            list(self.accuracy_marks.values()),
            x_scale,
            self.accuracy_scale,
            "300px",
            legend="bottom-right",
        )
        self.rate_chart = _chart(
            "learning rate",
            list(self.rate_marks.values()),
            rate_scales["x"],
            rate_scales["y"],
            "200px",
            y_axis={"tick_format": ".2~g", "num_ticks": 4, "label_offset": "50px"},
            left=75,
        )
        self.zoom = widgets.ToggleButtons(
            options=ZOOMS, value=0.0, description="zoom:", style={"button_width": "72px"}
        )
        self.zoom.observe(self._on_zoom, "value")
        self.progress = widgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="30%")
        )
        self.progress_label = widgets.HTML("", layout=widgets.Layout(min_width="420px"))
        self.pause_button = widgets.Button(description="Pause", icon="pause", disabled=True)
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", button_style="", disabled=True
        )
        self.pause_button.on_click(self._on_pause_click)
        self.stop_button.on_click(lambda _: self.stop())
        self.status_html = widgets.HTML(self._status_markup(self.status, warning=False))
        controls = widgets.HBox(
            [self.progress, self.progress_label, self.pause_button, self.stop_button],
            layout=widgets.Layout(align_items="center"),
        )
        charts = widgets.HBox([self.loss_chart, self.accuracy_chart])
        lower = widgets.HBox(
            [self.rate_chart, self.zoom], layout=widgets.Layout(align_items="center")
        )
        self.children = [self.status_html, controls, charts, lower]
        self.add_class("mnist-dashboard")
        self.progress_label.add_class("mnist-dashboard-progress")

    @staticmethod
    def _status_markup(text: str, warning: bool) -> str:
        if warning:
            return (
                f'<div class="mnist-dashboard-warning" style="color:{WARNING_COLOR};'
                f'font-weight:bold">&#9888; {escape(text)}</div>'
            )
        return f'<div class="mnist-dashboard-status">{escape(text)}</div>'

    def _set_status(self, text: str, warning: bool = False) -> None:
        self.status = text
        self.status_html.value = self._status_markup(text, warning)

    def _on_zoom(self, change) -> None:
        self.accuracy_scale.min = float(change["new"])

    def _on_pause_click(self, _button) -> None:
        if self.paused:
            self.resume()
        else:
            self.pause()

    @validate("update_interval")
    def _valid_interval(self, proposal) -> float:
        if not proposal["value"] >= 0:
            raise TrainingError("update_interval must be zero or more seconds")
        return proposal["value"]

    @validate("max_points")
    def _valid_max_points(self, proposal) -> int:
        if proposal["value"] < 10:
            raise TrainingError("max_points must be at least 10")
        return proposal["value"]

    @observe("update_interval")
    def _on_interval(self, change) -> None:
        self._interval = float(change["new"])

    def plan_rates(self, rates: Sequence[float] | None) -> None:
        """Pre-plot the learning rate planned for each epoch (None clears it)."""
        mark = self.rate_marks["planned"]
        values = np.asarray(list(rates or []), dtype=float)
        with mark.hold_sync():
            mark.x = np.arange(1, len(values) + 1, dtype=float)
            mark.y = values
        self._fit_rate_scale()

    def _fit_rate_scale(self) -> None:
        rates = [*self.rate_marks["planned"].y, *getattr(self, "_rates", [])]
        top = max((r for r in rates if math.isfinite(r)), default=0.0)
        self.rate_scale.max = 1.1 * top if top > 0 else None

    # -- control, from any thread ---------------------------------------------------------
    def stop(self) -> None:
        """Stop after the current batch; the weights trained so far stay in the model."""
        if not self.running:
            return
        self._stop_requested.set()
        self._go.set()
        self.paused = False
        if self._trainer_fit is not None:
            self._trainer_fit.stop()
        self._set_status("stopping after this batch...")

    def pause(self) -> None:
        """Hold training after the current batch until ``resume`` or ``stop``."""
        if not self.running or self._stop_requested.is_set():
            return
        self._go.clear()
        self.paused = True
        self.pause_button.description = "Resume"
        self.pause_button.icon = "play"

    def resume(self) -> None:
        self._go.set()
        self.paused = False
        self.pause_button.description = "Pause"
        self.pause_button.icon = "pause"

    # -- running in the background ----------------------------------------------------------
    def attach(self, trainer: Trainer) -> None:
        """Follow a ``Trainer``: join its callbacks, take its batch size, forward Stop to it."""
        if self not in trainer.callbacks:
            trainer.callbacks.append(self)
        self.trainer = trainer
        spec = trainer.recipe
        if spec.schedule is not None:
            self.plan_rates(schedule_values(spec.schedule, spec.learning_rate, trainer.epochs))

    def train_in_background(self, target) -> Any:
        """Train on a worker thread so the kernel can handle Stop and Pause clicks.

        ``target`` is a ``Trainer`` (attached, then started; returned, ``.wait()`` gives its
        result) or a function that calls ``model.fit(..., callbacks=[dashboard])`` (returns
        a ``BackgroundTraining`` whose ``.wait()`` gives what the function returned).
        """
        if self.running:
            raise TrainingError("training is already running: stop it before starting again")
        if isinstance(target, Trainer):
            self.attach(target)
            target.start()
            return target
        if callable(target):
            return BackgroundTraining(target)
        raise TrainingError(
            "train_in_background needs a Trainer or a function that calls model.fit"
        )

    # -- the recorded series ------------------------------------------------------------------
    def _clear(self) -> None:
        self._interval = float(self.update_interval)
        self._batches = BatchColumns()
        self._val_epoch: list[int] = []
        self._val_batch: list[int] = []
        self._val_loss: list[float] = []
        self._val_accuracy: list[float] = []
        self._rates: list[float] = []
        self._rate_epochs: list[int] = []
        self._steps_seen = 0
        self._accuracy_key: str | None = None
        self._values = BatchValues()

    def _positions(self, epochs, batches) -> np.ndarray:
        steps = self.params.get("steps") if self.params else None
        steps = steps or max(self._steps_seen, 1)
        return np.asarray(epochs, dtype=float) + (np.asarray(batches, dtype=float) + 1) / steps

    def batch_series(self) -> dict[str, np.ndarray]:
        """Every batch's own loss and accuracy at full resolution; ``x`` is in epochs."""
        epochs, batches, loss, accuracy = self._batches.arrays()
        return {"x": self._positions(epochs, batches), "loss": loss, "accuracy": accuracy}

    def _push(self, now: float) -> None:
        """Send the charts and the progress line to the front end (from the training thread)."""
        self._last_push = now
        series = self.batch_series()
        for marks, key in ((self.loss_marks, "loss"), (self.accuracy_marks, "accuracy")):
            x, y = downsample(series["x"], series[key], self.max_points)
            with marks["train"].hold_sync():
                marks["train"].x = x
                marks["train"].y = y
        self.epoch = self._epoch + 1
        self.batch = self._batch + 1
        self._update_progress(now)

    def _push_epoch(self) -> None:
        x = self._positions(self._val_epoch, self._val_batch)
        for marks, values in (
            (self.loss_marks, self._val_loss),
            (self.accuracy_marks, self._val_accuracy),
        ):
            if len(values) == len(x):
                with marks["validation"].hold_sync():
                    marks["validation"].x = x
                    marks["validation"].y = np.asarray(values, dtype=float)
        mark = self.rate_marks["actual"]
        with mark.hold_sync():
            mark.x = np.asarray(self._rate_epochs, dtype=float) + 1
            mark.y = np.asarray(self._rates, dtype=float)
        self._fit_rate_scale()

    def _update_progress(self, now: float) -> None:
        steps = self.params.get("steps") if self.params else None
        working = now - self._train_start - self._paused_seconds
        done = self._epoch + (self._batch + 1) / (steps or max(self._steps_seen, self._batch + 1))
        epoch_seconds = now - self._epoch_start - self._epoch_paused
        rate = self._epoch_images / epoch_seconds if epoch_seconds > 0 else None
        self.images_per_second = rate if self._sizes_known else None
        left = None
        total_steps = self.epochs * steps if steps else None
        if total_steps and self._steps_done:
            left = (total_steps - (self._initial_epoch or 0) * steps - self._steps_done) * (
                working / self._steps_done
            )
        self.seconds_left = max(left, 0.0) if left is not None else None
        with self.progress.hold_sync():
            self.progress.max = float(max(self.epochs, 1))
            self.progress.value = min(done, float(self.epochs))
        parts = [f"epoch {self._epoch + 1}/{self.epochs}"]
        parts.append(f"batch {self._batch + 1}/{steps}" if steps else f"batch {self._batch + 1}")
        if rate is not None:
            if self._sizes_known:
                parts.append(f"{rate:,.0f} images/s")
            else:
                parts.append(f"{rate:,.1f} batches/s")
        if self.seconds_left is not None and self.running:
            parts.append(f"{_clock(self.seconds_left)} left")
        self.progress_label.value = " &middot; ".join(parts)

    # -- Keras hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._clear()
        self._stop_requested.clear()
        self.resume()
        self.steps = self._steps = self.params.get("steps")
        self.epochs = int(self.params.get("epochs") or 0)
        trainer = self.trainer
        # Keras hands every callback of one fit the same params dict: is this fit the trainer's?
        if trainer is not None and trainer.emitter.params is self.params:
            self._trainer_fit = trainer
            self._size, self._samples = trainer.emitter.batch_size, trainer.emitter.samples
        else:
            self._trainer_fit = None
            self._size, self._samples = self.batch_size, self.samples
        self._sizes_known = self._size is not None
        self._train_start = self._epoch_start = self._last_push = time.perf_counter()
        self._paused_seconds = self._epoch_paused = 0.0
        self._epoch, self._batch = 0, -1
        self._initial_epoch: int | None = None
        self._steps_done = 0
        self._epoch_images = 0
        self._stopped_at: tuple[int, int] | None = None
        self._nan_message: str | None = None
        self.running = True
        self.state = "running"
        self.pause_button.disabled = False
        self.stop_button.disabled = False
        self.stop_button.button_style = "danger"
        self._set_status("training...")

    def on_epoch_begin(self, epoch, logs=None):
        if self._initial_epoch is None:
            self._initial_epoch = epoch
        self._epoch = epoch
        self._batch = -1
        self._values.reset()
        self._epoch_start = time.perf_counter()
        self._epoch_paused = 0.0
        self._epoch_images = 0
        if self._stop_requested.is_set():
            self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        if self._steps and batch >= self._steps:  # Keras counts a short last group as full
            batch = self._steps - 1
        first = self._batch + 1 if batch > self._batch else batch
        if batch == first:
            size = batch_size_of(batch, self._steps, self._size, self._samples)
        else:  # steps_per_execution > 1: one call for batches first..batch, one value for all
            size = sum(
                batch_size_of(b, self._steps, self._size, self._samples)
                for b in range(first, batch + 1)
            )
        values = self._values.update(logs, size)
        if self._accuracy_key is None:
            self._accuracy_key = _accuracy_key(logs)
        self._batch = batch
        self._steps_done += batch - first + 1
        self._epoch_images += size
        if batch >= self._steps_seen:
            self._steps_seen = batch + 1
        self._batches.append(
            self._epoch,
            batch,
            values.get("loss", math.nan),
            values.get(self._accuracy_key, math.nan),
        )
        if not math.isfinite(logs.get("loss", 0.0)) and self._nan_message is None:
            self._on_nan(logs["loss"])
            return
        if self._stop_requested.is_set():
            self._on_stop()
            return
        now = time.perf_counter()
        if not self._go.is_set():
            self._hold(now)
        elif now - self._last_push >= self._interval:
            self._push(now)

    def _hold(self, now: float) -> None:
        """Wait, on the training thread, until Resume or Stop."""
        self._push(now)
        self.state = "paused"
        self._set_status(
            f"paused after epoch {self._epoch + 1}, batch {self._batch + 1}: press Resume"
        )
        while not self._go.wait(0.1):
            pass
        waited = time.perf_counter() - now
        self._paused_seconds += waited
        self._epoch_paused += waited
        if self._stop_requested.is_set():
            self._on_stop()
        else:
            self.state = "running"
            self._set_status("training...")

    def _on_stop(self) -> None:
        self.model.stop_training = True
        if self._stopped_at is None:
            self._stopped_at = (self._epoch + 1, self._batch + 1)
            self._push(time.perf_counter())

    def _on_nan(self, value: float) -> None:
        self.model.stop_training = True
        self._nan_message = (
            f"the loss became {value} at epoch {self._epoch + 1}, batch {self._batch + 1}: "
            "training stopped; try a smaller learning rate"
        )
        self.state = "nan"
        self._set_status(self._nan_message, warning=True)
        self._push(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._batch >= 0:
            key = self._accuracy_key or "accuracy"
            if "val_loss" in logs:
                self._val_epoch.append(epoch)
                self._val_batch.append(self._batch)
                self._val_loss.append(float(logs["val_loss"]))
                self._val_accuracy.append(float(logs.get("val_" + key, math.nan)))
            rate = current_learning_rate(self.model)
            if rate is not None:
                self._rate_epochs.append(epoch)
                self._rates.append(rate)
        if self._stop_requested.is_set():
            self.model.stop_training = True
        self._push(time.perf_counter())
        self._push_epoch()

    def on_train_end(self, logs=None):
        self.running = False
        self.paused = False
        self._go.set()
        self.pause_button.disabled = True
        self.stop_button.disabled = True
        self.stop_button.button_style = ""
        self.pause_button.description = "Pause"
        self.pause_button.icon = "pause"
        if self._batch >= 0:
            self._push(time.perf_counter())
        self.seconds_left = 0.0
        self._push_epoch()
        if self._nan_message is not None:
            self.state = "nan"
            self._set_status(self._nan_message, warning=True)
        elif (
            self._stopped_at is not None
            or self._stop_requested.is_set()
            or (self._trainer_fit is not None and self._trainer_fit.control.stop_requested)
        ):
            epoch, batch = self._stopped_at or (self._epoch + 1, self._batch + 1)
            self.state = "stopped"
            self._set_status(
                f"stopped by you after epoch {epoch}, batch {batch}; the model keeps its weights"
            )
        else:
            self.state = "finished"
            self._set_status(self._summary())

    def _summary(self) -> str:
        parts = [f"finished epoch {self.epoch}/{self.epochs}"]
        if self._val_loss:
            parts.append(f"validation loss {self._val_loss[-1]:.4f}")
        if self._val_accuracy and math.isfinite(self._val_accuracy[-1]):
            parts.append(f"validation accuracy {self._val_accuracy[-1]:.4f}")
        return ", ".join(parts)


class BatchColumns:
    """Epoch, batch, loss and accuracy of every batch, in float arrays that grow by doubling.

    Appending is four item assignments, so the hot path stays in the microseconds.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.empty((4, capacity))
        self._rows = list(self._data)
        self.size = 0

    def append(self, epoch: int, batch: int, loss: float, accuracy: float) -> None:
        n = self.size
        if n == self._data.shape[1]:
            self._data = np.concatenate([self._data, np.empty_like(self._data)], axis=1)
            self._rows = list(self._data)
        epochs, batches, losses, accuracies = self._rows
        epochs[n] = epoch
        batches[n] = batch
        losses[n] = loss
        accuracies[n] = accuracy
        self.size = n + 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (epochs, batches, losses, accuracies) so far."""
        epochs, batches, losses, accuracies = self._data[:, : self.size].copy()
        return epochs, batches, losses, accuracies


def _accuracy_key(logs: dict[str, Any]) -> str:
    for key in logs:
        if key in ("accuracy", "acc"):
            return key
    for key in logs:
        if key.endswith("accuracy") and not key.startswith("val_"):
            return key
    return "accuracy"


class BackgroundTraining:
    """A function that trains (``model.fit``), run on a worker thread."""

    def __init__(self, train: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def work() -> None:
            try:
                self.result = train()
            except BaseException as exc:  # kept for wait(), never lost silently
                self.error = exc

        self.thread = threading.Thread(target=work, name="mnist-widgets-dashboard", daemon=True)
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the end; return what the function returned, or raise what it raised."""
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result
