"""Training: the engine, its control callbacks and the events outputs listen to."""

from .control import TrainingControl
from .engine import Trainer, TrainingResult, train_preset
from .events import BatchValues, EventEmitter, TrainingEvent
from .history import History
from .nan_guard import NanGuard

__all__ = [
    "BatchValues",
    "EventEmitter",
    "History",
    "NanGuard",
    "Trainer",
    "TrainingControl",
    "TrainingEvent",
    "TrainingResult",
    "train_preset",
]
