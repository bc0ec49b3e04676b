"""The one store of a run's series: each batch's own values and each epoch's logs.

The event emitter fills it as training goes; the engine's result, the dashboard and any other
output read the same object, so what they show cannot drift apart.
"""

from __future__ import annotations

import math

import numpy as np


class Columns:
    """Named float columns that grow by doubling, so appending a row stays cheap.

    Readers on another thread see a consistent prefix: the row count is raised only after
    its values are written.
    """

    def __init__(self, names: list[str], capacity: int = 1024) -> None:
        self.names = list(names)
        self._data = np.full((len(self.names), capacity), math.nan)
        self.size = 0

    def append(self, row: dict[str, float]) -> None:
        n = self.size
        if n == self._data.shape[1]:
            grown = np.full((len(self.names), 2 * n), math.nan)
            grown[:, :n] = self._data
            self._data = grown
        column = self._data[:, n]
        for i, name in enumerate(self.names):
            column[i] = row.get(name, math.nan)
        self.size = n + 1

    def arrays(self) -> dict[str, np.ndarray]:
        """A copy of every column so far."""
        n = self.size
        data = self._data[:, :n].copy()
        return dict(zip(self.names, data, strict=True))


def accuracy_key(keys) -> str:
    """The name of the accuracy metric among ``keys`` (``accuracy`` when there is none)."""
    keys = list(keys)
    for key in keys:
        if key in ("accuracy", "acc"):
            return key
    for key in keys:
        if key.endswith("accuracy") and not key.startswith("val_"):
            return key
    return "accuracy"


class History:
    """Per-batch and per-epoch series of one run (cleared when the next run begins).

    Per batch: its epoch, its index in the epoch and the batch's own value of each metric.
    Per epoch: Keras' epoch logs (validation included), the position of its last batch and
    the learning rate the epoch began with. Positions are in epochs: batch ``b`` of epoch
    ``e`` (both from 0) sits at ``e + (b + 1) / steps``.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self, steps: int | None = None) -> None:
        self.steps = steps
        self._batches: Columns | None = None
        self._steps_seen = 0
        self.epochs: list[int] = []
        self.epoch_ends: list[tuple[int, int]] = []  # (epoch, last batch) of each ended epoch
        self.epoch_logs: list[dict[str, float]] = []
        self.rate_epochs: list[int] = []
        self.learning_rates: list[float] = []

    # -- written by the emitter ----------------------------------------------------------
    def add_batch(self, epoch: int, batch: int, values: dict[str, float]) -> None:
        if self._batches is None:
            self._batches = Columns(["epoch", "batch", *values])
        self._batches.append({"epoch": epoch, "batch": batch, **values})
        self._steps_seen = max(self._steps_seen, batch + 1)

    def add_rate(self, epoch: int, learning_rate: float | None) -> None:
        if learning_rate is not None:
            self.rate_epochs.append(epoch)
            self.learning_rates.append(float(learning_rate))

    def add_epoch(self, epoch: int, last_batch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)
        self.epoch_ends.append((epoch, last_batch))
        self.epoch_logs.append(dict(logs))

    # -- read by the outputs ---------------------------------------------------------------
    @property
    def batches(self) -> int:
        """How many batch rows were recorded (one per callback call)."""
        return 0 if self._batches is None else self._batches.size

    @property
    def accuracy_key(self) -> str:
        return accuracy_key(self._batches.names if self._batches else [])

    def positions(self, epochs, batches) -> np.ndarray:
        """Where batch ``batches[i]`` of epoch ``epochs[i]`` ends, in epochs."""
        steps = self.steps or max(self._steps_seen, 1)
        return np.asarray(epochs, dtype=float) + (np.asarray(batches, dtype=float) + 1) / steps

    def batch_series(self) -> dict[str, np.ndarray]:
        """``x`` (in epochs), ``loss``, ``accuracy`` and every other metric, one value a batch."""
        if self._batches is None:
            empty = np.zeros(0)
            return {"x": empty, "loss": empty, "accuracy": empty}
        columns = self._batches.arrays()
        series = {"x": self.positions(columns.pop("epoch"), columns.pop("batch"))}
        series.update(columns)
        series.setdefault("loss", np.full(len(series["x"]), math.nan))
        series["accuracy"] = columns.get(self.accuracy_key, np.full(len(series["x"]), math.nan))
        return series

    def epoch_series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions, values) of epoch log ``key``, for the epochs whose logs have it."""
        rows = [
            (epoch, batch, logs[key])
            for (epoch, batch), logs in zip(self.epoch_ends, self.epoch_logs, strict=True)
            if key in logs
        ]
        table = np.asarray(rows, dtype=float).reshape(-1, 3)
        return self.positions(table[:, 0], table[:, 1]), table[:, 2]

    def epoch_values(self, key: str) -> list[float]:
        """Epoch log ``key`` of every epoch that has it (as in ``model.fit``'s history)."""
        return [logs[key] for logs in self.epoch_logs if key in logs]
