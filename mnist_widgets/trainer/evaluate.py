"""The final test metrics, computed on the whole test set in this process.

Every worker holds the same weights after a synchronous fit, so the chief can score the
complete test set on its own: the number it reports is the exported model's accuracy.
"""

from __future__ import annotations

import numpy as np

from ..data.pipeline import scale_images

BATCH = 1000


def test_metrics(model, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(accuracy, loss)`` of ``model`` on ``images`` (uint8 or [0, 1] floats) and labels."""
    shape = tuple(int(d) for d in model.input_shape[1:])
    labels = np.asarray(labels, dtype=np.int64)
    correct = 0
    loss = 0.0
    for start in range(0, len(images), BATCH):
        batch = scale_images(images[start : start + BATCH], shape)
        probabilities = np.asarray(model(batch, training=False), dtype=np.float64)
        truth = labels[start : start + BATCH]
        correct += int((probabilities.argmax(axis=1) == truth).sum())
        picked = probabilities[np.arange(len(truth)), truth]
        loss -= float(np.log(np.clip(picked, 1e-7, 1.0)).sum())
    return correct / len(images), loss / len(images)
