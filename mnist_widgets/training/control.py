"""Keras callbacks that the engine adds: stop/pause from another thread, and the NaN guard."""

from __future__ import annotations

import math
import threading

import keras


class TrainingControl(keras.callbacks.Callback):
    """Stop or pause a running fit from any thread; checked after every batch."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def reset(self) -> None:
        self._stop.clear()
        self._running.set()

    def on_train_batch_end(self, batch, logs=None):
        while not self._running.wait(0.1):
            pass
        if self._stop.is_set():
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._stop.is_set():
            self.model.stop_training = True


class NanGuard(keras.callbacks.Callback):
    """Stop at the first NaN or infinite loss and put back the last good weights.

    Weights are copied at the start and after each good epoch, so a blow-up costs at most
    the epoch it happened in.
    """

    def __init__(self, monitor: str = "loss") -> None:
        super().__init__()
        self.monitor = monitor
        self.message: str | None = None
        self.good_weights: list | None = None

    def on_train_begin(self, logs=None):
        self.message = None
        self.good_weights = self.model.get_weights()

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value):
            self.message = (
                f"the loss became {value} at epoch {self._epoch + 1}, batch {batch + 1}: "
                "training stopped and the last good weights were kept; "
                "try a smaller learning rate"
            )
            self.model.stop_training = True
            if self.good_weights is not None:
                self.model.set_weights(self.good_weights)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.message is None and math.isfinite(float((logs or {}).get(self.monitor, 0.0))):
            self.good_weights = self.model.get_weights()
