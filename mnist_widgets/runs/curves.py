"""A run's curves (``curves.npz``): each batch's own loss and accuracy, each epoch's logs and
the learning rate each epoch began with. Positions are in epochs, as in ``History``."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import RunError

BATCH_KEYS = ("x", "loss", "accuracy")
EPOCH_KEYS = ("x", "loss", "accuracy", "val_loss", "val_accuracy")


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclass
class RunCurves:
    """``batches``: ``x``, ``loss``, ``accuracy``, one value a batch. ``epochs``: ``x`` (where
    each epoch's last batch ends), ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``
    (NaN where an epoch has no such log). ``learning_rates``: the rate each epoch began with.
    """

    batches: dict[str, np.ndarray] = field(
        default_factory=lambda: {key: _empty() for key in BATCH_KEYS}
    )
    epochs: dict[str, np.ndarray] = field(
        default_factory=lambda: {key: _empty() for key in EPOCH_KEYS}
    )
    learning_rates: np.ndarray = field(default_factory=_empty)

    def __post_init__(self) -> None:
        for table, keys in ((self.batches, BATCH_KEYS), (self.epochs, EPOCH_KEYS)):
            length = len(np.asarray(table.get("x", _empty())))
            for key in keys:
                table[key] = np.asarray(table.get(key, np.full(length, np.nan)), dtype=float)
                if len(table[key]) != length:
                    raise RunError(f"the {key!r} curve has {len(table[key])} points, not {length}")
        self.learning_rates = np.asarray(self.learning_rates, dtype=float)

    @classmethod
    def from_history(cls, history, learning_rates=()) -> RunCurves:
        """The curves of a ``training.History`` (its accuracy metric named ``accuracy``)."""
        series = history.batch_series()
        batches = {key: series[key] for key in BATCH_KEYS}
        accuracy = history.accuracy_key
        names = {
            "loss": "loss",
            "accuracy": accuracy,
            "val_loss": "val_loss",
            "val_accuracy": f"val_{accuracy}",
        }
        ends = np.asarray(history.epoch_ends, dtype=float).reshape(-1, 2)
        epochs = {"x": history.positions(ends[:, 0], ends[:, 1])}
        for key, name in names.items():
            epochs[key] = np.array([logs.get(name, np.nan) for logs in history.epoch_logs])
        rates = list(learning_rates) or list(history.learning_rates)
        return cls(batches, epochs, np.asarray(rates, dtype=float))

    def save(self, path: str | Path) -> None:
        arrays = {f"batch_{key}": self.batches[key] for key in BATCH_KEYS}
        arrays.update({f"epoch_{key}": self.epochs[key] for key in EPOCH_KEYS})
        with open(path, "wb") as file:
            np.savez_compressed(file, learning_rates=self.learning_rates, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> RunCurves:
        """Read ``save``'s file; RunError when it is missing or not such a file."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                batches = {key: data[f"batch_{key}"] for key in BATCH_KEYS}
                epochs = {key: data[f"epoch_{key}"] for key in EPOCH_KEYS}
                return cls(batches, epochs, data["learning_rates"])
        except FileNotFoundError:
            raise RunError(f"{path.name} is missing") from None
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise RunError(f"{path.name} is not a curves file ({exc})") from None
