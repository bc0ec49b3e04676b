"""One digit, however it was given (a test index, uint8 or float pixels), as the model takes it."""

from __future__ import annotations

import numpy as np

from ..data.pipeline import scale_images
from ..errors import DataError


def as_digit(digit, images: np.ndarray | None = None) -> np.ndarray:
    """float32 (28, 28) in [0, 1] from an index into ``images`` or a 28x28 picture.

    Integer pictures are taken as 0-255 and scaled; float pictures are taken as scaled.
    """
    if isinstance(digit, (int, np.integer)):
        if images is None:
            raise DataError("a digit given by index needs test images: pass data= to the widget")
        if not 0 <= int(digit) < len(images):
            raise DataError(f"test index {int(digit)} is outside 0-{len(images) - 1}")
        digit = images[int(digit)]
    picture = np.asarray(digit)
    if picture.size != 28 * 28:
        raise DataError(f"expected a 28x28 digit or a test index, got shape {picture.shape}")
    return np.clip(scale_images(picture.reshape(1, 28, 28), (28, 28))[0], 0.0, 1.0)


def input_shape_of(model) -> tuple[int, ...]:
    """The shape of one input of ``model`` (without the batch axis); 784 pixels or fails."""
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    if int(np.prod(shape)) != 28 * 28:
        raise DataError(f"the model takes inputs of shape {shape}; a digit needs 784 pixels")
    return shape


def model_batch(model, digits: np.ndarray) -> np.ndarray:
    """float32 (N, *input shape) for uint8 or float (N, 28, 28) digits."""
    digits = np.asarray(digits)
    return scale_images(digits.reshape(len(digits), 28, 28), input_shape_of(model))
