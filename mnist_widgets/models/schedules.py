"""Learning-rate schedules as plain data: callable per epoch, printable as code."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ExponentialDecay:
    """``lr(epoch) = floor + initial * rate ** epoch`` (the codelab's ``0.01 * 0.6**epoch``)."""

    initial: float = 0.01
    rate: float = 0.6
    floor: float = 0.0

    def __call__(self, epoch: int) -> float:
        return float(self.floor + self.initial * self.rate**epoch)

    def values(self, epochs: int) -> list[float]:
        """The learning rate of each epoch, for plotting."""
        return [self(e) for e in range(epochs)]

    def code(self) -> str:
        floor = f"{self.floor!r} + " if self.floor else ""
        return f"lambda epoch: {floor}{self.initial!r} * {self.rate!r} ** epoch"

    def describe(self) -> str:
        return f"{self.initial:g} x {self.rate:g}^epoch" + (
            f" + {self.floor:g}" if self.floor else ""
        )


def schedule_values(schedule, learning_rate: float, epochs: int) -> list[float]:
    """Per-epoch learning rates of a schedule, or a constant rate when there is none."""
    if schedule is None:
        return [float(learning_rate)] * epochs
    return [float(schedule(e)) for e in range(epochs)]


@dataclass(frozen=True)
class OneCycle:
    """Smith's one-cycle policy, set per optimizer step: a linear warm-up from ``peak /
    start_div`` to ``peak`` over the first ``warmup`` of the cycle, then a cosine down to
    ``peak / final_div`` at the end of ``epochs``.

    ``opening`` > 0 puts a short cycle of that many epochs (same shape and peak) first, then
    restarts for the rest: the network is already accurate after the opening cycle instead
    of only at the very end, at little cost to where the main cycle ends.

    Called with an epoch number (fractions allowed) it gives the rate at that point, for
    plots and for trainers that set the rate once per epoch; ``keras_schedule`` gives the
    per-step schedule for the optimizer.
    """

    peak: float = 0.01
    epochs: int = 6
    warmup: float = 0.25
    start_div: float = 10.0
    final_div: float = 100.0
    opening: float = 0.0
    per_step: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not (0 < self.warmup < 1) or self.epochs <= 0 or not 0 <= self.opening < self.epochs:
            raise ValueError("OneCycle needs 0 < warmup < 1, epochs > 0, 0 <= opening < epochs")

    def _cycle(self, t: float) -> float:
        """The rate at fraction ``t`` in [0, 1] of one cycle."""
        low, end = self.peak / self.start_div, self.peak / self.final_div
        t = min(max(float(t), 0.0), 1.0)
        if t < self.warmup:
            return low + (self.peak - low) * t / self.warmup
        fall = (t - self.warmup) / (1.0 - self.warmup)
        return end + (self.peak - end) * 0.5 * (1.0 + math.cos(math.pi * fall))

    def __call__(self, epoch: float) -> float:
        if epoch < self.opening:
            return self._cycle(epoch / self.opening)
        return self._cycle((epoch - self.opening) / (self.epochs - self.opening))

    def values(self, epochs: int) -> list[float]:
        """The learning rate at the start of each epoch, for plotting."""
        return [self(e) for e in range(epochs)]

    def _cycle_code(self, offset: float, length: float) -> str:
        p, w = self.peak, self.warmup
        low, end = p / self.start_div, p / self.final_div
        t = f"(epoch - {offset!r}) / {length!r}" if offset else f"epoch / {length!r}"
        return (
            f"{low!r} + ({p - low!r}) * ({t}) / {w!r} if {t} < {w!r} "
            f"else {end!r} + ({p - end!r}) * 0.5 * "
            f"(1 + math.cos(math.pi * (min({t}, 1.0) - {w!r}) / {1 - w!r}))"
        )

    def code(self) -> str:
        """A per-epoch lambda (the per-step schedule is finer); needs ``import math``."""
        main = self._cycle_code(self.opening, self.epochs - self.opening)
        if not self.opening:
            return f"lambda epoch: {main}"
        opening = self._cycle_code(0.0, self.opening)
        return f"lambda epoch: ({opening}) if epoch < {self.opening!r} else ({main})"

    def describe(self) -> str:
        first = f"{self.opening:g}-epoch opening cycle, then " if self.opening else ""
        return f"{first}one cycle to {self.peak:g} over {self.epochs:g} epochs"

    def keras_schedule(self, steps_per_epoch: int, epochs: float | None = None):
        """The same curve per optimizer step, as a Keras ``LearningRateSchedule``."""
        epochs = float(epochs or self.epochs)
        opening = self.opening * epochs / self.epochs
        return _keras_one_cycle()(
            self.peak,
            max(1, round(steps_per_epoch * (epochs - opening))),
            self.warmup,
            self.peak / self.start_div,
            self.peak / self.final_div,
            round(steps_per_epoch * opening),
        )


_ONE_CYCLE_CLASS = None


def _keras_one_cycle():
    """The Keras schedule class, made on first use so that importing this module stays light."""
    global _ONE_CYCLE_CLASS
    if _ONE_CYCLE_CLASS is not None:
        return _ONE_CYCLE_CLASS
    import keras

    @keras.saving.register_keras_serializable(package="mnist_widgets")
    class OneCycleSchedule(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up then cosine decay per step, after an optional opening cycle of
        ``opening_steps`` (see ``OneCycle``); ``total_steps`` is the main cycle's length."""

        def __init__(self, peak, total_steps, warmup, low, end, opening_steps=0):
            self.peak, self.total_steps, self.warmup = float(peak), int(total_steps), warmup
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

    _ONE_CYCLE_CLASS = OneCycleSchedule
    return _ONE_CYCLE_CLASS
