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
    start_div`` to ``peak`` over the first ``warmup`` of training, then a cosine down to
    ``peak / final_div`` at the end of ``epochs``.

    Called with an epoch number (fractions allowed) it gives the rate at that point, for
    plots and for trainers that set the rate once per epoch; ``keras_schedule`` gives the
    per-step schedule for the optimizer.
    """

    peak: float = 0.01
    epochs: int = 6
    warmup: float = 0.25
    start_div: float = 10.0
    final_div: float = 100.0
    per_step: ClassVar[bool] = True

    def at(self, progress: float) -> float:
        """The rate at ``progress`` in [0, 1] of the whole run."""
        low, end = self.peak / self.start_div, self.peak / self.final_div
        progress = min(max(float(progress), 0.0), 1.0)
        if progress < self.warmup:
            return low + (self.peak - low) * progress / self.warmup
        fall = (progress - self.warmup) / (1.0 - self.warmup)
        return end + (self.peak - end) * 0.5 * (1.0 + math.cos(math.pi * fall))

    def __call__(self, epoch: float) -> float:
        return self.at(epoch / self.epochs)

    def values(self, epochs: int) -> list[float]:
        """The learning rate at the start of each epoch, for plotting."""
        return [self(e) for e in range(epochs)]

    def code(self) -> str:
        """A per-epoch lambda (the per-step schedule is finer); needs ``import math``."""
        p, e, w = self.peak, self.epochs, self.warmup
        low, end = p / self.start_div, p / self.final_div
        return (
            f"lambda epoch: {low!r} + ({p - low!r}) * epoch / ({w * e!r}) if epoch < {w * e!r} "
            f"else {end!r} + ({p - end!r}) * 0.5 * "
            f"(1 + math.cos(math.pi * (epoch - {w * e!r}) / ({(1 - w) * e!r})))"
        )

    def describe(self) -> str:
        return f"one cycle to {self.peak:g} over {self.epochs} epochs"

    def keras_schedule(self, steps_per_epoch: int, epochs: int | None = None):
        """The same curve per optimizer step, as a Keras ``LearningRateSchedule``."""
        total = max(1, int(steps_per_epoch) * int(epochs or self.epochs))
        return _keras_one_cycle()(
            self.peak, total, self.warmup, self.peak / self.start_div, self.peak / self.final_div
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
        """Linear warm-up then cosine decay, per step (see ``OneCycle``)."""

        def __init__(self, peak, total_steps, warmup, low, end):
            self.peak, self.total_steps, self.warmup = float(peak), int(total_steps), warmup
            self.low, self.end = float(low), float(end)

        def __call__(self, step):
            ops = keras.ops
            t = ops.minimum(ops.cast(step, "float32") / self.total_steps, 1.0)
            rise = self.low + (self.peak - self.low) * t / self.warmup
            fall = (t - self.warmup) / (1.0 - self.warmup)
            cosine = self.end + (self.peak - self.end) * 0.5 * (1.0 + ops.cos(math.pi * fall))
            return ops.where(t < self.warmup, rise, cosine)

        def get_config(self):
            return {
                "peak": self.peak,
                "total_steps": self.total_steps,
                "warmup": self.warmup,
                "low": self.low,
                "end": self.end,
            }

    _ONE_CYCLE_CLASS = OneCycleSchedule
    return _ONE_CYCLE_CLASS
