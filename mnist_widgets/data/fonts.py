"""Digits 0-9 rendered from fonts that ship with matplotlib (the codelab's font digits)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .preprocess import to_mnist

FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "cmr10.ttf",
    "DejaVuSerif-Italic.ttf",
)


def font_paths() -> list[Path]:
    """The font files found in matplotlib's data folder."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [folder / name for name in FONT_FILES if (folder / name).is_file()]


@lru_cache(maxsize=4)
def font_digits(fonts: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images, labels)``: uint8 (N, 28, 28) digits drawn white on black, MNIST style.

    Each font gives the ten digits 0-9, so N = 10 x number of fonts.
    """
    from PIL import Image, ImageDraw, ImageFont

    paths = font_paths()[:fonts]
    images, labels = [], []
    for path in paths:
        font = ImageFont.truetype(str(path), 96)
        for digit in range(10):
            canvas = Image.new("L", (128, 128), 0)
            ImageDraw.Draw(canvas).text((64, 64), str(digit), fill=255, font=font, anchor="mm")
            images.append((to_mnist(np.asarray(canvas), invert=False) * 255).astype(np.uint8))
            labels.append(digit)
    return np.stack(images), np.array(labels, dtype=np.uint8)
