"""Turn any digit picture into a 28x28 MNIST-style image (one implementation for all)."""

from __future__ import annotations

import numpy as np

from ..errors import DataError

# Centre of mass of the MNIST digits, in pixel indices (row, column): 14.0 +- 0.3 over the
# training set, half a pixel past the frame's middle (13.5).
MNIST_CENTRE = 14.0


def _to_gray(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3:
        if a.shape[2] == 4:  # RGBA: composite on a background that contrasts with the ink
            alpha = a[..., 3:4] / 255.0
            opaque = alpha[..., 0] > 0.5
            ink = float(a[..., :3][opaque].mean()) if opaque.any() else 0.0
            a = a[..., :3] * alpha + (0.0 if ink > 127 else 255.0) * (1 - alpha)
        a = a[..., :3].mean(axis=2)
    if a.ndim != 2:
        raise DataError(f"expected a 2-D picture, got shape {np.shape(image)}")
    return a


def to_mnist(image: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """Centre and scale a digit the MNIST way; returns float32 (28, 28) in [0, 1].

    MNIST digits are white on black, fitted into a 20x20 box keeping their aspect ratio,
    then placed in a 28x28 frame so that their centre of mass is at the centre. ``invert``
    None guesses the background from the border pixels (dark ink on light paper is inverted).
    """
    from PIL import Image

    a = _to_gray(image)
    if a.max() > 1.0:
        a = a / 255.0
    if invert is None:
        border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        invert = float(np.median(border)) > 0.5
    if invert:
        a = 1.0 - a
    a = np.clip(a - np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])), 0, 1)
    if a.max() <= 0.05:
        return np.zeros((28, 28), dtype=np.float32)
    a = a / a.max()
    rows = np.flatnonzero(a.max(axis=1) > 0.05)
    cols = np.flatnonzero(a.max(axis=0) > 0.05)
    crop = a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS)
    small = np.asarray(small, dtype=np.float32) / 255.0
    frame = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - nh) // 2, (28 - nw) // 2
    frame[top : top + nh, left : left + nw] = small
    # shift the centre of mass to where MNIST's own digits have it, as MNIST's makers did
    total = frame.sum()
    ys, xs = np.indices(frame.shape)
    dy = int(round(MNIST_CENTRE - (ys * frame).sum() / total))
    dx = int(round(MNIST_CENTRE - (xs * frame).sum() / total))
    dy = int(np.clip(dy, -top, 28 - nh - top))
    dx = int(np.clip(dx, -left, 28 - nw - left))
    return np.clip(np.roll(frame, (dy, dx), axis=(0, 1)), 0.0, 1.0)
