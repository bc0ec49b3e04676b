"""Learning-rate schedules as plain data: callable per epoch, printable as code."""

from __future__ import annotations

from dataclasses import dataclass


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
