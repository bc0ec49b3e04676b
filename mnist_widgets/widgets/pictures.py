"""Pictures of what a network computes, as uint8 arrays: feature-map grids, kernels, saliency.

Pure numpy, no widgets: a widget encodes the array as PNG (``sprites.encode_png``) and maps a
click back to a cell with ``GridLayout.index_at``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BACKGROUND = 236  # a light grey between the cells (one value: np.full is fast)
SELECTED = (255, 140, 0)
POSITIVE = np.array([214, 39, 40], dtype=np.float32)  # red: pushed toward the class
NEGATIVE = np.array([31, 119, 180], dtype=np.float32)  # blue: pushed away from it
TARGET_CELL = 48  # about this many pixels a side per map


@dataclass(frozen=True)
class GridLayout:
    """``count`` cells of ``height`` x ``width`` pixels, each enlarged ``scale`` times, in rows."""

    count: int
    height: int
    width: int
    columns: int
    scale: int
    gap: int = 3

    @property
    def rows(self) -> int:
        return max(1, -(-self.count // self.columns))

    @property
    def cell(self) -> tuple[int, int]:
        """(width, height) of one cell's picture in pixels."""
        return self.width * self.scale, self.height * self.scale

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole grid in pixels."""
        w, h = self.cell
        return self.gap + self.columns * (w + self.gap), self.gap + self.rows * (h + self.gap)

    def origin(self, i: int) -> tuple[int, int]:
        """(left, top) of cell ``i``."""
        row, column = divmod(int(i), self.columns)
        w, h = self.cell
        return self.gap + column * (w + self.gap), self.gap + row * (h + self.gap)

    def index_at(self, x: float, y: float) -> int | None:
        """The cell under pixel (x, y), or None between cells or outside."""
        w, h = self.cell
        column, dx = divmod(float(x) - self.gap, w + self.gap)
        row, dy = divmod(float(y) - self.gap, h + self.gap)
        if x < self.gap or y < self.gap or dx >= w or dy >= h or column >= self.columns:
            return None
        i = int(row) * self.columns + int(column)
        return i if i < self.count else None


def grid_layout(count: int, height: int, width: int, max_columns: int = 12) -> GridLayout:
    """Cells of about ``TARGET_CELL`` pixels a side, at most ``max_columns`` to a row."""
    scale = max(1, round(TARGET_CELL / max(height, width)))
    return GridLayout(max(count, 1), height, width, max(1, min(count, max_columns)), scale)


def _paste(sheet: np.ndarray, layout: GridLayout, tiles: np.ndarray, selected: int | None):
    w, h = layout.cell
    big = tiles.repeat(layout.scale, axis=1).repeat(layout.scale, axis=2)
    for i, tile in enumerate(big):
        x, y = layout.origin(i)
        if i == selected:
            g = layout.gap
            sheet[max(y - g, 0) : y + h + g, max(x - g, 0) : x + w + g] = SELECTED
        sheet[y : y + h, x : x + w] = tile
    return sheet


def _blank(layout: GridLayout, channels: int = 3) -> np.ndarray:
    width, height = layout.size
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.full(shape, BACKGROUND, dtype=np.uint8)


def render_maps(maps: np.ndarray, layout: GridLayout, selected: int | None = None) -> np.ndarray:
    """Feature maps (height, width, channels) as grey tiles, dark = low, white = high.

    One scale for the whole layer (its minimum to its maximum), so a quiet channel looks dark.
    Grey (height, width) when nothing is selected (a third of the bytes to encode); RGB with
    an orange frame around the ``selected`` map otherwise.
    """
    maps = np.asarray(maps, dtype=np.float32)
    low, high = float(maps.min()), float(maps.max())
    span = high - low if high > low else 1.0
    grey = np.round((maps - low) / span * 255).astype(np.uint8).transpose(2, 0, 1)
    if selected is None:
        return _paste(_blank(layout, 1), layout, grey, None)
    return _paste(_blank(layout), layout, np.repeat(grey[..., None], 3, axis=3), selected)


def diverging(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """Signed values -> RGB (..., 3): red for positive, blue for negative, white at zero."""
    values = np.asarray(values, dtype=np.float32)
    limit = float(np.abs(values).max()) if limit is None else float(limit)
    share = np.clip(values / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(values)
    strength = np.abs(share)[..., None]
    colour = np.where(share[..., None] >= 0, POSITIVE, NEGATIVE)
    return np.round(255 * (1 - strength) + colour * strength).astype(np.uint8)


def render_kernels(kernels: np.ndarray, layout: GridLayout) -> np.ndarray:
    """Kernels (input channels, height, width): red weights excite, blue inhibit, one scale."""
    return _paste(_blank(layout), layout, diverging(kernels), None)


def render_saliency(digit: np.ndarray, values: np.ndarray, scale: int = 5) -> np.ndarray:
    """The digit in grey under each attribution map of ``values`` (maps, 28, 28), side by side.

    Red pixels pushed the output up, blue down; each map has its own scale, and the colour's
    opacity grows with the attribution's size.
    """
    digit = np.clip(np.asarray(digit, dtype=np.float32), 0.0, 1.0)
    under = (40 + 120 * digit)[..., None]  # a dim digit, so the colours read on top of it
    layout = GridLayout(len(values), 28, 28, len(values), scale, gap=4)
    tiles = []
    for v in np.asarray(values, dtype=np.float32):
        limit = float(np.abs(v).max())
        share = np.clip(v / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(v)
        alpha = np.abs(share)[..., None] ** 0.7
        colour = np.where(share[..., None] >= 0, POSITIVE, NEGATIVE)
        tiles.append(np.round(under * (1 - alpha) + colour * alpha).astype(np.uint8))
    return _paste(_blank(layout), layout, np.stack(tiles), None)
