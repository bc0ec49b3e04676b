"""The cloud trainer's learning rate: exponential decay per step towards a floor.

``lr(step) = end + start * exp(-step / decay_steps)``, the codelab's cloud-ready version
(``lr1 + exponential_decay(lr0, step, lr2, 1/e)``). It lives in the optimizer, so it is saved
with the optimizer's step count and resumes where a restarted run left off.
"""

from __future__ import annotations

import math

import keras


@keras.saving.register_keras_serializable(package="mnist_widgets")
class DecayToFloor(keras.optimizers.schedules.LearningRateSchedule):
    """From ``start`` down towards ``end``, by a factor e every ``decay_steps`` steps."""

    def __init__(self, start: float, end: float = 0.0, decay_steps: float | None = None) -> None:
        self.start = float(start)
        self.end = float(end)
        self.decay_steps = None if decay_steps is None else float(decay_steps)

    def __call__(self, step):
        if self.decay_steps is None:
            return keras.ops.convert_to_tensor(self.start, "float32")
        step = keras.ops.cast(step, "float32")
        return self.end + self.start * keras.ops.exp(-step / self.decay_steps)

    def rate_at(self, step: int) -> float:
        """The rate at ``step`` as a plain float, for reports."""
        if self.decay_steps is None:
            return self.start
        return self.end + self.start * math.exp(-step / self.decay_steps)

    def describe(self) -> str:
        if self.decay_steps is None:
            return f"{self.start:g} (constant)"
        floor = f"{self.end:g} + " if self.end else ""
        return f"{floor}{self.start:g} x exp(-step / {self.decay_steps:.1f})"

    def get_config(self) -> dict:
        return {"start": self.start, "end": self.end, "decay_steps": self.decay_steps}
