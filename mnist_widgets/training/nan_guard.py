"""The NaN guard: Keras' ``TerminateOnNaN`` that also puts back the last good weights."""

from __future__ import annotations

import math

import keras


class NanGuard(keras.callbacks.TerminateOnNaN):
    """Stop at the first NaN or infinite loss, put back the last good weights and say so.

    Keras' ``TerminateOnNaN`` stops the fit; this adds what the kit needs: the weights are
    copied when training begins and after each epoch with a finite loss, and restored when
    the loss blows up, so a blow-up costs at most the epoch it happened in. ``message``
    then says where it happened and what to try (None while all is well).

    Example::

        guard = NanGuard()
        model.fit(x, y, callbacks=[guard])
        if guard.message:
            print(guard.message)
    """

    def __init__(self) -> None:
        super().__init__()
        self.message: str | None = None
        self.good_weights: list | None = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.message = None
        self._epoch = 0
        self.good_weights = self.model.get_weights()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        super().on_batch_end(batch, logs)
        loss = (logs or {}).get("loss")
        if self.message is not None or loss is None or math.isfinite(float(loss)):
            return
        self.model.stop_training = True
        if self.good_weights is not None:
            self.model.set_weights(self.good_weights)
        self.message = (
            f"the loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}: "
            "training stopped and the last good weights were kept; try a smaller learning rate"
        )

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss", 0.0)
        if self.message is None and math.isfinite(float(loss)):
            self.good_weights = self.model.get_weights()
