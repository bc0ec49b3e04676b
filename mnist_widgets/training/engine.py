"""The training engine: fits any Keras model with a preset's settings.

It reports through Keras callbacks and plain events and knows nothing of widgets. Training
can run on the calling thread (``run``) or on a worker thread (``start``, a
``concurrent.futures`` future), so a notebook kernel stays free to handle Stop and Pause
clicks.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.loading import load_data
from ..data.pipeline import make_dataset
from ..errors import TrainingError
from ..models.build import compile_model, input_shape, portable_compile
from ..models.recipe import TrainingRecipe
from .control import TrainingControl
from .device import describe_device
from .evaluate import accuracy_and_loss
from .events import EventEmitter, Listener
from .history import History
from .nan_guard import NanGuard
from .saved_runs import save_training_run

Split = tuple[np.ndarray, np.ndarray]


@dataclass
class TrainingResult:
    """What a run produced."""

    history: dict[str, list[float]]
    test_accuracy: float | None
    test_loss: float | None
    epochs_run: int
    stop_reason: str | None  # None when it ran to the end, else "user" or "nan"
    message: str
    seconds: float
    device: str
    learning_rates: list[float] = field(default_factory=list)
    run_folder: Path | None = None  # where the run was saved (a Trainer given ``runs``)


def seed_everything(seed: int | None) -> None:
    if seed is not None:
        import keras

        keras.utils.set_random_seed(int(seed))


class Trainer:
    """Train a Keras model on MNIST (or Fashion-MNIST) and evaluate it on the test set.

    ``data`` is ``((x_train, y_train), (x_test, y_test))`` as uint8 arrays; when None it is
    loaded with ``load_data(dataset)``. ``limit`` keeps the first N training images.
    An uncompiled model is compiled with ``recipe``, its rate following the schedule per step;
    a model compiled elsewhere keeps its optimizer, and the schedule sets its rate per epoch.
    ``fast=True`` (or a ``FastRoute``) feeds in-memory tensors in groups of steps and
    compiles the model afresh for the device (see ``accel/route.py``); batch hooks, and so
    stop and pause, then act every ``steps_per_execution`` steps.

    Outputs listen through ``listeners`` (called with each ``TrainingEvent``) and read
    ``history``; ``control`` is the run's one Stop/Pause and ``nan_guard`` its NaN guard.

    With ``runs`` (a folder), each run that ends, finished or stopped, is saved as a new run
    folder in it (``mnist_widgets.runs``; ``result.run_folder`` says where); without it
    nothing is written.
    """

    def __init__(
        self,
        model,
        recipe: TrainingRecipe | None = None,
        *,
        data: tuple[Split, Split] | None = None,
        dataset: str = "mnist",
        limit: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        callbacks: Sequence = (),
        listeners: Sequence[Listener] = (),
        seed: int | None = None,
        validate: bool = True,
        evaluate: bool = True,
        fast=False,
        runs: str | Path | None = None,
    ) -> None:
        self.model = model
        self.recipe = recipe or TrainingRecipe()
        self.epochs = int(epochs if epochs is not None else self.recipe.epochs)
        self.batch_size = int(batch_size or self.recipe.batch_size)
        if self.epochs < 1 or self.batch_size < 1:
            raise TrainingError("epochs and batch size must be at least 1")
        if limit is not None and limit < 1:
            raise TrainingError("limit must be at least 1 image")
        self.data = data
        self.dataset = dataset
        self.limit = limit
        self.callbacks = list(callbacks)
        self.emitter = EventEmitter(list(listeners), self.batch_size)
        self.seed = seed
        self.validate = validate
        self.evaluate = evaluate
        self.fast = fast
        self.runs = Path(runs).expanduser() if runs is not None else None
        self.result: TrainingResult | None = None
        self._future: Future | None = None

    @property
    def history(self) -> History:
        """The run's per-batch and per-epoch series (``History``), filled as it trains."""
        return self.emitter.history

    @property
    def control(self) -> TrainingControl:
        """The run's Stop/Pause (``TrainingControl``)."""
        return self.emitter.control

    @property
    def nan_guard(self) -> NanGuard:
        """The run's NaN guard (its ``message`` says why a run stopped on a NaN loss)."""
        return self.emitter.nan_guard

    # -- control, from any thread -------------------------------------------------------
    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    # -- running --------------------------------------------------------------------------
    def start(self) -> Future:
        """Train on a worker thread; ``wait()`` (or the returned future) gives the result.

        Python waits for a run still going when it exits: ``stop()`` it first.
        """
        if self.running:
            raise TrainingError("training is already running")
        self.control.reset()
        self._future = run_in_background(self._run, "mnist-widgets-training")
        return self._future

    def wait(self, timeout: float | None = None) -> TrainingResult | None:
        """The result of ``start``'s run (raising what it raised); None if never started.

        Raises ``TimeoutError`` when ``timeout`` seconds pass first.
        """
        if self._future is None:
            return self.result
        return self._future.result(timeout)

    def _splits(self) -> tuple[Split, Split]:
        (x_train, y_train), (x_test, y_test) = self.data or load_data(self.dataset)
        if self.limit:
            x_train, y_train = x_train[: self.limit], y_train[: self.limit]
        return (x_train, y_train), (x_test, y_test)

    def run(self) -> TrainingResult:
        """Train on this thread and return the result."""
        self.control.reset()
        return self._run()

    def _run(self) -> TrainingResult:
        import keras

        seed_everything(self.seed)
        (x_train, y_train), (x_test, y_test) = self._splits()
        shape = input_shape(self.model)
        fit_args: dict = {}
        per_step = False  # True once the optimizer's rate follows the schedule step by step
        route = None
        if self.fast:
            from ..accel.route import FastRoute

            route = self.fast if isinstance(self.fast, FastRoute) else FastRoute.for_device()
            if not route.shift and self.recipe.shift:
                route = dataclasses.replace(route, shift=self.recipe.shift)
            size, steps, _ = route.plan(len(x_train), self.batch_size)
            route.compile(self.model, self.recipe, self.epochs, len(x_train), self.batch_size)
            per_step = True
            train_ds = route.train_dataset(x_train, y_train, size, shape, self.seed)
            test_ds = route.test_dataset(x_test, y_test, shape)
            fit_args["steps_per_epoch"] = steps
            self.emitter.samples = steps * size
        else:
            if getattr(self.model, "optimizer", None) is None or not self.model.compiled:
                steps = math.ceil(len(x_train) / self.batch_size)
                compile_model(self.model, self.recipe, steps, self.epochs)
                per_step = True
            train_ds = make_dataset(
                x_train,
                y_train,
                self.batch_size,
                training=True,
                shape=shape,
                seed=self.seed,
                shift=self.recipe.shift,
            )
            test_ds = make_dataset(x_test, y_test, 1000, training=False, shape=shape)
            self.emitter.samples = len(x_train)
        build_before_tracing(self.model, train_ds)
        callbacks = []
        if self.recipe.schedule is not None and not per_step:  # a model compiled elsewhere
            schedule = self.recipe.rate_schedule(self.epochs)
            callbacks.append(keras.callbacks.LearningRateScheduler(schedule))
        callbacks += [self.emitter, *self.callbacks]
        device = describe_device()
        start = time.perf_counter()
        try:
            history = self.model.fit(
                train_ds,
                epochs=self.epochs,
                validation_data=test_ds if self.validate else None,
                callbacks=callbacks,
                shuffle=False,
                verbose=0,
                **fit_args,
            )
        finally:
            if route is not None:
                route.release(self.model)
        seconds = time.perf_counter() - start
        hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        hist.pop("learning_rate", None)
        stop_reason = self.emitter.stop_reason
        test_loss = test_acc = None
        if self.evaluate:
            test_acc, test_loss = accuracy_and_loss(self.model, x_test, y_test)
        portable_compile(self.model)  # saved files then load without the kit
        message = self.nan_guard.message or (
            "stopped by the user" if stop_reason == "user" else "finished"
        )
        self.result = TrainingResult(
            history=hist,
            test_accuracy=test_acc,
            test_loss=test_loss,
            epochs_run=len(next(iter(hist.values()), [])),
            stop_reason=stop_reason,
            message=message,
            seconds=seconds,
            device=device,
            learning_rates=list(self.history.learning_rates),
        )
        if self.runs is not None:
            saved = save_training_run(self.runs, self, self.result)
            self.result.run_folder = saved.path
        return self.result


