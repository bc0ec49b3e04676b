"""What the trainer prints while it runs: one line per epoch."""

from __future__ import annotations

from collections.abc import Callable

import keras


class EpochLog(keras.callbacks.Callback):
    """Prints ``epoch 2/12: loss=... accuracy=... val_accuracy=... lr=...`` after each epoch.

    The epoch number is Keras' own, so a run resumed by ``BackupAndRestore`` starts its
    log where the interrupted one stopped.
    """

    def __init__(self, epochs: int, say: Callable[[str], None], schedule, steps_per_epoch: int):
        super().__init__()
        self.epochs = epochs
        self.say = say
        self.schedule = schedule
        self.steps_per_epoch = steps_per_epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = " ".join(
            f"{name}={float(logs[name]):.4f}"
            for name in ("loss", "accuracy", "val_loss", "val_accuracy")
            if name in logs
        )
        rate = self.schedule.rate_at((epoch + 1) * self.steps_per_epoch)
        self.say(f"epoch {epoch + 1}/{self.epochs}: {shown} lr={rate:.3g}")
