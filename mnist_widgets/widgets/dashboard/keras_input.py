"""Plain ``model.fit(callbacks=[dashboard])``: Keras' hooks handed to the dashboard's emitter
(and to its weight probe, when it shows histograms)."""

from __future__ import annotations

import keras

from ...training.events import EventEmitter
from ...training.probes import WeightProbe


class KerasInput(keras.callbacks.Callback):
    """A Keras callback that passes every training hook on to ``fit_emitter``, then to
    ``fit_probe`` when there is one.

    The emitter (the engine's own kind) turns the hooks into events, fills its history and
    holds the run's Stop/Pause and NaN guard; the class mixing this in listens to it (and to
    the probe's histogram events).
    """

    fit_emitter: EventEmitter
    fit_probe: WeightProbe | None = None

    def _fit_callbacks(self) -> list[keras.callbacks.Callback]:
        return [self.fit_emitter] if self.fit_probe is None else [self.fit_emitter, self.fit_probe]

    def set_model(self, model):
        super().set_model(model)
        for callback in self._fit_callbacks():
            callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for callback in self._fit_callbacks():
            callback.set_params(params)

    def on_train_begin(self, logs=None):
        self.fit_emitter.control.reset()  # its buttons work once this fit runs
        for callback in self._fit_callbacks():
            callback.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for callback in self._fit_callbacks():
            callback.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for callback in self._fit_callbacks():
            callback.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for callback in self._fit_callbacks():
            callback.on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        self.fit_emitter.on_train_end(logs)