def build_before_tracing(model, dataset) -> None:
    """Create the optimizer's and the metrics' variables now, from ``dataset``'s element spec.

    TensorFlow traces a function a second time when its first trace created variables, and
    Keras creates these lazily inside the first trace of its train function: built here, the
    first step traces once. Keras builds them the same way before tracing under a
    distribution strategy; where its private ``_symbolic_build`` is missing or changed,
    ``fit`` simply builds them itself.
    """
    import tensorflow as tf

    build = getattr(model, "_symbolic_build", None)
    specs = dataset.element_spec
    if build is None or not isinstance(specs, tuple) or len(specs) < 2:
        return

    def zeros(spec):
        return tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype)

    try:
        build(data_batch=(zeros(specs[0]), zeros(specs[1]), None))
    except (TypeError, AttributeError):  # another Keras: fit builds them when it traces
        pass


def run_in_background(work, name: str) -> Future:
    """Call ``work()`` on a new worker thread; the future holds what it returns or raises."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        return executor.submit(work)
    finally:
        executor.shutdown(wait=False)  # the thread ends with the work


def train_preset(
    name: str,
    *,
    epochs: int | None = None,
    limit: int | None = None,
    data: tuple[Split, Split] | None = None,
    dataset: str = "mnist",
    seed: int | None = None,
    listeners: Sequence[Listener] = (),
    callbacks: Sequence = (),
    fast=False,
) -> tuple[object, TrainingResult]:
    """Build a preset's model and train it with the preset's settings; returns (model, result)."""
    from ..models.presets import build_model, get_preset

    preset = get_preset(name)
    seed_everything(seed)
    model = build_model(name, compiled=False)
    trainer = Trainer(
        model,
        preset.recipe,
        data=data,
        dataset=dataset,
        limit=limit,
        epochs=epochs,
        seed=seed,
        listeners=listeners,
        callbacks=callbacks,
        fast=fast,
    )
    return model, trainer.run()
