"""The layer explorer: every layer's output for one digit (widget, grids, bars, detail)."""

from __future__ import annotations

from .widget import LayerExplorer

__all__ = ["LayerExplorer"]
