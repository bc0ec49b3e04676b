"""Training: the engine, its control callbacks and the events outputs listen to."""

from .control import NanGuard, TrainingControl
from .engine import Trainer, TrainingResult, train_preset
from .events import BatchValues, EventEmitter, TrainingEvent

__all__ = [
    "BatchValues",
    "EventEmitter",
    "NanGuard",
    "Trainer",
    "TrainingControl",
    "TrainingEvent",
    "TrainingResult",
    "train_preset",
]
