"""The run board: saved runs as a table, their curves overlaid, their code compared."""

from __future__ import annotations

from .widget import RunBoard

__all__ = ["RunBoard"]
