"""A model on the test set: accuracy and loss (``accuracy_and_loss``), and its predictions with
mistakes first, filters and a confusion matrix (``Predictions``).

Pure numpy plus calls to the model, so the engine, the cloud trainer, the gallery widget and
the command line share it, and tests check it without a front end.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..data.pipeline import scale_images
from ..errors import DataError, ModelSpecError
from ..models.build import input_shape

NUM_CLASSES = 10
CORRECT_CHOICES = ("all", "right", "wrong")


def as_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Model outputs -> probabilities: softmax outputs are kept, logits go through a softmax."""
    out = np.asarray(outputs, dtype=np.float32)
    if out.ndim != 2 or out.shape[1] != NUM_CLASSES:
        raise ModelSpecError(f"the model returns shape {out.shape}; a classifier needs (N, 10)")
    if out.size and out.min() >= 0 and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        return out
    shifted = np.exp(out - out.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predict_probabilities(model, images: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Class probabilities (N, 10) for uint8 (0-255) or float ([0, 1]) images of 28x28 pixels.

    Images are reshaped to the model's own input shape and go through ``predict_on_batch``
    ``batch_size`` at a time, each batch scaled to float32 on its own (no float copy of the
    whole set).
    """
    images = np.asarray(images)
    if images.ndim < 2 or int(np.prod(images.shape[1:])) != 28 * 28:
        raise DataError(f"expected 28x28 digits, got an array of shape {images.shape}")
    shape = input_shape(model)
    outputs = [
        np.asarray(model.predict_on_batch(scale_images(images[start : start + batch_size], shape)))
        for start in range(0, len(images), batch_size)
    ]
    return as_probabilities(np.concatenate(outputs) if outputs else np.zeros((0, NUM_CLASSES)))


def accuracy_and_loss(
    model, images: np.ndarray, labels: np.ndarray, batch_size: int = 250
) -> tuple[float, float]:
    """``(accuracy, loss)`` of ``model`` on ``images`` (uint8, or floats in [0, 1]) and their
    labels: the share classified right and the mean cross-entropy of the true class (without
    label smoothing, so recipes compare), computed here with the model in inference mode.

    The model is called directly, batch by batch: under a distribution strategy every worker
    holds the same weights after a synchronous ``fit``, and scores the whole set alone. A direct
    (eager) call keeps every layer's output of its batch until it returns, so batches are
    kept small.
    """
    import keras

    shape = input_shape(model)
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels) or not len(labels):
        raise DataError(f"expected as many labels as images (and some), got {len(labels)}")
    correct, loss = 0, 0.0
    for start in range(0, len(labels), batch_size):
        x = scale_images(images[start : start + batch_size], shape)
        outputs = keras.ops.convert_to_numpy(model(x, training=False))
        probabilities = as_probabilities(outputs).astype(np.float64)
        truth = labels[start : start + batch_size]
        correct += int((probabilities.argmax(axis=1) == truth).sum())
        picked = probabilities[np.arange(len(truth)), truth]
        loss -= float(np.log(np.clip(picked, 1e-7, 1.0)).sum())
    return correct / len(labels), loss / len(labels)


def mistakes_first(correct: np.ndarray) -> np.ndarray:
    """Indices with every wrong prediction first, then the right ones, each in index order."""
    return np.argsort(np.asarray(correct, dtype=bool), kind="stable")


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """int64 (10, 10): row = true class, column = predicted class."""
    pairs = np.asarray(labels, dtype=np.int64) * NUM_CLASSES + np.asarray(predicted, np.int64)
    return np.bincount(pairs, minlength=NUM_CLASSES**2).reshape(NUM_CLASSES, NUM_CLASSES)


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Diagonal over row sums (recall of each true class); NaN for a class with no digits."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def check_filters(
    true_class: int | None, predicted_class: int | None, correct: str = "all"
) -> None:
    """Raise a DataError for a class outside 0-9 or an unknown right/wrong choice."""
    for name, value in (("true class", true_class), ("predicted class", predicted_class)):
        if value is not None and not 0 <= int(value) < NUM_CLASSES:
            raise DataError(f"{name} must be 0-9 or None, got {value}")
    if correct not in CORRECT_CHOICES:
        raise DataError(f"correct must be one of {', '.join(CORRECT_CHOICES)}, got {correct!r}")


@dataclass(frozen=True)
class Predictions:
    """A model's answers on labelled digits, computed once and then only sliced."""

    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray  # int64 (N,)
    probabilities: np.ndarray  # float32 (N, 10)

    @classmethod
    def of(cls, model, images: np.ndarray, labels: np.ndarray, batch_size: int = 250):
        """Run ``model`` once over all ``images`` (in batches of ``batch_size``)."""
        images, labels = check_digits(images, labels)
        return cls(images, labels, predict_probabilities(model, images, batch_size))

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @cached_property
    def correct(self) -> np.ndarray:
        return self.predicted == self.labels

    @cached_property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self) else float("nan")

    @cached_property
    def order(self) -> np.ndarray:
        """All indices, mistakes first."""
        return mistakes_first(self.correct)

    @cached_property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.labels, self.predicted)

    @cached_property
    def class_accuracy(self) -> np.ndarray:
        return per_class_accuracy(self.confusion)

    def select(
        self,
        true_class: int | None = None,
        predicted_class: int | None = None,
        correct: str = "all",
    ) -> np.ndarray:
        """Indices (mistakes first) whose true class, predicted class and rightness match."""
        check_filters(true_class, predicted_class, correct)
        keep = np.ones(len(self), dtype=bool)
        if true_class is not None:
            keep &= self.labels == int(true_class)
        if predicted_class is not None:
            keep &= self.predicted == int(predicted_class)
        if correct != "all":
            keep &= self.correct == (correct == "right")
        return self.order[keep[self.order]]


def check_digits(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate labelled digits -> (uint8 (N, 28, 28), int64 (N,)); DataError otherwise.

    uint8 images come back as a view of the same memory (the gallery holds no copy).
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim < 2 or int(np.prod(images.shape[1:])) != 28 * 28:
        raise DataError(f"expected 28x28 digits, got images of shape {images.shape}")
    if labels.shape != (len(images),):
        raise DataError(f"expected {len(images)} labels, got an array of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError("labels must be classes 0-9")
    if not np.issubdtype(images.dtype, np.integer):  # floats in [0, 1] -> uint8
        images = np.round(np.clip(images, 0.0, 1.0) * 255)
    return images.reshape(-1, 28, 28).astype(np.uint8, copy=False), labels.astype(np.int64)
