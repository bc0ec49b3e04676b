"""Plain ``model.fit(callbacks=[dashboard])``: Keras' hooks handed to the dashboard's emitter."""

from __future__ import annotations

import keras

from ...training.events import EventEmitter


class KerasInput(keras.callbacks.Callback):
    """A Keras callback that passes every training hook on to ``fit_emitter``.

    The emitter (the engine's own kind) turns the hooks into events, fills its history and
    holds the run's Stop/Pause and NaN guard; the class mixing this in listens to it.
    """

    fit_emitter: EventEmitter

    def set_model(self, model):
        super().set_model(model)
        self.fit_emitter.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.fit_emitter.set_params(params)

    def on_train_begin(self, logs=None):
        self.fit_emitter.control.reset()  # its buttons work once this fit runs
        self.fit_emitter.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.fit_emitter.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.fit_emitter.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.fit_emitter.on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        self.fit_emitter.on_train_end(logs)
