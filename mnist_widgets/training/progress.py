"""The command line's progress bar: Keras' ``Progbar`` driven by the engine's events."""

from __future__ import annotations

import sys

import keras

from .events import TrainingEvent

BATCH_NAMES = {"loss": "loss", "accuracy": "acc"}  # log key -> name shown
EPOCH_NAMES = {**BATCH_NAMES, "val_loss": "val_loss", "val_accuracy": "val_acc"}


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
        self._bar.update(self._done, _named(event.logs, BATCH_NAMES), finalize=False)

    def _on_epoch_end(self, event: TrainingEvent) -> None:
        if self._bar is None:
            return
        values = _named(event.logs, EPOCH_NAMES)
        if event.learning_rate is not None:
            values.append(("lr", event.learning_rate))
        self._bar.update(self._done, values, finalize=True)

    def _on_nan(self, event: TrainingEvent) -> None:
        print(f"\n{event.message}", flush=True)


def _named(logs: dict[str, float], names: dict[str, str]) -> list[tuple[str, float]]:
    return [(name, logs[key]) for key, name in names.items() if key in logs]
