"""What the trainer prints while it runs: one line per epoch."""

from __future__ import annotations

from collections.abc import Callable

import keras


class EpochLog(keras.callbacks.Callback):
    """Prints ``epoch 2/12: loss=... accuracy=... val_accuracy=... lr=...`` after each epoch,
    ``lr`` being the rate the next step uses.

    The epoch number is Keras' own, so a run resumed by ``BackupAndRestore`` starts its
    log where the interrupted one stopped.
    """

    def __init__(self, epochs: int, say: Callable[[str], None]):
        super().__init__()
        self.epochs = epochs
        self.say = say

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = " ".join(
            f"{name}={float(logs[name]):.4f}"
            for name in ("loss", "accuracy", "val_loss", "val_accuracy")
            if name in logs
        )
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.say(f"epoch {epoch + 1}/{self.epochs}: {shown} lr={rate:.3g}")
