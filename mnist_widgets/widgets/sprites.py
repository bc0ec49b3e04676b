"""A page of digits as ONE PNG sprite, the predicted label drawn under each (red when wrong).

Pure numpy + PIL, no widgets: the gallery sends the bytes in one ``ipywidgets.Image``.
The ten label glyphs are drawn once per colour with PIL and then pasted with numpy, so a
100-digit page costs a few milliseconds plus the PNG encoding.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BACKGROUND = (255, 255, 255)
RIGHT_COLOUR = (40, 40, 40)
WRONG_COLOUR = (220, 0, 0)
EMPTY_COLOUR = (255, 255, 255)


@dataclass(frozen=True)
class SpriteLayout:
    """Where each digit and its label sit in a sprite of ``columns`` x ``rows`` cells."""

    columns: int
    rows: int
    scale: int = 2
    pad: int = 2
    label_height: int = 16

    @property
    def digit_size(self) -> int:
        return 28 * self.scale

    @property
    def cell_width(self) -> int:
        return self.digit_size + 2 * self.pad

    @property
    def cell_height(self) -> int:
        return self.pad + self.digit_size + self.label_height

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.columns * self.cell_width, self.rows * self.cell_height

    def cell_origin(self, i: int) -> tuple[int, int]:
        row, column = divmod(int(i), self.columns)
        return column * self.cell_width, row * self.cell_height

    def cell_at(self, x: float, y: float) -> int | None:
        """The position on the page of the cell under pixel (x, y), or None outside."""
        column, row = int(x // self.cell_width), int(y // self.cell_height)
        if 0 <= column < self.columns and 0 <= row < self.rows and x >= 0 and y >= 0:
            return row * self.columns + column
        return None

    def digit_box(self, i: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of digit ``i`` (position on the page)."""
        x, y = self.cell_origin(i)
        x, y = x + self.pad, y + self.pad
        return x, y, x + self.digit_size, y + self.digit_size

    def label_box(self, i: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the label under digit ``i``."""
        x, y = self.cell_origin(i)
        top = y + self.pad + self.digit_size
        return x, top, x + self.cell_width, top + self.label_height


def layout_for(count: int, columns: int = 10, scale: int = 2) -> SpriteLayout:
    """The smallest layout of ``columns`` columns holding ``count`` digits (at least one row)."""
    return SpriteLayout(columns=columns, rows=max(1, -(-count // columns)), scale=scale)


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


@lru_cache(maxsize=8)
def label_tiles(width: int, height: int) -> np.ndarray:
    """uint8 (2, 10, height, width, 3): digit labels 0-9, right (dark) then wrong (red)."""
    from PIL import Image, ImageDraw

    font = _font(max(8, height - 3))
    tiles = np.empty((2, 10, height, width, 3), dtype=np.uint8)
    for wrong, colour in enumerate((RIGHT_COLOUR, WRONG_COLOUR)):
        for digit in range(10):
            tile = Image.new("RGB", (width, height), BACKGROUND)
            ImageDraw.Draw(tile).text(
                (width / 2, height / 2), str(digit), fill=colour, font=font, anchor="mm"
            )
            tiles[wrong, digit] = np.asarray(tile)
    return tiles


def render_sprite_array(
    images: np.ndarray,
    predicted: np.ndarray,
    correct: np.ndarray,
    layout: SpriteLayout | None = None,
) -> np.ndarray:
    """uint8 RGB (height, width, 3): dark digits on white, the predicted label under each."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, 28, 28)
    count = len(images)
    layout = layout or layout_for(count)
    slots = layout.columns * layout.rows
    if count > slots:
        raise ValueError(f"{count} digits do not fit in {layout.columns}x{layout.rows} cells")
    s, pad, lh = layout.scale, layout.pad, layout.label_height
    cw, ch, d = layout.cell_width, layout.cell_height, layout.digit_size

    ink = np.full((slots, 28, 28), 255, dtype=np.uint8)
    ink[:count] = 255 - images
    if s > 1:
        ink = ink.repeat(s, axis=1).repeat(s, axis=2)
    sheet = np.empty((layout.rows, ch, layout.columns, cw, 3), dtype=np.uint8)
    sheet[...] = BACKGROUND
    cells = ink.reshape(layout.rows, layout.columns, d, d).transpose(0, 2, 1, 3)
    sheet[:, pad : pad + d, :, pad : pad + d, :] = cells[..., None]

    tiles = label_tiles(cw, lh)
    labels = np.empty((slots, lh, cw, 3), dtype=np.uint8)
    labels[...] = EMPTY_COLOUR
    wrong = ~np.asarray(correct, dtype=bool)
    labels[:count] = tiles[wrong.astype(np.intp), np.asarray(predicted, dtype=np.intp)]
    sheet[:, pad + d :, :, :, :] = labels.reshape(layout.rows, layout.columns, lh, cw, 3).transpose(
        0, 2, 1, 3, 4
    )
    return sheet.reshape(layout.rows * ch, layout.columns * cw, 3)


def encode_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of an RGB or grey uint8 array (fast compression: the sprite is mostly flat)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()


def render_sprite(
    images: np.ndarray,
    predicted: np.ndarray,
    correct: np.ndarray,
    layout: SpriteLayout | None = None,
) -> bytes:
    """PNG bytes of ``render_sprite_array``."""
    return encode_png(render_sprite_array(images, predicted, correct, layout))


def digit_png(image: np.ndarray, size: int = 112) -> bytes:
    """One digit (white on black, as the model sees it) enlarged to ``size`` pixels, as PNG."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    factor = max(1, size // image.shape[0])
    return encode_png(image.repeat(factor, axis=0).repeat(factor, axis=1))
