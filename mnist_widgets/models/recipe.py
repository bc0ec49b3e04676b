"""What to train with: optimizer, learning rate and schedule, batch size, epochs, loss
smoothing and augmentation, as plain data (``TrainingRecipe``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ModelSpecError
from .schedules import Constant, Schedule

OPTIMIZERS = ("sgd", "adam", "rmsprop", "adamw", "nadam")
ADAM_FAMILY = frozenset({"adam", "adamw", "nadam"})  # the ones with beta_1 and beta_2


@dataclass
class TrainingRecipe:
    """Everything about training a model except its layers.

    ``schedule`` None keeps ``learning_rate`` throughout; with a schedule the rate follows it
    and ``learning_rate`` is unused. ``shift`` moves each training image by up to that many
    pixels; ``betas`` are Adam's ``(beta_1, beta_2)`` (None: Keras' defaults).
    """

    optimizer: str = "adam"
    learning_rate: float = 0.001
    schedule: Schedule | None = None
    batch_size: int = 128
    epochs: int = 10
    label_smoothing: float = 0.0
    shift: int = 0
    betas: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ModelSpecError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.batch_size < 1 or self.epochs < 1 or not self.learning_rate > 0:
            raise ModelSpecError("batch size, epochs and learning rate must be positive")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ModelSpecError("label smoothing must be at least 0 and below 1")
        if not 0 <= self.shift <= 8:
            raise ModelSpecError("shift must be 0 to 8 pixels")
        if self.betas is not None:
            if self.optimizer not in ADAM_FAMILY:
                raise ModelSpecError(f"betas are for {', '.join(sorted(ADAM_FAMILY))}")
            if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
                raise ModelSpecError("betas are two numbers at least 0 and below 1")

    def rate_schedule(self, epochs: int | None = None) -> Schedule:
        """The schedule, or a ``Constant`` one, fitted to ``epochs`` (default: the recipe's)."""
        schedule = self.schedule or Constant(self.learning_rate)
        return schedule.for_epochs(int(epochs or self.epochs))

    def start_rate(self) -> float:
        return self.rate_schedule().rate_at(0)
