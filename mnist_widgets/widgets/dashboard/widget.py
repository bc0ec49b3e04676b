"""``TrainingDashboard``: the charts and controls, fed by a run's events.

The dashboard is an output, as livelossplot's outputs are: it listens to an ``EventEmitter``
(a ``Trainer``'s, or its own during plain ``model.fit``), draws that emitter's ``History``
and presses that emitter's ``TrainingControl``. It keeps no series, counts no batches and
checks no loss of its own.
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import Future
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Float, Int, Unicode, validate

from ...errors import TrainingError
from ...models.schedules import Schedule
from ...training.control import TrainingControl
from ...training.engine import Trainer, run_in_background
from ...training.events import EventEmitter, HistogramEvent, TrainingEvent
from ...training.history import History
from ...training.probes import WeightProbe
from ..styles import with_stylesheet
from .charts import TrainingCharts, planned_curve
from .controls import RunControls
from .histograms import HistogramPanel
from .keras_input import KerasInput


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrainingDashboard(widgets.VBox, KerasInput):
    """Live loss, accuracy and learning-rate charts with Stop and Pause.

    With the kit's engine (Stop and Pause stay live while a worker thread trains)::

        dashboard = TrainingDashboard()
        dashboard.train_in_background(trainer)  # attach(trainer), then trainer.start()
        dashboard                               # shows it; trainer.wait() gives the result

    or as a Keras callback, ``model.fit(..., callbacks=[dashboard])`` (inside
    ``dashboard.train_in_background(lambda: model.fit(...))`` for live buttons; the future
    it returns gives what the function returned). For plain fit, ``batch_size`` and
    ``samples`` make the value of a short last batch exact and give images per second (a
    ``Trainer`` supplies both).

    The traits below are the public state (kept in Python: the views read the child widgets
    they drive). The charts are pushed to the front end at most every ``update_interval``
    seconds, and always at epoch end, at a pause and at the end.

    ``histograms=True`` adds, per layer with a kernel, histograms of its weights and of the
    gradients of the loss on a probe batch of test images, and the share of its ReLU units
    that never fired (``histogram_panel``), a few times per epoch: a ``WeightProbe``
    (``probe``) joins the trainer's callbacks when the dashboard is attached, or runs inside
    the dashboard when it is fit's callback. Pass a ``WeightProbe`` instead of True to choose
    its test images, its frequency or its batch size. Off by default: the probe's extra pass
    costs time.
    """

    status = Unicode("waiting for training", help="what the status line says")
    state = Unicode("idle", help="idle, running, paused, stopped, nan or finished")
    epoch = Int(0, help="the epoch being trained, from 1")
    epochs = Int(0, help="the epochs fit was asked for")
    batch = Int(0, help="batches done in this epoch")
    steps = Int(None, allow_none=True, help="batches per epoch, when known")
    done = Float(0.0, help="epochs done, with fractions")
    progress_text = Unicode("", help="what the progress line says")
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
        update_interval: float = 0.3,
        max_points: int = 2000,
        histograms: bool | WeightProbe = False,
        **kwargs: Any,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise TrainingError("batch_size must be at least 1")
        if samples is not None and samples < 1:
            raise TrainingError("samples must be at least 1")
        super().__init__(update_interval=update_interval, max_points=max_points, **kwargs)
        self.fit_emitter = EventEmitter(batch_size=batch_size, samples=samples)
        self._source = self.fit_emitter
        self._follow(self.fit_emitter)
        self._last_push = 0.0
        self._last_event: TrainingEvent | None = None
        self.charts = TrainingCharts()
        self.controls = RunControls(self, on_pause=self._toggle_pause, on_stop=self.stop)
        parts: list[widgets.Widget] = [self.controls, self.charts]
        self.probe: WeightProbe | None = None
        self.histogram_panel: HistogramPanel | None = None
        if histograms:
            self.probe = histograms if isinstance(histograms, WeightProbe) else WeightProbe()
            self.fit_probe = self.probe
            self.probe.listeners.append(self._on_histograms)
            self.histogram_panel = HistogramPanel()
            parts.append(self.histogram_panel)
        self.children = with_stylesheet(parts)
        self.add_class("mnist-widget")
        self.add_class("mnist-dashboard")

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

    # -- what it shows ----------------------------------------------------------------------
    @property
    def history(self) -> History:
        """The series of the run shown: the ``Trainer``'s own object when attached to one."""
        return self._source.history

    @property
    def control(self) -> TrainingControl:
        """The Stop/Pause of the run shown (the ``Trainer``'s when attached to one)."""
        return self._source.control

    def batch_series(self):
        """Every batch's own loss and accuracy at full resolution; ``x`` is in epochs."""
        return self.history.batch_series()

    def attach(self, trainer: Trainer) -> None:
        """Show ``trainer``'s runs: hear its events, draw its history, press its control.

        A dashboard also given as one of the trainer's ``callbacks`` leaves that list: it
        listens instead of following a second account of the same fit. With histograms, its
        ``probe`` joins that list, probing on the trainer's test images.
        """
        trainer.callbacks[:] = [c for c in trainer.callbacks if c is not self]
        self._follow(trainer.emitter)
        self._source = trainer.emitter
        self.plan(trainer.recipe.rate_schedule(trainer.epochs), trainer.epochs)
        if self.probe is not None:
            self._attach_probe(trainer)

    def _attach_probe(self, trainer: Trainer) -> None:
        probe = self.probe
        if not probe.given_data:  # the trainer's test set, else its dataset's (loaded later)
            if trainer.data is not None:
                probe.set_test_images(*trainer.data[1])
            else:
                probe.use_dataset(trainer.dataset)
        if not any(c is probe for c in trainer.callbacks):
            trainer.callbacks.append(probe)
        try:
            self.histogram_panel.prepare(trainer.model)
        except (AttributeError, ValueError):  # not built yet: the first probe lays it out
            pass

    def plan(self, schedule: Schedule | None, epochs: int) -> None:
        """Draw the learning rate ``schedule`` plans for ``epochs`` epochs (None clears it).

        Example: ``dashboard.plan(recipe.rate_schedule(), recipe.epochs)`` before a plain
        ``model.fit`` with that recipe.
        """
        self.charts.show_plan(*planned_curve(schedule, epochs))

    def _follow(self, emitter: EventEmitter) -> None:
        """Listen to ``emitter`` (once, however often it is attached)."""
        for listener in emitter.listeners:
            if getattr(listener, "func", None) == self._on_event and listener.args[0] is emitter:
                return
        emitter.listeners.append(functools.partial(self._on_event, emitter))

    # -- Stop and Pause, from any thread ------------------------------------------------------
    def stop(self) -> None:
        """Stop after the current batch; the weights trained so far stay in the model."""
        if not self.running:
            return
        self.control.stop()
        self.paused = False
        self.status = "stopping after this batch..."

    def pause(self) -> None:
        """Hold training after the current batch until ``resume`` or ``stop``."""
        if not self.running or self.control.stop_requested:
            return
        self.control.pause()
        self.paused = True

    def resume(self) -> None:
        self.control.resume()
        self.paused = False

    def _toggle_pause(self) -> None:
        if self.paused:
            self.resume()
        else:
            self.pause()

    # -- running in the background -------------------------------------------------------------
    def train_in_background(self, target) -> Trainer | Future:
        """Train on a worker thread so the kernel can handle Stop and Pause clicks.

        ``target`` is a ``Trainer`` (attached, then started; returned, ``.wait()`` gives its
        result) or a function that calls ``model.fit(..., callbacks=[dashboard])`` (returns
        a ``concurrent.futures.Future`` whose ``.result()`` is what the function returned).
        """
        if self.running:
            raise TrainingError("training is already running: stop it before starting again")
        if isinstance(target, Trainer):
            self.attach(target)
            target.start()
            return target
        if callable(target):
            return run_in_background(target, "mnist-widgets-dashboard")
        raise TrainingError(
            "train_in_background needs a Trainer or a function that calls model.fit"
        )

    # -- the events ------------------------------------------------------------------------------
    def _on_event(self, emitter: EventEmitter, event: TrainingEvent) -> None:
        if event.kind == "train_begin":
            self._source = emitter
        elif emitter is not self._source:
            return  # a run it no longer shows
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def _on_train_begin(self, event: TrainingEvent) -> None:
        self.charts.clear()
        self._last_event = None
        self._last_push = time.perf_counter()
        self.done = 0.0
        self.epochs, self.steps = event.epochs, event.steps
        self.epoch = self.batch = 0
        self.images_per_second = self.seconds_left = None
        self.progress_text = ""
        self.paused = False
        self.running = True
        self.state = "running"
        self.status = "training..."

    def _on_epoch_begin(self, event: TrainingEvent) -> None:
        self.charts.show_rates(self.history)

    def _on_batch_end(self, event: TrainingEvent) -> None:
        self._last_event = event
        if time.perf_counter() - self._last_push >= self.update_interval:
            self._push(event)

    def _on_nan(self, event: TrainingEvent) -> None:
        self._last_event = event
        self.state = "nan"
        self.status = event.message
        self._push(event)

    def _on_pause(self, event: TrainingEvent) -> None:
        if self._last_event is not None:
            self._push(self._last_event)
        self.paused = True
        self.state = "paused"
        self.status = f"paused after epoch {event.epoch + 1}, batch {event.batch + 1}: press Resume"

    def _on_resume(self, event: TrainingEvent) -> None:
        self.paused = self.control.paused
        if self.state == "paused":
            self.state = "running"
            self.status = "training..."

    def _on_epoch_end(self, event: TrainingEvent) -> None:
        if self._last_event is not None:
            self._push(self._last_event)
        self.charts.show_epochs(self.history)

    def _on_histograms(self, event: HistogramEvent) -> None:
        self.histogram_panel.show(event)

    def _on_train_end(self, event: TrainingEvent) -> None:
        self.running = False
        self.paused = False
        if self._last_event is not None:
            self._push(self._last_event)
        self.seconds_left = 0.0
        self.charts.show_epochs(self.history)
        if event.stop_reason == "nan":
            self.state = "nan"
            self.status = event.message
        elif event.stop_reason == "user":
            self.state = "stopped"
            self.status = (
                f"stopped by you after epoch {event.epoch + 1}, batch {event.batch + 1}; "
                "the model keeps its weights"
            )
        else:
            self.state = "finished"
            self.status = self._summary()

    def _push(self, event: TrainingEvent) -> None:
        """Send the curves and the progress line to the front end (from the training thread)."""
        self._last_push = time.perf_counter()
        self.charts.show_batches(self.history, self.max_points)
        steps = event.steps or max(event.batch + 1, 1)
        self.epoch, self.batch = event.epoch + 1, event.batch + 1
        self.images_per_second = event.images_per_second
        self.seconds_left = event.seconds_left
        self.done = min(event.epoch + (event.batch + 1) / steps, float(self.epochs))
        parts = [f"epoch {self.epoch}/{self.epochs}"]
        parts.append(f"batch {self.batch}/{event.steps}" if event.steps else f"batch {self.batch}")
        if event.images_per_second is not None:
            parts.append(f"{event.images_per_second:,.0f} images/s")
        if event.seconds_left is not None and self.running:
            parts.append(f"{_clock(event.seconds_left)} left")
        self.progress_text = " · ".join(parts)

    def _summary(self) -> str:
        parts = [f"finished epoch {self.epoch}/{self.epochs}"]
        history = self.history
        for key, name in (
            ("val_loss", "validation loss"),
            ("val_" + history.accuracy_key, "validation accuracy"),
        ):
            values = history.epoch_values(key)
            if values:
                parts.append(f"{name} {values[-1]:.4f}")
        return ", ".join(parts)
