"""Stop and Pause: one object that any thread may press and the training thread obeys."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import keras


class TrainingControl(keras.callbacks.Callback):
    """Stop or pause a running fit from any thread; obeyed after every batch.

    The engine and the dashboard press the same object: the dashboard's buttons call
    ``stop``/``pause``/``resume`` on the control of the run it shows. As a Keras callback it
    works alone too: ``model.fit(..., callbacks=[control])`` (``reset()`` it before the
    next fit after a Stop).

    Example::

        control = TrainingControl()
        threading.Thread(target=model.fit, args=(x, y), kwargs={"callbacks": [control]}).start()
        control.pause(); control.resume(); control.stop()
    """

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.paused_seconds = 0.0

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        """Stop after the current batch (a pause is released)."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold after the current batch until ``resume`` or ``stop``."""
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def reset(self) -> None:
        """Forget an earlier Stop or Pause, before a new run."""
        self._stop.clear()
        self._running.set()

    def hold(self, announce: Callable[[bool], None] | None = None) -> None:
        """On the training thread: wait while paused.

        ``announce(True)`` is called when the wait begins and ``announce(False)`` when it
        ends; ``paused_seconds`` grows by the time waited.
        """
        if self._running.is_set():
            return
        start = time.perf_counter()
        if announce is not None:
            announce(True)
        while not self._running.wait(0.1):
            pass
        self.paused_seconds += time.perf_counter() - start
        if announce is not None:
            announce(False)

    def apply(self, model) -> None:
        """Ask ``model`` to stop training when a Stop was pressed."""
        if self._stop.is_set():
            model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        self.hold()
        self.apply(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self.apply(self.model)
