"""Learning-rate schedules as plain data, all with one interface (``Schedule``).

A schedule gives the rate at any point of training (``rate_at``, in epochs), the same curve
per optimizer step for Keras (``keras_schedule``), one line for people (``describe``) and the
Python expression the generated code uses (``to_code``). The builder, the dashboard's planned
rates, the command line's curves and the code generator use only this interface, so they
handle every schedule alike.

Example:

    schedule = EpochDecay(initial=0.01, rate=0.6)
    schedule.rate_at(2)                      # 0.0036
    optimizer = keras.optimizers.Adam(schedule.keras_schedule(steps_per_epoch=469))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


class Schedule:
    """The base class: a learning rate as a function of training progress."""

    def rate_at(self, epoch: float) -> float:
        """The rate during ``epoch`` (fractions allowed: 1.5 is half-way through epoch 1)."""
        raise NotImplementedError

    def keras_schedule(self, steps_per_epoch: int):
        """The same curve per optimizer step: a Keras ``LearningRateSchedule``, or a float
        for a constant rate."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for people, such as ``0.01 x 0.6^epoch``."""
        raise NotImplementedError

    def to_code(self) -> str:
        """A Python expression for ``keras.callbacks.LearningRateScheduler`` (``epoch -> rate``)."""
        raise NotImplementedError

    def for_epochs(self, epochs: int) -> Schedule:
        """This schedule fitted to a run of ``epochs`` epochs (those with an end stretch to it)."""
        return self

    def values(self, epochs: int) -> list[float]:
        """The rate at the start of each epoch, for plots."""
        return [self.rate_at(e) for e in range(epochs)]

    def __call__(self, epoch: float) -> float:
        """``rate_at``, so a schedule serves as ``LearningRateScheduler``'s function."""
        return self.rate_at(epoch)


@dataclass(frozen=True)
class Constant(Schedule):
    """One rate throughout."""

    rate: float = 0.001

    def rate_at(self, epoch: float) -> float:
        return float(self.rate)

    def keras_schedule(self, steps_per_epoch: int) -> float:
        return float(self.rate)

    def describe(self) -> str:
        return f"{self.rate:g} (constant)"

    def to_code(self) -> str:
        return f"lambda epoch: {self.rate!r}"


@dataclass(frozen=True)
class EpochDecay(Schedule):
    """``rate_at(epoch) = floor + initial * rate ** epoch`` (the codelab's ``0.01 * 0.6**epoch``).

    ``staircase`` (the default) keeps each epoch's rate for the whole epoch, as the codelab's
    per-epoch callback does; without it the rate falls smoothly from step to step.
    """

    initial: float = 0.01
    rate: float = 0.6
    floor: float = 0.0
    staircase: bool = True

    def rate_at(self, epoch: float) -> float:
        power = math.floor(epoch) if self.staircase else epoch
        return float(self.floor + self.initial * self.rate**power)

    def keras_schedule(self, steps_per_epoch: int):
        """Keras' own ``ExponentialDecay`` when there is no floor (the saved model then loads
        anywhere), else the kit's ``FlooredExponentialDecay``."""
        import keras

        from .keras_schedules import FlooredExponentialDecay

        args = (self.initial, max(1, int(steps_per_epoch)), self.rate)
        if not self.floor:
            return keras.optimizers.schedules.ExponentialDecay(*args, staircase=self.staircase)
        return FlooredExponentialDecay(*args, floor=self.floor, staircase=self.staircase)

    def describe(self) -> str:
        return f"{self.initial:g} x {self.rate:g}^epoch" + (
            f" + {self.floor:g}" if self.floor else ""
        )

    def to_code(self) -> str:
        floor = f"{self.floor!r} + " if self.floor else ""
        return f"lambda epoch: {floor}{self.initial!r} * {self.rate!r} ** epoch"


@dataclass(frozen=True)
class OneCycle(Schedule):
    """Smith's one-cycle policy: a linear warm-up from ``peak / start_div`` to ``peak`` over
    the first ``warmup`` of the cycle, then a cosine down to ``peak / final_div`` at the end of
    ``epochs``.

    ``opening`` > 0 puts a short cycle of that many epochs (same shape and peak) first, then
    restarts for the rest, so the network is already accurate after the opening cycle.
    """

    peak: float = 0.01
    epochs: int = 6
    warmup: float = 0.25
    start_div: float = 10.0
    final_div: float = 100.0
    opening: float = 0.0

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

    def rate_at(self, epoch: float) -> float:
        if epoch < self.opening:
            return self._cycle(epoch / self.opening)
        return self._cycle((epoch - self.opening) / (self.epochs - self.opening))

    def for_epochs(self, epochs: int) -> OneCycle:
        """The same cycle stretched or squeezed to ``epochs``, the opening in proportion."""
        if epochs == self.epochs:
            return self
        return replace(self, epochs=epochs, opening=self.opening * epochs / self.epochs)

    def keras_schedule(self, steps_per_epoch: int):
        from .keras_schedules import OneCycleSchedule

        return OneCycleSchedule(
            self.peak,
            max(1, round(steps_per_epoch * (self.epochs - self.opening))),
            self.warmup,
            self.peak / self.start_div,
            self.peak / self.final_div,
            round(steps_per_epoch * self.opening),
        )

    def describe(self) -> str:
        first = f"{self.opening:g}-epoch opening cycle, then " if self.opening else ""
        return f"{first}one cycle to {self.peak:g} over {self.epochs:g} epochs"

    def _cycle_code(self, offset: float, length: float) -> str:
        p, w = self.peak, self.warmup
        low, end = p / self.start_div, p / self.final_div
        t = f"(epoch - {offset!r}) / {length!r}" if offset else f"epoch / {length!r}"
        return (
            f"{low!r} + ({p - low!r}) * ({t}) / {w!r} if {t} < {w!r} "
            f"else {end!r} + ({p - end!r}) * 0.5 * "
            f"(1 + math.cos(math.pi * (min({t}, 1.0) - {w!r}) / {1 - w!r}))"
        )

    def to_code(self) -> str:
        """A per-epoch lambda (the per-step schedule is finer); needs ``import math``."""
        main = self._cycle_code(self.opening, self.epochs - self.opening)
        if not self.opening:
            return f"lambda epoch: {main}"
        opening = self._cycle_code(0.0, self.opening)
        return f"lambda epoch: ({opening}) if epoch < {self.opening!r} else ({main})"


def schedule_values(schedule: Schedule | None, learning_rate: float, epochs: int) -> list[float]:
    """Per-epoch learning rates of a schedule, or a constant rate when there is none."""
    return (schedule or Constant(learning_rate)).values(epochs)
