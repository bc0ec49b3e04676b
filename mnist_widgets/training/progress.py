"""The command line's progress bar: Keras' ``Progbar`` driven by the engine's events."""

from __future__ import annotations

import sys

import keras

from .events import TrainingEvent


class ProgressBar:
    """A listener that shows each epoch as Keras' ``model.fit`` would.

    A header line per epoch, then Keras' ``Progbar``: on a terminal a bar redrawn as batches
    end (the epoch's mean loss and accuracy so far, time left in the epoch); elsewhere (logs,
    CI) one line when the epoch ends. The epoch's line ends with the validation values and
    the learning rate.
    """

    def __init__(self, verbose: int | None = None) -> None:
        tty = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
        self.verbose = verbose if verbose is not None else (1 if tty else 2)
        self._bar: keras.utils.Progbar | None = None
        self._done = 0

    def __call__(self, event: TrainingEvent) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler:
            handler(event)

    def _on_epoch_begin(self, event: TrainingEvent) -> None:
        print(f"epoch {event.epoch + 1}/{event.epochs}", flush=True)
        self._bar = keras.utils.Progbar(event.steps, verbose=self.verbose, unit_name="batch")
        self._done = 0

    def _on_batch_end(self, event: TrainingEvent) -> None:
        self._done = event.batch + 1
        values = [(k, event.logs[k]) for k in ("loss", "accuracy") if k in event.logs]
        self._bar.update(self._done, values, finalize=False)

    def _on_epoch_end(self, event: TrainingEvent) -> None:
        if self._bar is None:
            return
        shown = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss"}
        shown["val_accuracy"] = "val_acc"
        values = [(name, event.logs[key]) for key, name in shown.items() if key in event.logs]
        if event.learning_rate is not None:
            values.append(("lr", event.learning_rate))
        self._bar.update(self._done, values, finalize=True)

    def _on_nan(self, event: TrainingEvent) -> None:
        print(f"\n{event.message}", flush=True)
