"""Line marks of the dashboard's live charts and the run board's overlay: long curves thinned
for drawing, and a mark's data replaced in place.

A module of its own, with numpy only: the run board draws saved runs without importing the
dashboard (and with it the training engine and TensorFlow).
"""

from __future__ import annotations

import math

import numpy as np


def downsample(x: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points: consecutive blocks of equal size averaged (the tail too)."""
    n = len(y)
    if n <= max_points:
        return x, y
    factor = math.ceil(n / max_points)
    full = n - n % factor
    xs = x[:full].reshape(-1, factor).mean(axis=1)
    ys = y[:full].reshape(-1, factor).mean(axis=1)
    if full < n:
        xs = np.append(xs, x[full:].mean())
        ys = np.append(ys, y[full:].mean())
    return xs, ys


def assign(mark, x, y, **traits) -> None:
    """Replace a mark's data (and any other traits) in place: one message to the front end."""
    with mark.hold_sync():
        mark.x = np.asarray(x, dtype=float)
        mark.y = np.asarray(y, dtype=float)
        for name, value in traits.items():
            setattr(mark, name, value)
