"""The Keras ``LearningRateSchedule`` classes behind the kit's schedules (``schedules.py``).

Each is a small subclass with ``__call__(step)`` and ``get_config``, registered so that a
model saved with one loads again once this module is imported. The engine recompiles a
trained model with a constant rate before it is saved (``build.portable_compile``), so saved
files need neither.
"""

from __future__ import annotations

import math

import keras


@keras.saving.register_keras_serializable(package="mnist_widgets")
class FlooredExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``floor + initial * rate ** (step / decay_steps)``, the exponent floored when
    ``staircase``: Keras' ``ExponentialDecay`` that tends to ``floor`` instead of 0."""

    def __init__(self, initial, decay_steps, rate, floor=0.0, staircase=True):
        self.initial, self.decay_steps, self.rate = float(initial), int(decay_steps), float(rate)
        self.floor, self.staircase = float(floor), bool(staircase)

    def __call__(self, step):
        power = keras.ops.cast(step, "float32") / self.decay_steps
        if self.staircase:
            power = keras.ops.floor(power)
        return self.floor + self.initial * keras.ops.power(self.rate, power)

    def get_config(self):
        return {
            "initial": self.initial,
            "decay_steps": self.decay_steps,
            "rate": self.rate,
            "floor": self.floor,
            "staircase": self.staircase,
        }


@keras.saving.register_keras_serializable(package="mnist_widgets")
class OneCycleSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up then cosine decay per step, after an optional opening cycle of
    ``opening_steps`` (see ``schedules.OneCycle``); ``total_steps`` is the main cycle's length."""

    def __init__(self, peak, total_steps, warmup, low, end, opening_steps=0):
        self.peak, self.total_steps, self.warmup = float(peak), int(total_steps), float(warmup)
        self.low, self.end = float(low), float(end)
        self.opening_steps = int(opening_steps)

    def _cycle(self, t):
        ops = keras.ops
        t = ops.clip(t, 0.0, 1.0)
        rise = self.low + (self.peak - self.low) * t / self.warmup
        fall = (t - self.warmup) / (1.0 - self.warmup)
        cosine = self.end + (self.peak - self.end) * 0.5 * (1.0 + ops.cos(math.pi * fall))
        return ops.where(t < self.warmup, rise, cosine)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        main = self._cycle((step - self.opening_steps) / self.total_steps)
        if not self.opening_steps:
            return main
        opening = self._cycle(step / self.opening_steps)
        return keras.ops.where(step < self.opening_steps, opening, main)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup": self.warmup,
            "low": self.low,
            "end": self.end,
            "opening_steps": self.opening_steps,
        }
